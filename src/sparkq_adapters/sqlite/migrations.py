"""Bring a database file to this SparkQ's schema: WAL mode, then the migrations it lacks, in one transaction."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sparkq_domain.errors import StorageCorrupt, StorageError

from .errors import primary_code
from .schema import LATEST_VERSION, MIGRATIONS, statements
from .units import rollback

#: tables of SparkQ's schema: a file with tables but none of these is another program's
OWN_TABLES = frozenset({"projects", "sessions", "streams", "tasks"})


def migrate(conn: sqlite3.Connection, db: Path, *, busy_timeout_ms: int) -> None:
    """Put `db` (open on `conn`) in WAL mode and apply `schema.MIGRATIONS` past its `user_version`.

    A file of another program, or of a newer SparkQ, is refused unchanged.
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == 0:
        _refuse_foreign(conn, db)
    if version > LATEST_VERSION:
        raise StorageError(
            f"{db} was written by a newer SparkQ (schema {version}, this one knows {LATEST_VERSION}); "
            "upgrade SparkQ to open it"
        )
    _enable_wal(conn, busy_timeout_ms)
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
            rollback(conn)
            raise


def _enable_wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """Switch the file to WAL mode, waiting up to the busy timeout for the lock it needs.

    The switch takes an exclusive lock, and when processes open a new file at the same moment
    SQLite reports the clash at once (SQLITE_BUSY without calling the busy handler), so retry here.
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if primary_code(exc) != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


def _refuse_foreign(conn: sqlite3.Connection, db: Path) -> None:
    """A database of another program (tables, none of ours) is left alone."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and not tables & OWN_TABLES:
        shown = ", ".join(sorted(tables)[:5])
        raise StorageCorrupt(
            f"{db} is the SQLite database of another program (tables: {shown}). SparkQ will not "
            "change it: point database.path in sparkq.yml at another file"
        )
