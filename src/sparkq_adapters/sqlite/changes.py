"""The change feed: the `events` table that triggers fill on every change, by any process.

Triggers (schema v3) record each task enqueued / requeued / claimed / completed / failed /
auto-failed and each session or stream created / updated / ended, in the writer's own
transaction: the CLI, the library, the server and other tools alike. `PRAGMA data_version`
tells cheaply whether another connection committed since the last look.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

SELECT_AFTER = "SELECT seq, kind, subject_id, stream_id, status, at FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
SELECT_LAST = "SELECT IFNULL(MAX(seq), 0) FROM events"
PRUNE = "DELETE FROM events WHERE seq <= (SELECT IFNULL(MAX(seq), 0) FROM events) - ?"

#: events kept for clients that reconnect with Last-Event-ID
KEEP_EVENTS = 100_000


class ChangeFeed:
    """Reads the events table on a connection of its own (one thread uses it at a time)."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")

    def data_version(self) -> int:
        """Changes whenever another connection commits to the file."""
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def last_seq(self) -> int:
        return int(self._conn.execute(SELECT_LAST).fetchone()[0])

    def after(self, seq: int, limit: int = 1000) -> list[dict[str, Any]]:
        rows = self._conn.execute(SELECT_AFTER, (seq, limit)).fetchall()
        return [{"seq": r[0], "kind": r[1], "id": r[2], "stream_id": r[3], "status": r[4], "at": r[5]} for r in rows]

    def prune(self, keep: int = KEEP_EVENTS) -> int:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            deleted = self._conn.execute(PRUNE, (keep,)).rowcount
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return deleted

    def close(self) -> None:
        self._conn.close()
