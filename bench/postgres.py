"""Queue throughput on PostgreSQL through the library, against raw psycopg and against SQLite; wake-up latencies.

Run by hand (not a test):  .venv/bin/python bench/postgres.py [--quick] [--durable] [--rounds N] [--cycles N]
                           [--processes N] [--wakes N] [--only-wakes]

Starts a throwaway PostgreSQL cluster of its own (tests/postgres_support.Cluster: Debian's binaries,
a temporary folder, a loopback TCP port, fsync and synchronous_commit off, as the tests run it, which
leaves the adapter's own costs most visible; `--durable` turns them on as a stock server has them; the
settings are printed) and stops it by its PID at the end. Workers are processes started once and
driven round by round, so interpreter start-up is never timed.

  library     `Queue` over `PostgresStore` (schema `lib`), as a worker uses it: enqueue, claim, complete.
  raw         psycopg 3, autocommit, schema `raw` made by the same store (same tables, indexes and
              triggers): the same three statements the library's transitions come down to, written by
              hand: the insert waiting its turn on the stream's row (FIFO by commit), the claim taking
              the stream's turn with `FOR UPDATE SKIP LOCKED`, the compare-and-set complete, each
              writing the same columns and returning the task's columns, one statement per
              transaction. No stream lookup, no sweep.
  sqlite      the library over a SQLite file (WAL, synchronous=NORMAL), the same workers.

(a) cycles/s (enqueue + claim + complete), 1 process: rounds alternate library / raw / sqlite so
    noise on a shared machine hits each alike; medians, and the ratios are medians of the ratios of
    back-to-back rounds. Target: library / raw >= 0.7 (issue 16).
(b) claims/s, 1 process, from a prefilled stream (the claimed tasks stay running within a round,
    as a busy queue's do; completed untimed between rounds).
(c) the same with 8 processes on one stream (claims: each worker claims a share of one backlog;
    cycles: each enqueues, claims and completes). Target: library 8 / 1 processes >= 2 (claims skip
    each other's locked rows instead of queueing for one writer lock as SQLite's do). The gain is
    bounded by the CPUs this machine has free: both sides run on it, the server's backends too.
(d) `claim --wait` wake-up: a waiting claimer in its own process (`claim_waiting` over the change
    feed's LISTEN, as `sparkq claim --wait` wires it), an enqueue committed by this process; the time
    from the commit returning to the claimer holding the task, p50 / p95 over N. Also N runs of the
    real `sparkq claim --wait` console script, to its exit.
(e) the server's wake-ups: a real `sparkq run` on the database; from an enqueue's commit (this process)
    to an HTTP `POST /api/streams/S/claim?wait=30` answering with that task, and to a `GET /api/events`
    subscriber reading its `task.enqueued` event; p50 / p95 / max over N (`--wakes`, at most 20).
`--only-wakes` skips (a)-(c).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.postgres_support: the cluster the tests start, reused

from _support import SPARKQ, clean_env, running_server  # noqa: E402

from sparkq_adapters.clock import RandomIds, SystemClock, format_time  # noqa: E402
from sparkq_domain import Queue  # noqa: E402

TARGET_LIB_RATIO = 0.7
TARGET_SCALE = 2.0
STREAM = "bench"
KINDS = ("library", "raw", "sqlite")
SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "server_version")

RAW_INSERT = (
    "WITH turn AS (SELECT id FROM streams WHERE id = %s FOR NO KEY UPDATE) "
    "INSERT INTO tasks(id, stream_id, tool_name, task_class, payload, status, timeout, attempts, result, error, "
    "stdout, stderr, created_at, updated_at, started_at, finished_at, requeued_from, failure_kind, error_type, "
    "heartbeat_at, progress, requeued_to) "
    "SELECT %s, %s, 'run-bash', 'MEDIUM_SCRIPT', %s, 'queued', 300, 0, NULL, NULL, NULL, NULL, %s, %s, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL FROM turn RETURNING seq"
)
TASK_COLUMNS = (
    "id, stream_id, tool_name, task_class, payload, status, timeout, attempts, result, error, stdout, stderr, "
    "created_at, updated_at, started_at, finished_at, requeued_from, failure_kind, error_type, heartbeat_at, "
    "progress, requeued_to"
)
# the claim taking the stream's turn first, as the library's does (FIFO by claim commit order)
RAW_CLAIM = (
    "WITH turn AS (SELECT pg_advisory_xact_lock(hashtext('sparkq claim ' || %(sid)s))) "
    "UPDATE tasks SET status = 'running', started_at = %(now)s, updated_at = %(now)s, attempts = attempts + 1 "
    "WHERE id = (SELECT id FROM tasks, turn WHERE stream_id = %(sid)s AND status = 'queued' ORDER BY seq LIMIT 1 "
    f"FOR UPDATE OF tasks SKIP LOCKED) AND status = 'queued' RETURNING {TASK_COLUMNS}"
)
RAW_COMPLETE = (
    "UPDATE tasks SET status = 'succeeded', result = %s, stdout = %s, stderr = %s, finished_at = %s, updated_at = %s "
    f"WHERE id = %s AND status = 'running' RETURNING {TASK_COLUMNS}"
)
PG_PREFILL = (
    "INSERT INTO tasks(id, stream_id, tool_name, task_class, payload, status, timeout, attempts, created_at, "
    "updated_at) VALUES (%s, %s, 'run-bash', 'MEDIUM_SCRIPT', '{\"n\":1}', 'queued', 300, 0, %s, %s)"
)
SQLITE_PREFILL = (
    "INSERT INTO tasks(id, stream_id, tool_name, task_class, payload, status, timeout, attempts, created_at, "
    "updated_at, seq) VALUES (?, ?, 'run-bash', 'MEDIUM_SCRIPT', '{\"n\":1}', 'queued', 300, 0, ?, ?, ?)"
)


def _now() -> str:
    return format_time(datetime.now(UTC))


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# -- the workers (child processes) ----------------------------------------------------------------


def library_queue(kind: str, target: str) -> Queue:
    if kind == "sqlite":
        from sparkq_entry.wiring import open_queue

        return open_queue(target, synchronous="normal", project="bench")
    from sparkq_adapters.postgres import PostgresStore

    queue = Queue(PostgresStore(target, schema="lib", pool_size=1), SystemClock(), RandomIds())
    queue.ensure_project("bench")
    return queue


class LibraryWorker:
    def __init__(self, kind: str, target: str) -> None:
        self.queue = library_queue(kind, target)

    def cycles(self, n: int) -> None:
        queue = self.queue
        for i in range(n):
            queue.enqueue(STREAM, "run-bash", {"n": i})
            claimed = queue.claim(STREAM)
            while claimed is None:  # (several processes) every queued task was being claimed by another
                claimed = queue.claim(STREAM)
            queue.complete(claimed.task.id, {"summary": "done"})

    def claims(self, n: int) -> None:
        for _ in range(n):
            if self.queue.claim(STREAM) is None:
                raise SystemExit("the backlog ran out before the round ended")


class RawWorker:
    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True, options="-c search_path=raw")
        self.cur = self.conn.cursor()
        self.sid = self.cur.execute("SELECT id FROM streams WHERE name = %s", (STREAM,)).fetchone()[0]

    def cycles(self, n: int) -> None:
        cur, sid = self.cur, self.sid
        for i in range(n):
            now = _now()
            cur.execute(RAW_INSERT, (sid, f"tsk_{secrets.token_hex(6)}", sid, _compact({"n": i}), now, now))
            assert cur.fetchone() is not None
            row = None
            while row is None:  # (several processes) every queued task was being claimed by another
                now = _now()
                row = cur.execute(RAW_CLAIM, {"now": now, "sid": sid}).fetchone()
            now = _now()
            cur.execute(RAW_COMPLETE, (_compact({"summary": "done"}), None, None, now, now, row[0]))
            assert cur.fetchone() is not None

    def claims(self, n: int) -> None:
        cur, sid = self.cur, self.sid
        for _ in range(n):
            now = _now()
            if cur.execute(RAW_CLAIM, {"now": now, "sid": sid}).fetchone() is None:
                raise SystemExit("the backlog ran out before the round ended")


def worker(kind: str, target: str) -> None:
    """Serve `cycles N` / `claims N` lines from stdin; answer each with the times it ran between."""
    runner = RawWorker(target) if kind == "raw" else LibraryWorker(kind, target)
    print("ready", flush=True)
    for line in sys.stdin:
        what, count = line.split()
        start = time.perf_counter()
        getattr(runner, what)(int(count))
        print(json.dumps({"start": start, "end": time.perf_counter()}), flush=True)


def waiter(url: str) -> None:
    """Wait for a task as `sparkq claim --wait` does; print the moment the claim returned."""
    from sparkq_adapters.postgres import PostgresStore
    from sparkq_adapters.postgres.changes import ChangeFeed
    from sparkq_adapters.waiting import DataVersionChanges, claim_waiting, claimer

    store = PostgresStore(url, schema="lib", pool_size=1)
    queue = Queue(store, SystemClock(), RandomIds())
    queue.ensure_project("bench")
    changes = DataVersionChanges.of(ChangeFeed(store))  # woken by the LISTEN socket, as `claim --wait` is
    print("ready", flush=True)
    for _ in sys.stdin:
        claimed = claim_waiting(claimer(queue, STREAM), changes, 30)
        assert claimed is not None
        print(json.dumps({"at": time.perf_counter(), "id": claimed.task.id}), flush=True)


# -- the parent -----------------------------------------------------------------------------------


class Pool:
    """Worker processes of one kind, started once; `run` drives `count` of them through one round."""

    def __init__(self, kind: str, target: str, size: int) -> None:
        self.kind = kind
        self.children = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker", kind, target],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(size)
        ]
        for child in self.children:
            self._line(child)  # "ready": imported, connected

    @staticmethod
    def _line(child: subprocess.Popen[str]) -> str:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line:
            raise SystemExit(f"a worker ended early (exit code {child.wait()})")
        return line

    def run(self, what: str, count: int, processes: int) -> float:
        """Operations per second of `processes` workers doing `count` each at once (first start to last end)."""
        busy = self.children[:processes]
        for child in busy:
            assert child.stdin is not None
            child.stdin.write(f"{what} {count}\n")
            child.stdin.flush()
        spans = [json.loads(self._line(child)) for child in busy]
        elapsed = max(s["end"] for s in spans) - min(s["start"] for s in spans)
        return processes * count / elapsed

    def close(self) -> None:
        for child in self.children:
            assert child.stdin is not None
            child.stdin.close()
        for child in self.children:
            child.wait(timeout=60)


class Backlogs:
    """Fills each side's stream with queued tasks before a claims round, and finishes them after (untimed)."""

    def __init__(self, url: str, sqlite_path: Path) -> None:
        import psycopg

        self.pg = psycopg.connect(url, autocommit=True)
        self.sqlite_path = sqlite_path

    def fill(self, kind: str, count: int) -> None:
        now = _now()
        if kind == "sqlite":
            conn = sqlite3.connect(self.sqlite_path, isolation_level=None)
            sid = conn.execute("SELECT id FROM streams WHERE name = ?", (STREAM,)).fetchone()[0]
            top = conn.execute("SELECT IFNULL(MAX(seq), 0) FROM tasks").fetchone()[0]
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                SQLITE_PREFILL, ((f"tsk_{secrets.token_hex(6)}", sid, now, now, top + n + 1) for n in range(count))
            )
            conn.execute("COMMIT")
            conn.close()
            return
        schema = "lib" if kind == "library" else "raw"
        with self.pg.transaction(), self.pg.cursor() as cur:
            cur.execute(f"SET LOCAL search_path = {schema}")
            sid = cur.execute("SELECT id FROM streams WHERE name = %s", (STREAM,)).fetchone()[0]
            cur.executemany(PG_PREFILL, [(f"tsk_{secrets.token_hex(6)}", sid, now, now) for _ in range(count)])

    def finish(self, kind: str) -> None:
        """Mark every running task succeeded, so that no round starts with the last one's running tasks."""
        now = _now()
        sql = "UPDATE {t} SET status = 'succeeded', result = '{{\"summary\":\"bench\"}}', finished_at = {p}, "
        sql += "updated_at = {p} WHERE status IN ('running', 'queued')"
        if kind == "sqlite":
            conn = sqlite3.connect(self.sqlite_path, isolation_level=None)
            conn.execute(sql.format(t="tasks", p="?"), (now, now))
            conn.close()
            return
        schema = "lib" if kind == "library" else "raw"
        self.pg.execute(sql.format(t=f"{schema}.tasks", p="%s"), (now, now))


