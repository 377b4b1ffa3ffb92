"""The web UI with 100,000 tasks: how fast the task list and dashboard data come (issue 5).

Run by hand (not a test):  .venv/bin/python bench/ui_scale.py [--tasks 100000] [--output-bytes 0] [--browser]

Fills a temporary database with N finished and queued tasks over 4 streams (one transaction of
raw inserts into SparkQ's own schema), starts a real `sparkq run` on a free loopback port, and
times, median of 15 interleaved rounds, the calls the Tasks page and the Dashboard make (the
dashboard makes one: `GET /api/overview`; the Tasks page's search box and tool filter read every
task, no index serves them), against `GET /api/health` measured in the same rounds, with the load
average. --output-bytes gives every finished task a stdout that long (a search must not walk it).
With --browser it also times, in Debian's Chromium, from navigation to the first task row of
`#/tasks`. Stops the server it started.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _support import clean_env, running_server

from sparkq_entry import open_queue

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSERT = (
    "INSERT INTO tasks(id, stream_id, tool_name, task_class, payload, status, timeout, attempts, result, error, "
    "created_at, updated_at, started_at, finished_at, seq, stdout) VALUES (?, ?, ?, 'MEDIUM_SCRIPT', ?, ?, 300, ?, "
    "?, ?, ?, ?, ?, ?, ?, ?)"
)


def fill(db: Path, count: int, output_bytes: int = 0) -> None:
    queue = open_queue(db)
    queue.create_session("big")
    streams = [queue.create_stream(f"lane-{n}", "big").id for n in range(4)]
    start = datetime.now(UTC) - timedelta(days=2)
    output = ("collected 12 items; tests/test_api.py ....\n" * (output_bytes // 42 + 1))[:output_bytes] or None

    def rows():  # type: ignore[no-untyped-def]
        for n in range(count):
            at = start + timedelta(seconds=n)
            stamp = at.isoformat(timespec="microseconds")[:-6] + "Z"
            done = (at + timedelta(seconds=20 + n % 40)).isoformat(timespec="microseconds")[:-6] + "Z"
            kind = n % 10
            status = "queued" if kind == 0 else "failed" if kind == 1 else "succeeded"
            result = json.dumps({"summary": f"task {n} done"}) if status == "succeeded" else None
            error = "tests fail" if status == "failed" else None
            finished = None if status == "queued" else done
            started = None if status == "queued" else stamp
            yield (
                f"tsk_{n:012x}", streams[n % 4], ("run-bash", "run-python", "llm-haiku")[n % 3],
                json.dumps({"script": f"scripts/job-{n}.sh"}), status, 0 if status == "queued" else 1,
                result, error, stamp, finished or stamp, started, finished, n + 1, finished and output,
            )  # fmt: skip

    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(INSERT, rows())
    conn.execute("COMMIT")
    conn.close()


class Client:
    """A keep-alive HTTP client with TCP_NODELAY, as browsers use: httpx on loopback waits ~40 ms
    per request for a delayed ACK (Nagle), which would hide what the server itself takes."""

    def __init__(self, port: int) -> None:
        import http.client

        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.connect()
        assert self.conn.sock is not None
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def get(self, path: str) -> None:
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        response.read()
        assert response.status == 200, (path, response.status)


def median_ms(client: Client, paths: list[str], rounds: int = 15) -> dict[str, float]:
    """The median time of each of `paths`, requested in turn `rounds` times (a noisy moment hits all alike)."""
    times: dict[str, list[float]] = {path: [] for path in paths}
    for _ in range(rounds):
        for path in paths:
            start = time.perf_counter()
            client.get(path)
            times[path].append(time.perf_counter() - start)
    return {path: statistics.median(t) * 1000 for path, t in times.items()}


def first_row_ms(url: str) -> float:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(url + "/#/dashboard")
        page.wait_for_selector("#server-status[data-state=up]")
        times = []
        for _ in range(5):
            page.goto(url + "/#/dashboard")
            page.wait_for_load_state("load")
            start = time.perf_counter()
            page.evaluate("location.hash = '#/tasks'")
            page.wait_for_selector("tr.task-row")
            times.append(time.perf_counter() - start)
        browser.close()
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--browser", action="store_true")
    parser.add_argument("--output-bytes", type=int, default=0, help="stdout of every finished task, in bytes")
    args = parser.parse_args()
    env = clean_env()

    with tempfile.TemporaryDirectory(prefix="sparkq-ui-scale-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        fill(folder / "sparkq.db", args.tasks, args.output_bytes)
        print(
            f"filled {args.tasks:,} tasks ({args.output_bytes:,} bytes of stdout each finished one) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        with running_server(folder, env) as (url, port):
            client = Client(port)
            requests = [
                ("GET /api/health (baseline)", "/api/health"),
                ("GET /api/tasks?limit=50 (first page)", "/api/tasks?limit=50"),
                ("… ?status=failed&limit=50", "/api/tasks?status=failed&limit=50"),
                ("… ?stream_id=lane-2&offset=5000", "/api/tasks?stream_id=lane-2&offset=5000"),
                ("… ?q=job-4242 (search: rare text)", "/api/tasks?q=job-4242&limit=50"),
                ("… ?q=NO-SUCH-TEXT (search: no match)", "/api/tasks?q=NO-SUCH-TEXT&limit=50"),
                ("… ?q=DONE (search: most tasks)", "/api/tasks?q=DONE&limit=50"),
                ("… ?tool=llm-haiku (tool: a third)", "/api/tasks?tool=llm-haiku&limit=50"),
                ("… ?tool=llm-haiku&q=tests+fail (tool + search)", "/api/tasks?tool=llm-haiku&q=tests+fail&limit=50"),
                ("GET /api/overview (the dashboard's one)", "/api/overview?limit=10"),
                ("GET /api/status (sparkq status's counts)", "/api/status"),
                ("GET /api/stats (dashboard charts)", "/api/stats"),
                ("GET /api/streams (task counts)", "/api/streams"),
            ]  # fmt: skip
            load = os.getloadavg()[0]
            medians = median_ms(client, [path for _, path in requests])
            base = medians["/api/health"]
            print(f"\n{'request, with ' + format(args.tasks, ',') + ' tasks':<46}{'median ms':>10}{'x health':>10}")
            for name, path in requests:
                ms = medians[path]
                print(f"{name:<46}{ms:>10.1f}{ms / base:>10.1f}")
            print(f"load average (1 min): {load:.2f} before, {os.getloadavg()[0]:.2f} after")
            if args.browser:
                print(
                    f"\nbrowser: #/dashboard -> #/tasks, first task row shown: {first_row_ms(url):.0f} ms (median of 5)"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
