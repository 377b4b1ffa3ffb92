"""A second process for the purge tests: enqueue, claim and complete until told to stop.

    python purge_writer.py DB STREAM CUTOFF READY STOP OUT

After every cycle it counts the finished tasks older than CUTOFF, so the test can tell whether
it got a write in while a purge was half-way. Writes {"cycles", "errors", "old_counts"} to OUT.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

from sparkq_domain import SparkQError
from sparkq_entry import open_queue

COUNT_OLD = "SELECT COUNT(*) FROM tasks WHERE status IN ('succeeded', 'failed') AND finished_at < ?"


def main(db: str, stream: str, cutoff: str, ready: str, stop: str, out: str) -> None:
    queue = open_queue(db)
    counter = sqlite3.connect(db, isolation_level=None)
    cycles, errors, seen = 0, [], set()
    deadline = time.monotonic() + 120  # stops by itself if the test never says so
    while not Path(stop).exists() and time.monotonic() < deadline:
        try:
            queue.enqueue(stream, "run-bash", {"cycle": cycles})
            claimed = queue.claim(stream)
            if claimed is not None:
                queue.complete(claimed.task.id, {"summary": "done"})
        except SparkQError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        seen.add(counter.execute(COUNT_OLD, (cutoff,)).fetchone()[0])
        cycles += 1
        if cycles == 1:
            Path(ready).touch()
    counter.close()
    Path(out).write_text(json.dumps({"cycles": cycles, "errors": errors, "old_counts": sorted(seen)}))


if __name__ == "__main__":
    main(*sys.argv[1:7])
