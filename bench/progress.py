"""What progress on a terminal costs: the start-up page check and `sparkq purge`, with and without it.

Run by hand (not a test):  .venv/bin/python bench/progress.py [--tasks 200000] [--rounds 5]

On a database of N tasks (`scale.generate`'s mix: 90 % finished long ago):

1. the server's start-up check (`quick_check`) without a progress hook and with one (the thread
   that reads this process's bytes read every 0.1 s), in interleaved rounds: median of each, ratio
   (wall time: on a loaded machine the watching thread's wake-ups cost scheduling, not work —
   `valgrind --tool=callgrind` counts the instructions);
2. the one extra read a purge makes for its bar (counting the finished tasks, its `total`)
   against the purge itself (`Queue.purge`, once, at the end: it deletes).

Target: the check with progress within 5 % of the check without; the count under 2 % of the purge.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from scale import generate

from sparkq_adapters.sqlite import SqliteStore, forensics
from sparkq_domain import TaskStatus
from sparkq_entry import open_queue

TARGET_CHECK_RATIO = 1.05
TARGET_COUNT_SHARE = 0.02


def timed_check(db: Path, *, progress: bool) -> float:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        start = time.perf_counter()
        problem = forensics.quick_check_problem(conn, (lambda done, total: None) if progress else None)
        elapsed = time.perf_counter() - start
    finally:
        conn.close()
    assert problem is None, problem
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sparkq-progress-") as tmp:
        db = Path(tmp) / "sparkq.db"
        generate(db, args.tasks)
        print(f"{args.tasks:,} tasks, {db.stat().st_size / 2**20:,.0f} MiB; load average {os.getloadavg()[0]:.1f}")

        plain: list[float] = []
        watched: list[float] = []
        timed_check(db, progress=False)  # the file into the page cache, for both alike
        for n in range(args.rounds):
            # each goes first in every other round, so that neither gets the warmer start
            for progress in (False, True) if n % 2 == 0 else (True, False):
                (watched if progress else plain).append(timed_check(db, progress=progress))
        ratio = statistics.median(watched) / statistics.median(plain)
        print(
            f"start-up check: {statistics.median(plain) * 1000:,.0f} ms without progress, "
            f"{statistics.median(watched) * 1000:,.0f} ms with: ratio {ratio:.3f} "
            f"({'PASS' if ratio <= TARGET_CHECK_RATIO else 'FAIL'}, target <= {TARGET_CHECK_RATIO})"
        )

        store = SqliteStore(db)
        counts: list[float] = []
        finished = 0
        for _ in range(args.rounds):
            start = time.perf_counter()
            with store.read() as repo:  # the read `Queue.purge` makes for its progress hook
                per_stream = repo.task_counts().values()
                finished = sum(c.get(TaskStatus.SUCCEEDED, 0) + c.get(TaskStatus.FAILED, 0) for c in per_stream)
            counts.append(time.perf_counter() - start)
        store.close()
        start = time.perf_counter()
        deleted = open_queue(db).purge(timedelta(days=1))
        purge = time.perf_counter() - start
        share = statistics.median(counts) / purge
        print(
            f"purge: {deleted:,} of {finished:,} finished tasks deleted in {purge:,.1f} s; counting them for the "
            f"bar {statistics.median(counts) * 1000:,.0f} ms = {share:.2%} of it "
            f"({'PASS' if share <= TARGET_COUNT_SHARE else 'FAIL'}, target <= {TARGET_COUNT_SHARE:.0%})"
        )
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
