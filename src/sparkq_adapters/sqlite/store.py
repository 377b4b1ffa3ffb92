"""The SQLite store: one WAL database file, a connection per thread, one transaction per unit of work."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from types import TracebackType

from sparkq_domain.errors import InvalidInput, SparkQError, StorageBusy, StorageCorrupt, StorageError, StorageFull

from .repository import SqliteRepository
from .schema import LATEST_VERSION, MIGRATIONS, statements

OWN_TABLES = frozenset({"projects", "sessions", "streams", "tasks"})
SYNCHRONOUS_MODES = ("off", "normal", "full", "extra")
DEFAULT_BUSY_TIMEOUT_MS = 5000


class SqliteStore:
    """Satisfies `sparkq_domain.Store` on a SQLite file in WAL mode.

    Write units begin with `BEGIN IMMEDIATE`, so they take the write lock up front and wait for
    it under `busy_timeout` instead of failing half-way when a read upgrades to a write.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "normal",
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> None:
        if synchronous.lower() not in SYNCHRONOUS_MODES:
            raise StorageError(f"Unknown synchronous mode {synchronous!r}; use one of {', '.join(SYNCHRONOUS_MODES)}")
        self.path = Path(path)
        self._synchronous = synchronous.upper()
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._migrated = False
        self._migrate_lock = threading.Lock()

    # -- units of work -------------------------------------------------------------------------

    def read(self) -> _Unit:
        """A read unit: one consistent snapshot (a deferred transaction)."""
        return _Unit(self, "BEGIN")

    def write(self) -> _Unit:
        """A write unit: atomic, and serialized with every other writer of the file."""
        return _Unit(self, "BEGIN IMMEDIATE")

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite already rolled back (e.g. after SQLITE_FULL); nothing is left to undo

    # -- connections ---------------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened (and the schema migrated) on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _open(self) -> sqlite3.Connection:
        self._check_folder()
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout_ms / 1000
            )
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            if not self._migrated:
                self._migrate(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise self._translate(exc) from exc
        except SparkQError:
            conn.close()
            raise
        return conn

    def _check_folder(self) -> None:
        # Never open() the database file itself here: closing any descriptor of the file drops
        # every POSIX lock this process holds on it, including those of live SQLite connections,
        # and another process may then delete the WAL under them (lost commits). SQLite itself
        # tells a file that is not a database (SQLITE_NOTADB) without writing to it.
        if not self.path.parent.is_dir():
            raise StorageError(
                f"The database folder {self.path.parent} does not exist; create it or set database.path in sparkq.yml"
            )

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with self._migrate_lock:
            if self._migrated:
                return
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                self._refuse_foreign(conn)
            if version > LATEST_VERSION:
                raise StorageError(
                    f"{self.path} was written by a newer SparkQ (schema {version}, this one knows {LATEST_VERSION}); "
                    "upgrade SparkQ to open it"
                )
            self._enable_wal(conn)
            if version < LATEST_VERSION:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    # another process may have migrated while we waited for the lock
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    for script in MIGRATIONS[version:]:
                        for statement in statements(script):
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {LATEST_VERSION}")
                    conn.execute("COMMIT")
                except BaseException:
                    self._rollback(conn)
                    raise
            self._migrated = True

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL mode, waiting up to the busy timeout for the lock it needs.

        The switch takes an exclusive lock, and when processes open a new file at the same moment
        SQLite reports the clash at once (SQLITE_BUSY without calling the busy handler), so retry here.
        """
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                busy = (getattr(exc, "sqlite_errorname", "") or "").startswith("SQLITE_BUSY")
                if not busy or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)

    def _refuse_foreign(self, conn: sqlite3.Connection) -> None:
        """A database of another program (tables, none of ours) is left alone."""
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and not tables & OWN_TABLES:
            shown = ", ".join(sorted(tables)[:5])
            raise StorageCorrupt(
                f"{self.path} is the SQLite database of another program (tables: {shown}). SparkQ will not "
                "change it: point database.path in sparkq.yml at another file"
            )

    def integrity_check(self) -> str:
        """Return SQLite's verdict on the file: `ok` or the problems found."""
        with self.read() as _:
            rows = self.connection().execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)

    def _translate(self, exc: sqlite3.Error) -> StorageError:
        name = getattr(exc, "sqlite_errorname", "") or ""
        text = str(exc)
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
            return StorageBusy(
                f"The database {self.path} is locked by another process (waited {self._busy_timeout_ms} ms); "
                "try again in a moment"
            )
        if name.startswith("SQLITE_FULL") or "disk is full" in text:
            return StorageFull(
                f"The disk holding {self.path} is full; nothing was written. Free some space and try again"
            )
        if name.startswith("SQLITE_NOTADB") or "not a database" in text:
            return StorageCorrupt(
                f"{self.path} is not a SQLite database. SparkQ will not overwrite it: move it away, "
                "or point database.path in sparkq.yml at another file"
            )
        if name.startswith("SQLITE_CORRUPT") or "malformed" in text:
            return StorageCorrupt(
                f"The database {self.path} is damaged ({text}). SparkQ will not overwrite it: restore it from a "
                "backup or move it away to start afresh"
            )
        if name.startswith("SQLITE_READONLY"):
            return StorageError(f"The database {self.path} is read-only; check its permissions")
        if name.startswith("SQLITE_CANTOPEN"):
            return StorageError(f"Cannot open the database {self.path}; check that its folder exists and is writable")
        return StorageError(f"Database error on {self.path}: {text}")


class _Unit:
    """One transaction on this thread's connection: BEGIN on enter; COMMIT, or ROLLBACK on an exception.

    A plain class rather than a generator context manager: every queue operation opens one, so it is
    on the hot path.
    """

    __slots__ = ("_begin", "_conn", "_store")

    def __init__(self, store: SqliteStore, begin: str) -> None:
        self._store = store
        self._begin = begin

    def __enter__(self) -> SqliteRepository:
        conn = self._conn = self._store.connection()
        try:
            conn.execute(self._begin)
        except sqlite3.Error as exc:
            raise self._store._translate(exc) from exc
        return SqliteRepository(conn)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn = self._conn
        if exc is None:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as error:
                self._store._rollback(conn)
                raise self._store._translate(error) from error
            return
        self._store._rollback(conn)
        if isinstance(exc, sqlite3.Error):
            raise self._store._translate(exc) from exc
        if isinstance(exc, UnicodeEncodeError):
            # text with lone surrogates (e.g. undecodable command-line bytes) cannot be stored
            raise InvalidInput(
                "The text contains characters that are not valid Unicode (lone surrogates); send UTF-8 text"
            ) from exc
