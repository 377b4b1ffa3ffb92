"""Many processes claiming from one database: each task exactly once, FIFO per stream, latency.

Run by hand:  .venv/bin/python bench/contention.py [--processes 16] [--tasks 5000] [--streams 2] [--json]
(tests/integration/test_contention.py runs it with the defaults and checks the correctness lines.)

N worker processes (the library, `open_queue`) start together and claim from the streams in turn
until every stream is empty. Afterwards, from the workers' records and the database:

- every task was claimed exactly once (no duplicates, none missing);
- per stream, the claims came in enqueue order, as the database saw them: the `task.claimed`
  events (written by a trigger inside each claim's own transaction, numbered in commit order)
  list each stream's tasks in their `seq` order;
- no error reached any caller ("database is locked" included);
- claim latency p50/p95/p99/max over all claims, and claims/s in total, against the same claims
  made by one process on its own in the same run (the baseline of the ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SESSION = "contention"


def stream_names(count: int) -> list[str]:
    return [f"lane-{i}" for i in range(count)]


def _open(database: str) -> Any:
    """The queue on `database`: a SQLite file, or a PostgreSQL URL (as tests/pg/test_pg_contention.py runs it)."""
    from sparkq_adapters.database_id import is_postgres_url

    if not is_postgres_url(database):
        from sparkq_entry.wiring import open_queue

        return open_queue(Path(database), project="contention")
    from sparkq_adapters.clock import RandomIds, SystemClock
    from sparkq_adapters.postgres import PostgresStore
    from sparkq_domain import Queue

    queue = Queue(PostgresStore(database, pool_size=1), SystemClock(), RandomIds())
    queue.ensure_project("contention")  # connected now, not at the first claim
    return queue


def prepare(database: str, tasks: int, streams: int) -> None:
    """Fill `database` (a SQLite file or a PostgreSQL URL) with `tasks` tasks spread over `streams` streams."""
    queue = _open(database)
    queue.create_session(SESSION)
    names = stream_names(streams)
    for name in names:
        queue.create_stream(name, SESSION)
    for n in range(tasks):
        queue.enqueue(names[n % streams], "run-bash", {"script": "job.sh", "n": n})


def worker(database: str, streams: int, start_flag: Path, out: Path) -> None:
    """Claim until every stream is empty; write [(task id, seconds)] and errors to `out`.

    `out` with the suffix `.ready` is touched once the queue is open, for a caller that waits for it.
    """
    queue = _open(database)
    out.with_suffix(".ready").touch()
    names = stream_names(streams)
    claims: list[tuple[str, float]] = []
    errors: list[str] = []
    while not start_flag.exists():
        time.sleep(0.001)
    empty: set[str] = set()
    turn = 0
    while len(empty) < len(names):
        name = names[turn % len(names)]
        turn += 1
        if name in empty:
            continue
        began = time.perf_counter()
        try:
            claimed = queue.claim(name)
        except Exception as exc:  # any error reaching a caller is a failure of the run
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        elapsed = time.perf_counter() - began
        if claimed is None:
            empty.add(name)
        else:
            claims.append((claimed.task.id, elapsed))
    out.write_text(json.dumps({"claims": claims, "errors": errors}))


def run_workers(database: str, processes: int, streams: int, folder: Path) -> tuple[list[dict[str, Any]], float]:
    """Start `processes` workers on `database` together: their results, and the seconds from start to last end."""
    start_flag = folder / f"go-{processes}"
    outs = [folder / f"worker-{processes}-{i}.json" for i in range(processes)]
    procs = [
        subprocess.Popen([sys.executable, __file__, "--worker", database, str(streams), str(start_flag), str(out)])
        for out in outs
    ]
    try:
        while not all(
            out.with_suffix(".ready").exists() or proc.poll() is not None for out, proc in zip(outs, procs, strict=True)
        ):
            time.sleep(0.05)  # every interpreter started and opened the database
        began = time.perf_counter()
        start_flag.touch()
        for proc in procs:
            if proc.wait(timeout=600) != 0:
                raise SystemExit(f"a worker exited with {proc.returncode}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    return [json.loads(out.read_text()) for out in outs], time.perf_counter() - began


def claim_order(db: Path) -> dict[str, list[int]]:
    """Per stream: the enqueue `seq` of each claimed task, in the order the claims committed."""
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT s.name, t.seq FROM events e JOIN tasks t ON t.id = e.subject_id "
            "JOIN streams s ON s.id = t.stream_id WHERE e.kind = 'task.claimed' ORDER BY e.seq"
        )
        order: dict[str, list[int]] = {}
        for name, seq in rows:
            order.setdefault(name, []).append(seq)
        return order
    finally:
        conn.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(processes: int, tasks: int, streams: int, folder: Path) -> dict[str, Any]:
    db = folder / f"contention-{processes}.db"
    prepare(str(db), tasks, streams)
    results, seconds = run_workers(str(db), processes, streams, folder)
    claimed = [task_id for r in results for task_id, _ in r["claims"]]
    latencies = [elapsed for r in results for _, elapsed in r["claims"]]
    order = claim_order(db)
    return {
        "processes": processes,
        "tasks": tasks,
        "claimed": len(claimed),
        "distinct": len(set(claimed)),
        "duplicates": len(claimed) - len(set(claimed)),
        "missing": tasks - len(set(claimed)),
        "fifo_per_stream": all(seqs == sorted(seqs) for seqs in order.values()),
        "streams_claimed": {name: len(seqs) for name, seqs in order.items()},
        "errors": [e for r in results for e in r["errors"]],
        "claims_per_second": len(claimed) / seconds if seconds else 0.0,
        "latency_ms": {
            "p50": percentile(latencies, 50) * 1000,
            "p95": percentile(latencies, 95) * 1000,
            "p99": percentile(latencies, 99) * 1000,
            "max": max(latencies) * 1000,
        },
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        database, streams, start_flag, out = sys.argv[2:6]
        worker(database, int(streams), Path(start_flag), Path(out))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=16)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--streams", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="sparkq-contention-") as tmp:
        folder = Path(tmp)
        many = measure(args.processes, args.tasks, args.streams, folder)
        one = measure(1, args.tasks, args.streams, folder)
    many["baseline_claims_per_second"] = one["claims_per_second"]
    many["baseline_latency_ms"] = one["latency_ms"]
    many["load_average"] = {"before": list(load), "after": list(os.getloadavg())}
    if args.json:
        print(json.dumps(many))
        return
    lat, base = many["latency_ms"], one["latency_ms"]
    print(f"{args.processes} processes claiming {args.tasks:,} tasks from {args.streams} streams")
    print(
        f"claimed {many['claimed']:,}, distinct {many['distinct']:,}, duplicates {many['duplicates']}, "
        f"missing {many['missing']}"
    )
    print(f"FIFO per stream by commit order: {'yes' if many['fifo_per_stream'] else 'NO'}")
    print(f"errors reaching callers: {len(many['errors'])} {many['errors'][:3]}")
    print(f"{'':24}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'claims/s':>11}")
    for label, figures, rate in (
        (f"{args.processes} processes", lat, many["claims_per_second"]),
        ("1 process (baseline)", base, one["claims_per_second"]),
    ):
        print(
            f"{label:24}{figures['p50']:9.2f}{figures['p95']:9.2f}{figures['p99']:9.2f}{figures['max']:9.2f}"
            f"{rate:11,.0f}"
        )
    print(f"ratio throughput {args.processes}/1 processes: {many['claims_per_second'] / one['claims_per_second']:.2f}")
    print(f"ratio p99 latency {args.processes}/1 processes: {lat['p99'] / base['p99']:.1f}")
    before, after = many["load_average"]["before"], many["load_average"]["after"]
    print(f"load average {before[0]:.2f} {before[1]:.2f} {before[2]:.2f} before, {after[0]:.2f} after")


if __name__ == "__main__":
    main()
