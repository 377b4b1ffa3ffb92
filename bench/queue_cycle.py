"""Queue throughput through the library, against the same statements on raw sqlite3.

Run by hand (not a test):  .venv/bin/python bench/queue_cycle.py [--quick] [--rounds N] [--cycles N]

(a) enqueue + claim + complete cycles per second through `open_queue` (WAL, synchronous=NORMAL)
    against the three statements on a raw `sqlite3` connection with the same pragmas and the same
    schema (created by opening a SqliteStore on that file too). Rounds alternate library / raw so
    that noise on a shared machine hits both alike; the median round of each is reported, and the
    ratio is the median of the ratios of paired (back-to-back) rounds.
    Target: library / raw >= 0.75 (issue 13). Also the WAL pages each side writes per cycle
    (target for the library: <= 12).
(b) total cycles per second with 4 processes on one file, one stream, through the library.
(c) claims per second with 1,000 and with 100,000 tasks already queued in the stream.
    Target: 100k / 1k >= 0.8.
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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from _support import wal_pages_per_cycle

from sparkq_adapters.clock import format_time
from sparkq_domain import Queue
from sparkq_entry.wiring import open_queue

TARGET_LIB_RATIO = 0.75
TARGET_WAL_PAGES = 12
TARGET_BACKLOG_RATIO = 0.8
STREAM = "bench"

RAW_INSERT = (
    "INSERT INTO tasks(id, stream_id, tool_name, task_class, payload, status, timeout, attempts, created_at, "
    "updated_at, seq) VALUES (?, ?, 'run-bash', 'MEDIUM_SCRIPT', ?, 'queued', 300, 0, ?, ?, "
    "(SELECT IFNULL(MAX(seq), 0) + 1 FROM tasks))"
)
RAW_CLAIM = (
    "UPDATE tasks SET status = 'running', attempts = attempts + 1, started_at = ?, updated_at = ? "
    "WHERE id = (SELECT id FROM tasks WHERE stream_id = ? AND status = 'queued' ORDER BY seq LIMIT 1) "
    "RETURNING id, stream_id, tool_name, task_class, payload, status, timeout, attempts, result, error, "
    "stdout, stderr, created_at, updated_at, started_at, finished_at"
)
RAW_COMPLETE = (
    "UPDATE tasks SET status = 'succeeded', result = ?, finished_at = ?, updated_at = ? "
    "WHERE id = ? AND status = 'running'"
)
PREFILL = (
    "INSERT INTO tasks(id, stream_id, tool_name, task_class, payload, status, timeout, attempts, created_at, "
    "updated_at, seq) VALUES (?, ?, 'run-bash', 'MEDIUM_SCRIPT', '{\"n\":1}', 'queued', 300, 0, ?, ?, ?)"
)


def new_queue(path: Path) -> Queue:
    queue = open_queue(path, synchronous="normal", project="bench")
    queue.create_session("bench")
    queue.create_stream(STREAM, "bench", instructions="Benchmark stream")
    return queue


def raw_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA wal_autocheckpoint = 4000")  # as SparkQ's store sets it
    return conn


def stream_id(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("SELECT id FROM streams WHERE name = ?", (STREAM,)).fetchone()[0])


# -- (a) one process: library vs raw --------------------------------------------------------------


def lib_cycles(queue: Queue, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        queue.enqueue(STREAM, "run-bash", {"n": i})
        claimed = queue.claim(STREAM)
        assert claimed is not None
        queue.complete(claimed.task.id, {"summary": "done"})
    return n / (time.perf_counter() - start)


def raw_cycles(conn: sqlite3.Connection, sid: str, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        now = format_time(datetime.now(UTC))
        payload = json.dumps({"n": i}, ensure_ascii=False, separators=(",", ":"))
        conn.execute(RAW_INSERT, (f"tsk_{secrets.token_hex(6)}", sid, payload, now, now))
        now = format_time(datetime.now(UTC))
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(RAW_CLAIM, (now, now, sid)).fetchone()
        conn.execute("COMMIT")
        assert row is not None
        now = format_time(datetime.now(UTC))
        result = json.dumps({"summary": "done"}, ensure_ascii=False, separators=(",", ":"))
        conn.execute(RAW_COMPLETE, (result, now, now, row[0]))
    return n / (time.perf_counter() - start)


def bench_single(tmp: Path, rounds: int, cycles: int) -> tuple[float, float, float, float]:
    """Return the median library rate, the median raw rate, and the median ratios of paired rounds.

    The second ratio is of the CPU time (user + system) each side spent per cycle: on a machine that
    other programs load, a round's wall time includes waiting for a CPU, its CPU time much less so.
    """
    queue = new_queue(tmp / "lib.db")
    raw_path = tmp / "raw.db"
    new_queue(raw_path)  # the same schema, made by the same store, plus the stream row
    conn = raw_connection(raw_path)
    sid = stream_id(raw_path)
    lib_cycles(queue, cycles // 2)  # warm up both
    raw_cycles(conn, sid, cycles // 2)
    lib, raw, lib_cpu, raw_cpu = [], [], [], []

    def timed(run: Callable[[], float], rates: list[float], cpu: list[float]) -> None:
        start = time.process_time()
        rates.append(run())
        cpu.append(time.process_time() - start)

    for r in range(rounds):
        # alternate which goes first, so a slow patch of the machine cannot favour one side
        sides = [
            (lambda: lib_cycles(queue, cycles), lib, lib_cpu),
            (lambda: raw_cycles(conn, sid, cycles), raw, raw_cpu),
        ]
        for run, rates, cpu in sides if r % 2 == 0 else sides[::-1]:
            timed(run, rates, cpu)
    conn.close()
    paired = [lib_rate / raw_rate for lib_rate, raw_rate in zip(lib, raw, strict=True)]
    paired_cpu = [raw_s / lib_s for lib_s, raw_s in zip(lib_cpu, raw_cpu, strict=True)]
    return statistics.median(lib), statistics.median(raw), statistics.median(paired), statistics.median(paired_cpu)


def wal_pages(tmp: Path) -> tuple[float, float]:
    """WAL pages written per cycle by the library and by the raw statements, each on a file of its own."""
    queue = new_queue(tmp / "wal-lib.db")
    raw_path = tmp / "wal-raw.db"
    new_queue(raw_path)
    conn = raw_connection(raw_path)
    sid = stream_id(raw_path)
    try:
        lib = wal_pages_per_cycle(tmp / "wal-lib.db", lambda n: lib_cycles(queue, 1))
        raw = wal_pages_per_cycle(raw_path, lambda n: raw_cycles(conn, sid, 1))
    finally:
        conn.close()
    return lib, raw


# -- (b) four processes ---------------------------------------------------------------------------


def worker(db: str, go: str, cycles: int) -> None:
    queue = open_queue(db, synchronous="normal", project="bench")
    flag = Path(go)
    while not flag.exists():
        time.sleep(0.002)
    start = time.perf_counter()
    lib_cycles(queue, cycles)
    print(json.dumps({"start": start, "end": time.perf_counter()}))


def bench_processes(tmp: Path, procs: int, cycles: int) -> float:
    db = tmp / "multi.db"
    new_queue(db)
    go = tmp / "go"
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", str(db), str(go), str(cycles)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(procs)
    ]
    time.sleep(1.0)  # every interpreter started and imported
    start = time.perf_counter()
    go.touch()
    for child in children:
        child.communicate(timeout=600)
        if child.returncode != 0:
            raise SystemExit(f"a worker failed with exit code {child.returncode}")
    elapsed = time.perf_counter() - start
    return procs * cycles / elapsed


# -- (c) claim speed against the backlog ----------------------------------------------------------


def prefill(path: Path, count: int) -> None:
    conn = raw_connection(path)
    sid = stream_id(path)
    now = format_time(datetime.now(UTC))
    top = conn.execute("SELECT IFNULL(MAX(seq), 0) FROM tasks").fetchone()[0]
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(PREFILL, ((f"tsk_{secrets.token_hex(6)}", sid, now, now, top + n + 1) for n in range(count)))
    conn.execute("COMMIT")
    conn.close()


def claim_rate(queue: Queue, path: Path, claims: int) -> float:
    spent = 0.0
    for _ in range(claims):
        start = time.perf_counter()
        claimed = queue.claim(STREAM)
        spent += time.perf_counter() - start
        assert claimed is not None
        queue.complete(claimed.task.id, {"summary": "done"})  # keep the running set small, untimed
    prefill(path, claims)  # put the backlog back where it was
    return claims / spent


def bench_backlog(tmp: Path, rounds: int, claims: int, small: int, large: int) -> tuple[float, float, float]:
    """Return the median claim rate with each backlog, and the median ratio of paired rounds."""
    queues = {}
    for size in (small, large):
        path = tmp / f"backlog-{size}.db"
        queues[size] = (new_queue(path), path)
        prefill(path, size)
        claim_rate(queues[size][0], path, claims // 2)  # warm up
    rates: dict[int, list[float]] = {small: [], large: []}
    for r in range(rounds):
        order = (small, large) if r % 2 == 0 else (large, small)
        for size in order:
            queue, path = queues[size]
            rates[size].append(claim_rate(queue, path, claims))
    paired = [big / little for big, little in zip(rates[large], rates[small], strict=True)]
    return statistics.median(rates[small]), statistics.median(rates[large]), statistics.median(paired)


# -- report ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run with tiny numbers")
    parser.add_argument("--rounds", type=int, help="alternating rounds per comparison (default 21; quick 2)")
    parser.add_argument("--cycles", type=int, help="cycles per round in (a) (default 300; quick 50)")
    parser.add_argument("--worker", nargs=3, metavar=("DB", "GO", "CYCLES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return 0

    rounds = args.rounds or (2 if args.quick else 21)
    cycles = args.cycles or (50 if args.quick else 300)
    proc_cycles = 50 if args.quick else 1000
    claims = 50 if args.quick else 200
    small, large = (1_000, 100_000) if not args.quick else (100, 2_000)

    print(f"SparkQ queue benchmark  (python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version})")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs")
    print(f"rounds={rounds} cycles/round={cycles}{'  [quick: numbers are not meaningful]' if args.quick else ''}")
    with tempfile.TemporaryDirectory(prefix="sparkq-bench-") as folder:
        tmp = Path(folder)
        lib, raw, lib_ratio, cpu_ratio = bench_single(tmp, rounds, cycles)
        lib_pages, raw_pages = wal_pages(tmp)
        multi = bench_processes(tmp, 4, proc_cycles)
        c_small, c_large, backlog_ratio = bench_backlog(tmp, rounds, claims, small, large)
    rows = [
        ("(a) cycles/s, library, 1 process", f"{lib:,.0f}"),
        ("(a) cycles/s, raw sqlite3, 1 process", f"{raw:,.0f}"),
        ("(a) WAL pages written per cycle, library", f"{lib_pages:.1f}"),
        ("(a) WAL pages written per cycle, raw sqlite3", f"{raw_pages:.1f}"),
        ("(b) cycles/s, library, 4 processes total", f"{multi:,.0f}"),
        (f"(c) claims/s, library, {small:,} queued", f"{c_small:,.0f}"),
        (f"(c) claims/s, library, {large:,} queued", f"{c_large:,.0f}"),
    ]
    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'measure':<{width}}  {'rate':>10}")
    print(f"{'-' * width}  {'-' * 10}")
    for name, value in rows:
        print(f"{name:<{width}}  {value:>10}")
    print()
    lib_ok = "ok" if lib_ratio >= TARGET_LIB_RATIO else "MISSED"
    backlog_ok = "ok" if backlog_ratio >= TARGET_BACKLOG_RATIO else "MISSED"
    print("ratios are the median over paired, back-to-back rounds")
    print(f"ratio library/raw: {lib_ratio:.2f}  (target >= {TARGET_LIB_RATIO}: {lib_ok})")
    print(f"ratio library/raw by CPU time per cycle: {cpu_ratio:.2f}  (less sensitive to the machine's load)")
    print(f"ratio backlog {large:,}/{small:,}: {backlog_ratio:.2f}  (target >= {TARGET_BACKLOG_RATIO}: {backlog_ok})")
    pages_ok = "ok" if lib_pages <= TARGET_WAL_PAGES else "MISSED"
    print(f"WAL pages per library cycle: {lib_pages:.1f}  (target <= {TARGET_WAL_PAGES}: {pages_ok})")
    end = os.getloadavg()
    print(f"load average at the end {end[0]:.2f} {end[1]:.2f} {end[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
