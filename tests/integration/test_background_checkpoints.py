"""The server's store checkpoints in a thread of its own, never inside a commit on the event loop."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sparkq_adapters.sqlite import SqliteStore
from sparkq_adapters.sqlite.checkpoints import Checkpointer, wal_frames
from sparkq_adapters.sqlite.store import WAL_AUTOCHECKPOINT_PAGES


def _autocheckpoint(store: SqliteStore) -> int:
    return int(store.connection().execute("PRAGMA wal_autocheckpoint").fetchone()[0])


def _fill(db: Path, pages: int) -> None:
    """Commit about `pages` WAL pages through a connection that never checkpoints itself."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE IF NOT EXISTS filler(x BLOB)")
    for _ in range(pages):
        conn.execute("INSERT INTO filler VALUES (zeroblob(4000))")
    conn.close()


def _frames(db: Path) -> tuple[int, int]:
    return wal_frames(Path(str(db) + "-shm"))


def test_the_server_store_leaves_checkpoints_to_its_thread_and_other_stores_keep_sqlites(tmp_path: Path) -> None:
    server = SqliteStore(tmp_path / "a.db", background_checkpoints=True)
    plain = SqliteStore(tmp_path / "b.db")
    try:
        assert _autocheckpoint(server) == 0
        assert _autocheckpoint(plain) == WAL_AUTOCHECKPOINT_PAGES
        assert server._checkpointer is not None and server._checkpointer.running
        assert plain._checkpointer is None
    finally:
        server.close()
        plain.close()
    assert not server._checkpointer.running  # close() ends the thread


def test_a_checkpoint_runs_once_the_wal_outgrows_the_limit_and_not_before(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    keeper = sqlite3.connect(db, isolation_level=None)  # holds the WAL open, as the server's connections do
    keeper.execute("PRAGMA journal_mode = WAL")
    keeper.execute("CREATE TABLE filler(x BLOB)")
    keeper.execute("BEGIN")
    keeper.execute("SELECT count(*) FROM filler").fetchone()
    keeper.execute("COMMIT")
    checkpoints = Checkpointer(db, pages=50, busy_timeout_ms=1000)
    try:
        _fill(db, 10)
        assert checkpoints.checkpoint_if_due() is False
        log, done = _frames(db)
        assert done < log  # nothing copied yet: the WAL is under the limit
        _fill(db, 100)
        assert checkpoints.checkpoint_if_due() is True
        log, done = _frames(db)
        assert log == done > 0  # every frame is in the database file now
    finally:
        checkpoints.stop()
        keeper.close()


def test_the_thread_checkpoints_a_growing_wal_by_itself(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    store = SqliteStore(db)
    store.connection()  # the file, migrated, its WAL held open by this connection
    checkpoints = Checkpointer(db, pages=50, busy_timeout_ms=1000, every=0.02)
    checkpoints.start()
    try:
        _fill(db, 100)
        deadline = time.monotonic() + 30  # a liveness bound for a loaded machine, not a speed target
        while checkpoints.runs == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert checkpoints.runs >= 1
        # the thread goes on until what waits to be copied is back under its limit
        while _frames(db)[0] - _frames(db)[1] > 50 and time.monotonic() < deadline:
            time.sleep(0.02)
        frames, copied = _frames(db)
        assert frames > 0 and frames - copied <= 50
    finally:
        checkpoints.stop()
        store.close()
    assert not checkpoints.running
