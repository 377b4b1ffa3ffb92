"""The change feed: the `events` table that triggers fill on every change, by any process.

Its upkeep is this adapter's: a purge batch trims the oldest events too, and the server prunes
them periodically; the domain never sees the feed.

Triggers (schema v3) record each task enqueued / requeued / claimed / completed / failed /
auto-failed and each session or stream created / updated / ended, in the writer's own
transaction: the CLI, the library, the server and other tools alike. `PRAGMA data_version`
tells cheaply whether another connection committed since the last look.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from .writers import WriterLock

SELECT_AFTER = "SELECT seq, kind, subject_id, stream_id, status, at FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
SELECT_LAST = "SELECT IFNULL(MAX(seq), 0) FROM events"
# The oldest events beyond the newest `keep`, a batch at a time (`limit`): deleting a million rows in one
# transaction holds the write lock for over a second, and every claim waits for it.
TRIM_EVENTS = (
    "DELETE FROM events WHERE seq IN (SELECT seq FROM events "
    "WHERE seq <= (SELECT IFNULL(MAX(seq), 0) FROM events) - ? ORDER BY seq LIMIT ?)"
)

#: events kept for clients that reconnect with Last-Event-ID
KEEP_EVENTS = 100_000
#: events deleted per transaction when trimming (~0.03 s), and the pause between transactions
TRIM_BATCH = 20_000
TRIM_PAUSE = 0.1


class ChangeFeed:
    """Reads the events table on a connection of its own (one thread uses it at a time)."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        # a trim is a writer like any other: it queues with the store's writers
        self._writers = WriterLock(
            Path(os.path.abspath(path) + "-writer"),
            timeout=busy_timeout_ms / 1000,
            busy=lambda: sqlite3.OperationalError("database is locked"),
        )

    def data_version(self) -> int:
        """Changes whenever another connection commits to the file."""
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def wake_fd(self) -> None:
        """SQLite has no socket that a commit makes readable: waiters poll `data_version`."""
        return None

    def last_seq(self) -> int:
        return int(self._conn.execute(SELECT_LAST).fetchone()[0])

    def after(self, seq: int, limit: int = 1000) -> list[dict[str, Any]]:
        rows = self._conn.execute(SELECT_AFTER, (seq, limit)).fetchall()
        return [{"seq": r[0], "kind": r[1], "id": r[2], "stream_id": r[3], "status": r[4], "at": r[5]} for r in rows]

    def prune(self, keep: int = KEEP_EVENTS, *, batch: int = TRIM_BATCH, pause: float = TRIM_PAUSE) -> int:
        """Delete all but the newest `keep` events, `batch` per write transaction; return how many.

        At least the newest event always stays: seqs are the largest one plus one, so they only grow.
        """
        keep = max(keep, 1)
        total = 0
        while True:
            self._writers.acquire()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    deleted = self._conn.execute(TRIM_EVENTS, (keep, batch)).rowcount
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            finally:
                self._writers.release()
            total += deleted
            if deleted < batch:
                return total
            time.sleep(pause)

    def close(self) -> None:
        self._conn.close()
        self._writers.close()
