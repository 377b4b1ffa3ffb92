"""Units of work: one transaction on a store's connection, the repository that works inside it."""

from __future__ import annotations

import sqlite3
from types import TracebackType
from typing import TYPE_CHECKING

from sparkq_domain.errors import InvalidInput

from .repository import SqliteRepository

if TYPE_CHECKING:
    from .store import SqliteStore
    from .writers import WriterLock


class Unit:
    """One transaction on this thread's connection: BEGIN on enter; COMMIT, or ROLLBACK on an exception.

    A write unit holds the store's `WriterLock` from before BEGIN until after COMMIT or ROLLBACK.
    SQLite's errors leave it as the store's storage errors (`SqliteStore.failure`). A plain class
    rather than a generator context manager: every queue operation opens one, so it is on the hot path.
    """

    __slots__ = ("_begin", "_conn", "_store", "_writers")

    def __init__(self, store: SqliteStore, begin: str, writers: WriterLock | None = None) -> None:
        self._store = store
        self._begin = begin
        self._writers = writers

    def __enter__(self) -> SqliteRepository:
        conn = self._conn = self._store.connection()
        writers = self._writers
        if writers is not None:
            writers.acquire()
        try:
            conn.execute(self._begin)
        except BaseException as exc:
            if writers is not None:
                writers.release()
            if isinstance(exc, sqlite3.Error):
                raise self._store.failure(exc) from exc
            raise
        return SqliteRepository(conn)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._end(exc)
        finally:
            if self._writers is not None:
                self._writers.release()

    def _end(self, exc: BaseException | None) -> None:
        conn = self._conn
        if exc is None:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as error:
                rollback(conn)
                raise self._store.failure(error) from error
            return
        rollback(conn)
        if isinstance(exc, sqlite3.Error):
            raise self._store.failure(exc) from exc
        if isinstance(exc, UnicodeEncodeError):
            # text with lone surrogates (e.g. undecodable command-line bytes) cannot be stored
            raise InvalidInput(
                "The text contains characters that are not valid Unicode (lone surrogates); send UTF-8 text"
            ) from exc


def rollback(conn: sqlite3.Connection) -> None:
    """End the open transaction on `conn`, if any, undoing it."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite already rolled back (e.g. after SQLITE_FULL); nothing is left to undo
