"""SparkQ over HTTP against a bare Litestar app on the same uvicorn settings, in the same run.

Run by hand (not a test):  .venv/bin/python bench/http_api.py [--quick] [--rounds N]
(Not `bench/http.py`: a module of that name would shadow the standard library's `http` package for
every script in this folder, e.g. `http.client` in bench/peers.py.)

Two servers run side by side for the whole run, each on a loopback port:

- **SparkQ**: a real `sparkq run` (the console script) in a fresh project folder.
- **bare**: a Litestar app with three sync handlers run on the loop, served by uvicorn with the
  very config `sparkq run` uses (`sparkq_adapters.server.server_config`: uvloop, httptools), on a
  database with SparkQ's schema (made by SparkQ's store: the same indexes and change-feed
  triggers), doing one SQLite statement per request: an INSERT for enqueue, one `UPDATE …
  RETURNING` for claim-next, one SELECT of 50 rows for the list. What the bare app lacks is
  exactly SparkQ's own work: the domain's rules, validation, mapping, the guard middleware.

The client is one asyncio process with N keep-alive connections (raw HTTP/1.1, TCP_NODELAY).
Each phase sends the same requests to both servers: enqueue, claim-next (as many as were
enqueued, so every claim gets a task), then the newest 50 tasks (`GET /api/tasks?limit=50`).
Rounds alternate which server goes first; requests/s is per phase (all requests over the
phase's wall time), p50 and p99 per request; ratios are the median of paired rounds.
"CPU µs/req" is the server process's own CPU time (user + system, from /proc) over the phase per
request, and "cpu ratio" the bare app's over SparkQ's: on a machine that others load, wall-clock
rates move with their load, while the CPU a server spends per request does much less.
Targets (issue 13): enqueue and claim-next >= 0.7 x the bare app, 1 and 8 connections; p99 at 8
connections <= 15 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from _support import SPARKQ, clean_env, free_port, running_server
from litestar import Litestar, Response, get, post  # module level: Litestar resolves the handlers' annotations here

SPARKQ_NAME = "SparkQ"
BARE_NAME = "bare app"
PHASES = ("enqueue", "claim-next", "list 50")
CONNECTIONS = (1, 8)
TARGET_RATIO = 0.7
TARGET_P99_MS = 15.0
STREAM = "bench"

BARE_INSERT = (
    "INSERT INTO tasks(id, stream_id, tool_name, task_class, payload, status, timeout, attempts, created_at, "
    "updated_at, seq) VALUES (?, ?, ?, 'MEDIUM_SCRIPT', ?, 'queued', 300, 0, ?, ?, "
    "(SELECT IFNULL(MAX(seq), 0) + 1 FROM tasks))"
)
BARE_CLAIM = (
    "UPDATE tasks SET status = 'running', attempts = attempts + 1, started_at = ?, updated_at = ? "
    "WHERE id = (SELECT id FROM tasks WHERE stream_id = ? AND status = 'queued' ORDER BY seq LIMIT 1) "
    "RETURNING id, stream_id, tool_name, task_class, payload, status, timeout, attempts, created_at, "
    "updated_at, started_at"
)
BARE_LIST = (
    "SELECT id, stream_id, tool_name, task_class, status, timeout, attempts, error, created_at, updated_at, "
    "started_at, finished_at FROM tasks ORDER BY seq DESC LIMIT ?"
)
CLAIM_COLUMNS = (
    "id",
    "stream_id",
    "tool_name",
    "task_class",
    "payload",
    "status",
    "timeout",
    "attempts",
    "created_at",
    "updated_at",
    "started_at",
)
LIST_COLUMNS = (
    "id",
    "stream_id",
    "tool_name",
    "task_class",
    "status",
    "timeout",
    "attempts",
    "error",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
)


# -- the bare app (run in a process of its own) ----------------------------------------------------


def bare_server(db: str, port: int) -> None:
    """Serve the bare app on `port` until SIGTERM, with `sparkq run`'s uvicorn config."""
    import uvicorn

    from sparkq_adapters.server import bind_loopback, server_config

    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA busy_timeout = 5000")
    stream_id = conn.execute("SELECT id FROM streams WHERE name = ?", (STREAM,)).fetchone()[0]

    def now() -> str:
        return datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z"

    @post("/api/tasks", sync_to_thread=False)
    def enqueue(data: dict[str, Any]) -> dict[str, Any]:
        at = now()
        task_id = f"tsk_{os.urandom(6).hex()}"
        payload = json.dumps(data["payload"], ensure_ascii=False, separators=(",", ":"))
        conn.execute(BARE_INSERT, (task_id, stream_id, data["tool_name"], payload, at, at))
        return {"task": {"id": task_id, "status": "queued", "created_at": at}}

    @post("/api/streams/{name:str}/claim", sync_to_thread=False, status_code=200)
    def claim(name: str) -> Response[Any]:
        at = now()
        row = conn.execute(BARE_CLAIM, (at, at, stream_id)).fetchone()
        if row is None:
            return Response(content=None, status_code=204)
        task = dict(zip(CLAIM_COLUMNS, row, strict=True))
        task["payload"] = json.loads(task["payload"])
        return Response(content=task, status_code=200)

    @get("/api/tasks", sync_to_thread=False)
    def list_tasks(limit: int = 50) -> dict[str, Any]:
        rows = conn.execute(BARE_LIST, (limit,)).fetchall()
        return {"tasks": [dict(zip(LIST_COLUMNS, row, strict=True)) for row in rows]}

    @get("/health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app = Litestar(route_handlers=[enqueue, claim, list_tasks, health], debug=False)
    sock = bind_loopback("127.0.0.1", port)
    uvicorn.Server(server_config(app)).run(sockets=[sock])


@contextmanager
def running_bare(folder: Path) -> Iterator[tuple[int, int]]:
    from queue_cycle import new_queue

    db = folder / "bare.db"
    new_queue(db)  # SparkQ's schema, made by SparkQ's store, with the stream row
    port = free_port()
    # the installed SparkQ's server config, even when PYTHONPATH points `sparkq run` at another tree
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    server = subprocess.Popen(
        [sys.executable, __file__, "--bare-server", str(db), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        yield port, server.pid
    finally:
        server.terminate()  # our own child, by its handle
        server.wait(timeout=15)


# -- the client ------------------------------------------------------------------------------------

_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)


def request(port: int, method: str, path: str, body: dict[str, Any] | None = None) -> bytes:
    data = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    elif method == "POST":
        head += "Content-Length: 0\r\n"
    return (head + "\r\n").encode() + data


async def connection(port: int, requests: list[bytes], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        for raw in requests:
            start = time.perf_counter()
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            match = _LENGTH.search(head)
            body = await reader.readexactly(int(match.group(1))) if match else b""
            latencies.append(time.perf_counter() - start)
            status = int(head[9:12])
            if status >= 300 and status != 204:
                raise RuntimeError(f"{raw.split(b' ', 2)[:2]} -> {status}: {body[:300]!r}")
    finally:
        writer.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process `pid` has used (Linux /proc; its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_phase(
    port: int, pid: int, make: Callable[[int], bytes], connections: int, per_connection: int
) -> dict[str, float]:
    latencies: list[float] = []

    async def main() -> float:
        plans = [[make(c * per_connection + i) for i in range(per_connection)] for c in range(connections)]
        start = time.perf_counter()
        await asyncio.gather(*(connection(port, plan, latencies) for plan in plans))
        return time.perf_counter() - start

    cpu = cpu_seconds(pid)
    elapsed = asyncio.run(main())
    cpu = cpu_seconds(pid) - cpu
    ordered = sorted(latencies)
    return {
        "rps": len(latencies) / elapsed,
        "cpu_us": cpu / len(latencies) * 1e6,
        "p50": ordered[len(ordered) // 2] * 1000,
        "p99": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000,
    }


def makers(port: int, stream: str) -> dict[str, Callable[[int], bytes]]:
    return {
        "enqueue": lambda n: request(
            port,
            "POST",
            "/api/tasks",
            {"stream_id": stream, "tool_name": "run-bash", "payload": {"script": "b.sh", "n": n}},
        ),
        "claim-next": lambda n: request(port, "POST", f"/api/streams/{stream}/claim", {}),
        "list 50": lambda n: request(port, "GET", "/api/tasks?limit=50"),
    }


def measure(port: int, pid: int, connections: int, per_connection: int) -> dict[str, dict[str, float]]:
    make = makers(port, STREAM)
    return {phase: run_phase(port, pid, make[phase], connections, per_connection) for phase in PHASES}


# -- report ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run with tiny numbers (not meaningful)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; quick 1)")
    parser.add_argument("--bare-server", nargs=2, metavar=("DB", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        bare_server(args.bare_server[0], int(args.bare_server[1]))
        return 0
    rounds = args.rounds or (1 if args.quick else 5)
    per_connection = {1: 40, 8: 10} if args.quick else {1: 600, 8: 150}

    load = os.getloadavg()
    print(
        f"SparkQ over HTTP against a bare Litestar app  (python {sys.version.split()[0]}, sqlite "
        f"{sqlite3.sqlite_version})"
    )
    print(
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs; rounds={rounds}"
        + ("  [quick: numbers are not meaningful]" if args.quick else "")
    )
    results: dict[tuple[str, int], list[dict[str, dict[str, float]]]] = {
        (name, c): [] for name in (SPARKQ_NAME, BARE_NAME) for c in CONNECTIONS
    }
    with tempfile.TemporaryDirectory(prefix="sparkq-http-") as tmp:
        folder = Path(tmp)
        project = folder / "sparkq"
        project.mkdir()
        env = clean_env()
        subprocess.run([SPARKQ, "session", "create", "bench"], cwd=project, env=env, check=True, capture_output=True)
        subprocess.run(
            [SPARKQ, "stream", "create", STREAM, "--session", "bench"],
            cwd=project,
            env=env,
            check=True,
            capture_output=True,
        )
        with running_server(project, env) as (url, spark_port), running_bare(folder) as (bare_port, bare_pid):
            spark_pid = httpx.get(url + "/api/status").json()["server"]["pid"]
            servers = {SPARKQ_NAME: (spark_port, spark_pid), BARE_NAME: (bare_port, bare_pid)}
            for port, pid in servers.values():  # warm up both
                measure(port, pid, 1, 20)
            for r in range(rounds):
                order = (SPARKQ_NAME, BARE_NAME) if r % 2 == 0 else (BARE_NAME, SPARKQ_NAME)
                for connections in CONNECTIONS:
                    for name in order:
                        results[(name, connections)].append(
                            measure(*servers[name], connections, per_connection[connections])
                        )
                print(f"  round {r + 1}/{rounds} done", file=sys.stderr)
    end_load = os.getloadavg()

    print()
    header = (
        f"{'server':<10} {'conns':>5} {'phase':<11} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}"
        f" {'CPU µs/req':>10} {'cpu ratio':>9}"
    )
    print(header)
    print("-" * len(header))
    verdicts = []
    for connections in CONNECTIONS:
        for phase in PHASES:
            ratio = statistics.median(
                ours[phase]["rps"] / theirs[phase]["rps"]
                for ours, theirs in zip(
                    results[(SPARKQ_NAME, connections)], results[(BARE_NAME, connections)], strict=True
                )
            )
            cpu_ratio = statistics.median(
                theirs[phase]["cpu_us"] / ours[phase]["cpu_us"]
                for ours, theirs in zip(
                    results[(SPARKQ_NAME, connections)], results[(BARE_NAME, connections)], strict=True
                )
            )
            for name in (SPARKQ_NAME, BARE_NAME):
                runs = results[(name, connections)]
                rps = statistics.median(run[phase]["rps"] for run in runs)
                p50 = statistics.median(run[phase]["p50"] for run in runs)
                p99 = statistics.median(run[phase]["p99"] for run in runs)
                cpu = statistics.median(run[phase]["cpu_us"] for run in runs)
                shown = f"{ratio:6.2f}" if name == SPARKQ_NAME else ""
                shown_cpu = f"{cpu_ratio:9.2f}" if name == SPARKQ_NAME else ""
                print(
                    f"{name:<10} {connections:>5} {phase:<11} {rps:>8,.0f} {p50:>8.2f} {p99:>8.2f} {shown:>6}"
                    f" {cpu:>10,.0f} {shown_cpu:>9}".rstrip()
                )
                if name == SPARKQ_NAME and phase != "list 50":
                    verdicts.append((f"{phase} x{connections} ratio >= {TARGET_RATIO}", ratio >= TARGET_RATIO, ratio))
                    if connections == 8:
                        verdicts.append((f"{phase} x8 p99 <= {TARGET_P99_MS:g} ms", p99 <= TARGET_P99_MS, p99))
    print()
    print("ratio: SparkQ req/s over the bare app's, the median of paired rounds; figures: the median round")
    print("cpu ratio: the bare app's CPU per request over SparkQ's (server processes only), likewise")
    for what, ok, value in verdicts:
        print(f"target: {what}: {value:.2f} {'PASS' if ok else 'FAIL'}")
    print(f"load average at the end {end_load[0]:.2f} {end_load[1]:.2f} {end_load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
