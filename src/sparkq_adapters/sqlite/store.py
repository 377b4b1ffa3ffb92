"""The SQLite store: one WAL database file, a connection per thread, one transaction per unit of work.

Its parts live beside it: units of work (`units`), checks of the file (`forensics`), the schema's
migrations (`migrations`) and SQLite's errors as storage errors (`errors`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from sparkq_domain.errors import SparkQError, StorageCorrupt, StorageError

from ..config import SYNCHRONOUS_MODES  # the one list: `off` is refused (a power loss could corrupt the file)
from . import errors, forensics
from .checkpoints import Checkpointer
from .migrations import migrate
from .units import Unit
from .writers import WriterLock

DEFAULT_BUSY_TIMEOUT_MS = 5000
#: WAL pages written before a commit checkpoints them into the database file (SQLite's default is
#: 1,000). Each checkpoint costs two fsyncs; a cycle (enqueue + claim + complete) writes ~25 pages, so
#: at 1,000 a checkpoint came every ~40 cycles and cost as much as the commits themselves. 4,000
#: pages is a WAL of ~16 MiB at most in normal running.
WAL_AUTOCHECKPOINT_PAGES = 4000
#: a WAL that grew past this (a long reader held the checkpoint back) is cut back to it when it restarts
JOURNAL_SIZE_LIMIT_BYTES = 32 * 1024 * 1024


class SqliteStore:
    """Satisfies `sparkq_domain.Store` on a SQLite file in WAL mode.

    Write units begin with `BEGIN IMMEDIATE`, so they take the write lock up front instead of
    failing half-way when a read upgrades to a write. Before that they queue for a `WriterLock`:
    threads of this process in turn, processes by an advisory lock beside the file, so a writer
    waits for the transactions ahead of it rather than sleeping in SQLite's busy handler (which
    retries in steps of up to 100 ms: a lottery with a tail of seconds under contention).

    With `check_pages`, the first open also runs SQLite's `quick_check` over every page (about a
    second per GB; the server does it at start, the CLI does not), telling `check_progress` (pages
    done, pages in all) as it goes. With `background_checkpoints` (the server), commits never
    checkpoint: a thread of the store does, off the request path (see `checkpoints`). Once SQLite
    reports the file damaged (SQLITE_CORRUPT, SQLITE_NOTADB), at open or later, the store refuses
    every write.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "normal",
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        check_pages: bool = False,
        check_progress: forensics.Progress | None = None,
        background_checkpoints: bool = False,
    ) -> None:
        if synchronous.lower() not in SYNCHRONOUS_MODES:
            raise StorageError(f"Unknown synchronous mode {synchronous!r}; use one of {', '.join(SYNCHRONOUS_MODES)}")
        self.path = Path(path)
        #: the file as messages name it (and its -wal / -shm siblings): always absolute
        self._where = Path(os.path.abspath(path))
        self._synchronous = synchronous.upper()
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._migrated = False
        self._migrate_lock = threading.Lock()
        self.writers = WriterLock(
            forensics.sibling(self._where, "-writer"), timeout=busy_timeout_ms / 1000, busy=self._busy
        )
        self._check_pages = check_pages
        self._check_progress = check_progress
        self._checkpointer = (
            Checkpointer(self._where, pages=WAL_AUTOCHECKPOINT_PAGES, busy_timeout_ms=busy_timeout_ms)
            if background_checkpoints
            else None
        )
        #: why the file is known to be damaged (the message every later write is refused with)
        self._damage: str | None = None

    # -- units of work -------------------------------------------------------------------------

    def read(self) -> Unit:
        """A read unit: one consistent snapshot (a deferred transaction)."""
        return Unit(self, "BEGIN")

    def write(self) -> Unit:
        """A write unit: one atomic transaction, after the writers ahead of it in the queue."""
        if self._damage is not None:
            # writing on into a damaged file spreads the damage and buries what `.recover` could save
            raise StorageCorrupt(self._damage)
        return Unit(self, "BEGIN IMMEDIATE", self.writers)

    # -- connections ---------------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened (and the schema migrated) on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            if self._checkpointer is not None:
                self._checkpointer.start()  # after the first open: the file exists and is migrated
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close with their thread), the checkpoints and the writer lock."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.writers.close()

    def _open(self) -> sqlite3.Connection:
        forensics.check_folder(self._where)
        forensics.refuse_second_name(self._where)
        probe = None
        # before the first connection of this store: what SQLite cannot see, and a first look that
        # cannot write (see `_probe`)
        if not self._migrated and forensics.check_wal_files(self._where):
            probe = self._probe()
        try:
            return self._connect(check=probe is None)
        finally:
            if probe is not None:
                probe.close()

    def _connect(self, *, check: bool) -> sqlite3.Connection:
        def setup(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            autocheckpoint = 0 if self._checkpointer is not None else WAL_AUTOCHECKPOINT_PAGES
            conn.execute(f"PRAGMA wal_autocheckpoint = {autocheckpoint}")
            conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT_BYTES}")
            if not self._migrated:
                if check:
                    forensics.inspect(conn, self._where, check_pages=self._check_pages, progress=self._check_progress)
                self._migrate(conn)

        return self._new_connection(str(self.path), uri=False, setup=setup)

    def _new_connection(
        self, database: str, *, uri: bool, setup: Callable[[sqlite3.Connection], None]
    ) -> sqlite3.Connection:
        """A connection with the busy timeout set and `setup` done; closed again if anything fails."""
        try:
            conn = sqlite3.connect(
                database, uri=uri, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout_ms / 1000
            )
        except sqlite3.Error as exc:
            raise self.failure(exc) from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            setup(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise self.failure(exc) from exc
        except SparkQError:
            conn.close()
            raise
        return conn

    def _probe(self) -> sqlite3.Connection:
        """Take the first look at a file that has a WAL through a read-only connection.

        When a read-write connection closes as the last one, SQLite copies the WAL into the main
        file (a checkpoint) and deletes it: on a damaged file that would write into it. A read-only
        connection never checkpoints. It stays open until the read-write connection has made its
        first read, so that SQLite rebuilds the WAL index once, not twice. Without a WAL there is
        nothing a checkpoint could write, and the read-write connection takes the first look.
        """

        def look(probe: sqlite3.Connection) -> None:
            # one snapshot for the whole look: while it is open, no writer can restart the WAL
            probe.execute("BEGIN")
            forensics.inspect(
                probe, self._where, wal=True, check_pages=self._check_pages, progress=self._check_progress
            )
            probe.execute("COMMIT")

        return self._new_connection(self._where.as_uri() + "?mode=ro", uri=True, setup=look)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with self._migrate_lock:
            if not self._migrated:
                migrate(conn, self._where, busy_timeout_ms=self._busy_timeout_ms)
                self._migrated = True

    def integrity_check(self) -> str:
        """Return SQLite's verdict on the file: `ok` or the problems found."""
        with self.read() as _:
            rows = self.connection().execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)

    def failure(self, exc: sqlite3.Error) -> StorageError:
        """`exc` as a storage error; a damaged file is remembered, so that no later write goes into it."""
        error = errors.translate(exc, self._where, busy_timeout_ms=self._busy_timeout_ms)
        if isinstance(error, StorageCorrupt):
            self._damage = error.message
        return error

    def _busy(self) -> StorageError:
        return errors.busy(self._where, busy_timeout_ms=self._busy_timeout_ms)