def make_side(kind: str, target: str) -> None:
    """The schema (or file), the project, the session and the stream that one side's workers use."""
    if kind == "sqlite":
        queue = library_queue("sqlite", target)
    else:
        from sparkq_adapters.postgres import PostgresStore

        store = PostgresStore(target, schema="lib" if kind == "library" else "raw", pool_size=1)
        queue = Queue(store, SystemClock(), RandomIds())
        queue.ensure_project("bench")
    queue.create_session("bench")
    queue.create_stream(STREAM, "bench", instructions="Benchmark stream")


def medians(results: dict[str, list[float]]) -> dict[str, float]:
    return {k: statistics.median(v) for k, v in results.items() if v}


def paired(results: dict[str, list[float]], a: str, b: str) -> float:
    return statistics.median(x / y for x, y in zip(results[a], results[b], strict=True))


def bench_rates(
    pools: dict[str, Pool], backlogs: Backlogs, what: str, processes: int, rounds: int, count: int
) -> dict[str, list[float]]:
    """Rounds of `what` on every side in turn (the order rotating each round); the rate of each round."""
    results: dict[str, list[float]] = {k: [] for k in pools}
    order = list(pools)
    for r in range(rounds):
        for kind in order[r % len(order) :] + order[: r % len(order)]:
            if what == "claims":
                backlogs.fill(kind, count * processes)
            results[kind].append(pools[kind].run(what, count, processes))
            backlogs.finish(kind)
    return results


