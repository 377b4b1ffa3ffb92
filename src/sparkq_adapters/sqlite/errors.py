"""SQLite's errors as SparkQ's storage errors, told apart by their result codes (never their message text).

Each message names the database file and what to do about the problem. The codes come from
`sqlite3.Error.sqlite_errorcode` (an extended code; its low byte is the primary code); errors that
the `sqlite3` module raises itself (a closed connection, ...) carry none and get the general message.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sparkq_domain.errors import StorageBusy, StorageCorrupt, StorageError, StorageFull

#: extended codes of a constraint that keeps a value unique (a PRIMARY KEY or UNIQUE column or index)
UNIQUENESS_CODES = frozenset({sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY})
#: extended codes of a write or size change that failed (where EFBIG ends up)
_GROWTH_CODES = frozenset({sqlite3.SQLITE_IOERR_WRITE, sqlite3.SQLITE_IOERR_TRUNCATE, sqlite3.SQLITE_IOERR_SHMSIZE})


def error_code(exc: sqlite3.Error) -> int | None:
    """The extended result code SQLite gave `exc`; None for errors of the `sqlite3` module itself."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code if isinstance(code, int) else None


def primary_code(exc: sqlite3.Error) -> int | None:
    """The primary result code of `exc` (SQLITE_BUSY for SQLITE_BUSY_SNAPSHOT, ...), or None."""
    code = error_code(exc)
    return None if code is None else code & 0xFF


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether another connection holds a lock that `exc` ran into."""
    return primary_code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def is_duplicate(exc: sqlite3.Error) -> bool:
    """Whether `exc` is a PRIMARY KEY or UNIQUE constraint refusing a value that exists already."""
    return error_code(exc) in UNIQUENESS_CODES


def translate(exc: sqlite3.Error, db: Path, *, busy_timeout_ms: int) -> StorageError:
    """`exc` as the storage error that names `db` and the fix."""
    code = error_code(exc)
    primary = primary_code(exc)
    if is_busy(exc):
        return busy(db, busy_timeout_ms=busy_timeout_ms)
    if primary == sqlite3.SQLITE_FULL:
        return StorageFull(full_message(db))
    if primary == sqlite3.SQLITE_NOTADB:
        return StorageCorrupt(
            f"{db} is not a SQLite database. SparkQ will not overwrite it: move it away, or point "
            "database.path in sparkq.yml at another file (if it was SparkQ's database, its first page is "
            "damaged: restore it from a backup)"
        )
    if primary == sqlite3.SQLITE_CORRUPT:
        return StorageCorrupt(f"The database {db} is damaged ({exc}). {damaged_advice()}")
    if primary == sqlite3.SQLITE_IOERR:
        return io_error(exc, db)
    if primary == sqlite3.SQLITE_READONLY:
        return StorageError(f"The database {db} is read-only; check its permissions and those of its folder")
    if primary == sqlite3.SQLITE_CANTOPEN:
        return StorageError(f"Cannot open the database {db}; check that its folder exists and is writable")
    name = getattr(exc, "sqlite_errorname", None) or (f"code {code}" if code is not None else "")
    return StorageError(
        f"Database error on {db}: {exc}{f' ({name})' if name else ''}. If it persists, check the file "
        f"with `sqlite3 {db} 'PRAGMA integrity_check'`"
    )


def busy(db: Path, *, busy_timeout_ms: int) -> StorageBusy:
    """The error of a writer that waited its whole busy timeout for the lock."""
    return StorageBusy(
        f"The database {db} is locked by another process (waited {busy_timeout_ms} ms); "
        "try again in a moment. If it stays locked, a program holds a long write transaction on it: "
        "end that program, or raise database.busy_timeout_ms in sparkq.yml"
    )


def damaged_advice() -> str:
    """What to do with a damaged database file (the end of every message about one)."""
    return (
        "SparkQ will not change it: restore it from a backup, or move it away to start with a new, empty "
        "database (keep the moved file: the sqlite3 shell's `.recover` may salvage rows from it)"
    )


def full_message(db: Path) -> str:
    """A full disk, naming this process's file-size limit when there is one (SQLite cannot tell them apart)."""
    limit = file_size_limit()
    if limit is None:
        return f"The disk holding {db} is full; nothing was written. Free some space and try again"
    return (
        f"The disk holding {db} is full, or the database reached this process's file-size limit "
        f"({limit} bytes, `ulimit -f`); nothing was written. Free some space or raise the limit, and try again"
    )


def io_error(exc: sqlite3.Error, db: Path) -> StorageError:
    """A failed read or write: name the likely cause, since SQLite's "disk I/O error" does not."""
    limit = file_size_limit() if error_code(exc) in _GROWTH_CODES else None
    if limit is not None:
        # EFBIG: SQLite reports SQLITE_FULL only for ENOSPC or a short write
        return StorageFull(
            f"Cannot write to the database {db}: its files would grow past this process's file-size "
            f"limit ({limit} bytes, `ulimit -f`); nothing was written. Raise the limit (`ulimit -f "
            "unlimited` in the shell that starts SparkQ) and try again"
        )
    if free_bytes(db.parent) == 0:
        return StorageFull(full_message(db))
    name = getattr(exc, "sqlite_errorname", None) or "SQLITE_IOERR"
    return StorageError(
        f"Disk I/O error on the database {db} ({name}). Check that its disk is not full, over quota or "
        f"failing (`df -h {db.parent}`, the system log), then try again"
    )


def file_size_limit() -> int | None:
    """This process's file-size limit (`ulimit -f`) in bytes, or None when there is none."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def free_bytes(folder: Path) -> int | None:
    """Bytes free for this user on the file system holding `folder` (None if unknown)."""
    try:
        stats = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return int(stats.f_bavail * stats.f_frsize)
