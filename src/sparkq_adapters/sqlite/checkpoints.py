"""Checkpoints off the request path: a thread copies the WAL into the database file.

By default SQLite checkpoints inside the commit that pushes the WAL past `wal_autocheckpoint`
pages: that commit pays two fsyncs (3–30 ms here). In the server the commit runs on the event
loop, so every request in flight waits for it, and those stalls are the p99 of the worker protocol.
A store built with `background_checkpoints` turns autocheckpoints off on its connections and
leaves them to this thread, which runs a PASSIVE checkpoint (it never blocks a reader or a writer)
whenever the WAL has grown past the same size. Other processes (the CLI, library users) keep
SQLite's own autocheckpoint, so the WAL is still bounded when no server runs.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from pathlib import Path

#: how often the thread looks at the WAL (a read of the -shm file's first 100 bytes: cheap)
LOOK_EVERY_SECONDS = 0.2


def wal_frames(shm: Path) -> tuple[int, int]:
    """(frames in the WAL, frames of it already copied into the database file); (0, 0) without a WAL.

    Read from the wal-index header at the start of the -shm file, a documented file format
    (https://sqlite.org/walformat.html): `mxFrame` is the u32 at offset 16 and `nBackfill` the u32 at
    offset 96, in the machine's byte order. SQLite's own autocheckpoint decides on the same numbers.
    """
    try:
        with open(shm, "rb") as f:
            head = f.read(100)
    except FileNotFoundError:
        return 0, 0
    if len(head) < 100:
        return 0, 0
    return int.from_bytes(head[16:20], sys.byteorder), int.from_bytes(head[96:100], sys.byteorder)


class Checkpointer:
    """A daemon thread that checkpoints `db` whenever its WAL holds more than `pages` pages."""

    def __init__(self, db: Path, *, pages: int, busy_timeout_ms: int, every: float = LOOK_EVERY_SECONDS) -> None:
        self._db = db
        self._shm = db.with_name(db.name + "-shm")
        self._pages = pages
        self._busy_timeout_ms = busy_timeout_ms
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        #: checkpoints run so far (for tests and diagnostics)
        self.runs = 0

    def start(self) -> None:
        """Start the thread (once; a second call does nothing)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sparkq-checkpoints", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close its connection."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def checkpoint_if_due(self) -> bool:
        """Checkpoint now if more than the limit of WAL frames wait to be copied; return whether it ran."""
        frames, copied = wal_frames(self._shm)
        if frames - copied <= self._pages:
            return False
        # PASSIVE copies what no reader still needs and never waits; the next writer then restarts
        # the WAL from its start once every frame is in the database file
        self._connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.runs += 1
        return True

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(str(self._db), isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            self._conn = conn
        return self._conn

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._every):
                try:
                    self.checkpoint_if_due()
                except sqlite3.Error:
                    # a busy or failing checkpoint is tried again at the next look; the writers
                    # report storage problems to their callers themselves
                    continue
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