def wake_latency(url: str, rounds: int) -> list[float]:
    """Seconds from an enqueue's commit (this process) to a waiting claimer (another process) holding it."""
    from sparkq_adapters.postgres import PostgresStore

    queue = Queue(PostgresStore(url, schema="lib", pool_size=1), SystemClock(), RandomIds())
    child = subprocess.Popen(
        [sys.executable, __file__, "--waiter", url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
        latencies = []
        for _ in range(rounds):
            child.stdin.write("go\n")
            child.stdin.flush()
            time.sleep(0.3)  # let it claim nothing and settle into waiting
            task = queue.enqueue(STREAM, "run-bash", {"wake": True})
            committed = time.perf_counter()
            got = json.loads(child.stdout.readline())
            assert got["id"] == task.id, got
            latencies.append(got["at"] - committed)
        return latencies
    finally:
        child.stdin.close()
        child.wait(timeout=60)


def cli_wake_latency(url: str, rounds: int) -> list[float]:
    """Seconds from an enqueue's commit to the exit of a waiting `sparkq claim --wait` process that got it."""
    from sparkq_adapters.postgres import PostgresStore

    queue = Queue(PostgresStore(url, schema="lib", pool_size=1), SystemClock(), RandomIds())
    env = clean_env() | {"SPARKQ_DATABASE_URL": url}
    latencies = []
    with tempfile.TemporaryDirectory(prefix="sparkq-bench-pg-") as folder:
        Path(folder, "sparkq.yml").write_text("project: {name: bench}\ndatabase: {schema: lib}\n")
        for _ in range(rounds):
            waiting = subprocess.Popen(
                [SPARKQ, "claim", "--stream", STREAM, "--wait", "30"],
                cwd=folder,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(1.5)  # let it start and settle into waiting
            task = queue.enqueue(STREAM, "run-bash", {"wake": "cli"})
            committed = time.perf_counter()
            out, err = waiting.communicate(timeout=60)
            latencies.append(time.perf_counter() - committed)
            if waiting.returncode != 0 or json.loads(out)["id"] != task.id:
                raise SystemExit(f"sparkq claim --wait did not get the task: {out or err}")
    return latencies


def server_wake_latency(url: str, rounds: int) -> tuple[list[float], list[float]]:
    """(HTTP `?wait=` claims, SSE events): seconds from an enqueue's commit (this process) to the client having it.

    The server is a real `sparkq run` process on the same database; each round first lets the long poll
    (or the stream) settle into waiting, then commits one enqueue.
    """
    from sparkq_adapters.postgres import PostgresStore

    queue = Queue(PostgresStore(url, schema="lib", pool_size=1), SystemClock(), RandomIds())
    env = clean_env() | {"SPARKQ_DATABASE_URL": url}
    with tempfile.TemporaryDirectory(prefix="sparkq-bench-pg-") as folder:
        Path(folder, "sparkq.yml").write_text("project: {name: bench}\ndatabase: {schema: lib}\n")
        with running_server(Path(folder), env) as (base, _):
            claims, events = _server_wakes(queue, base, rounds)
    return claims, events


def _server_wakes(queue: Queue, base: str, rounds: int) -> tuple[list[float], list[float]]:
    import queue as queues
    import threading

    import httpx

    claims: list[float] = []
    events: list[float] = []
    answers: queues.Queue[tuple[float, httpx.Response]] = queues.Queue()
    with httpx.Client(base_url=base, timeout=60, headers={"content-type": "application/json"}) as client:
        for _ in range(rounds):

            def long_poll() -> None:
                response = client.post(f"/api/streams/{STREAM}/claim", params={"wait": 30})
                answers.put((time.perf_counter(), response))

            waiting = threading.Thread(target=long_poll)
            waiting.start()
            time.sleep(0.3)  # let it claim nothing and settle into waiting
            task = queue.enqueue(STREAM, "run-bash", {"wake": "http"})
            committed = time.perf_counter()
            at, response = answers.get(timeout=60)
            waiting.join()
            if response.status_code != 200 or response.json()["id"] != task.id:
                raise SystemExit(f"the long poll did not get the task: {response.status_code} {response.text}")
            claims.append(at - committed)

    seen: queues.Queue[tuple[float, str]] = queues.Queue()
    with (
        httpx.Client(base_url=base, timeout=httpx.Timeout(10, read=None)) as sse,
        sse.stream("GET", "/api/events") as stream,
    ):

        def read() -> None:
            try:
                for line in stream.iter_lines():
                    if line.startswith("data:"):
                        event = json.loads(line.removeprefix("data:"))
                        if event["kind"] == "task.enqueued":
                            seen.put((time.perf_counter(), event["id"]))
            except httpx.HTTPError:
                pass  # closed at the end

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(0.5)  # subscribed
        for _ in range(rounds):
            time.sleep(0.3)
            task = queue.enqueue(STREAM, "run-bash", {"wake": "sse"})
            committed = time.perf_counter()
            at, got = seen.get(timeout=60)
            if got != task.id:
                raise SystemExit(f"the event stream showed {got}, not the task {task.id} just enqueued")
            events.append(at - committed)
    return claims, events


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run with tiny numbers")
    parser.add_argument("--rounds", type=int, help="rounds per comparison (default 9; quick 2)")
    parser.add_argument("--cycles", type=int, help="cycles (and claims) per process per round (default 200; quick 10)")
    parser.add_argument("--processes", type=int, default=8, help="worker processes of (c) (default 8)")
    parser.add_argument("--wakes", type=int, help="wake-ups measured in (d) (default 40; quick 3) and (e) (at most 20)")
    parser.add_argument("--only-wakes", action="store_true", help="measure the wake-ups (d) and (e) only")
    parser.add_argument(
        "--durable",
        action="store_true",
        help="run the cluster as a stock server does (fsync, synchronous_commit and full_page_writes on)",
    )
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "TARGET"), help=argparse.SUPPRESS)
    parser.add_argument("--waiter", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0
    if args.waiter:
        waiter(args.waiter)
        return 0

    from tests.postgres_support import Cluster

    rounds = args.rounds or (2 if args.quick else 9)
    count = args.cycles or (10 if args.quick else 200)
    many = args.processes
    wakes = args.wakes or (3 if args.quick else 40)
    cli_wakes = 1 if args.quick else 5

    load = os.getloadavg()
    print(f"SparkQ PostgreSQL benchmark  (python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version})")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs")
    print(
        f"rounds={rounds} per-process count/round={count} processes={many}"
        f"{'  [quick: numbers are not meaningful]' if args.quick else ''}"
    )
    cluster = Cluster()
    pools: dict[str, Pool] = {}
    try:
        if args.durable:  # the test cluster's shortcuts off again: every commit waits for its WAL on disk
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                cluster.admin(f"ALTER SYSTEM SET {setting} = on")
            cluster.admin("SELECT pg_reload_conf()")
        url = cluster.url(cluster.new_database())
        with tempfile.TemporaryDirectory(prefix="sparkq-bench-pg-") as folder:
            sqlite_path = Path(folder) / "bench.db"
            targets = {"library": url, "raw": url, "sqlite": str(sqlite_path)}
            for kind in KINDS:
                make_side(kind, targets[kind])
            backlogs = Backlogs(url, sqlite_path)
            shown = backlogs.pg.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s) ORDER BY name", (list(SETTINGS),)
            ).fetchall()
            print("PostgreSQL (throwaway cluster, loopback TCP): " + ", ".join(f"{n}={v}" for n, v in shown))
            results = {}
            if not args.only_wakes:
                pools = {kind: Pool(kind, targets[kind], many) for kind in KINDS}
                for what in ("cycles", "claims"):
                    for processes in (1, many):
                        results[what, processes] = bench_rates(pools, backlogs, what, processes, rounds, count)
                for pool in pools.values():
                    pool.close()
                pools = {}
            wake = wake_latency(url, wakes)
            cli_wake = cli_wake_latency(url, cli_wakes)
            http_wake, sse_wake = server_wake_latency(url, min(wakes, 20))
    finally:
        for pool in pools.values():
            for child in pool.children:
                child.kill()
        cluster.stop()

    if results:
        print_rates(results, many)
    print(
        f"claim --wait wake-up over {len(wake)} enqueues by another process (commit -> claimer holds the task): "
        f"{spread(wake)}"
    )
    print(
        f"sparkq claim --wait console script over {len(cli_wake)} enqueues (commit -> its exit): "
        f"p50 {percentile(cli_wake, 0.5) * 1000:.1f} ms, max {max(cli_wake) * 1000:.1f} ms"
    )
    print(
        f"HTTP claim ?wait= wake-up over {len(http_wake)} enqueues by another process (commit -> the answer): "
        f"{spread(http_wake)}"
    )
    print(
        f"SSE /api/events wake-up over {len(sse_wake)} enqueues by another process (commit -> the event read): "
        f"{spread(sse_wake)}"
    )
    end = os.getloadavg()
    print(f"load average at the end {end[0]:.2f} {end[1]:.2f} {end[2]:.2f}")
    return 0


def spread(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 0.5) * 1000:.1f} ms, p95 {percentile(values, 0.95) * 1000:.1f} ms, "
        f"max {max(values) * 1000:.1f} ms"
    )


def print_rates(results: dict[tuple[str, int], dict[str, list[float]]], many: int) -> None:
    print()
    print(f"{'measure':<36} {'library':>9} {'raw':>9} {'sqlite':>9} {'lib/raw':>8} {'lib/sqlite':>10}")
    print(f"{'-' * 36} {'-' * 9} {'-' * 9} {'-' * 9} {'-' * 8} {'-' * 10}")
    for (what, processes), found in results.items():
        rate = medians(found)
        name = f"{what}/s, {processes} process{'es' if processes > 1 else ''}"
        print(
            f"{name:<36} {rate['library']:>9,.0f} {rate['raw']:>9,.0f} {rate['sqlite']:>9,.0f} "
            f"{paired(found, 'library', 'raw'):>8.2f} {paired(found, 'library', 'sqlite'):>10.2f}"
        )
    print()
    print("ratios are the median over back-to-back rounds")
    for what in ("cycles", "claims"):
        ratio = paired(results[what, 1], "library", "raw")
        print(
            f"target: library/raw {what}, 1 process >= {TARGET_LIB_RATIO}: {ratio:.2f} "
            f"{'PASS' if ratio >= TARGET_LIB_RATIO else 'FAIL'}"
        )
    for what in ("cycles", "claims"):
        scale = statistics.median(results[what, many]["library"]) / statistics.median(results[what, 1]["library"])
        print(
            f"target: library {what}, {many} / 1 processes >= {TARGET_SCALE:g}: {scale:.2f} "
            f"{'PASS' if scale >= TARGET_SCALE else 'FAIL'}"
        )
        sq = statistics.median(results[what, many]["sqlite"]) / statistics.median(results[what, 1]["sqlite"])
        print(f"  (sqlite {what}, {many} / 1 processes: {sq:.2f})")


if __name__ == "__main__":
    sys.exit(main())
