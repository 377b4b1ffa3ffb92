"""A SQLite file as either end of a copy (`sparkq_adapters.transfer`): read in one snapshot, written in one transaction.

The file is opened (and migrated to this SparkQ's schema) by `SqliteStore` first; these ends then
work on a connection of their own, so that the whole copy is one transaction however many rows it
moves.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..transfer import Counts, Rows, counted
from . import errors

#: the order a table's rows are read in: a task's FIFO place, the others their insertion order
_ORDER = {"tasks": "seq"}


class SqliteEnd:
    """One connection to the file, inside the transaction that `source()` or `target()` holds open."""

    def __init__(self, conn: sqlite3.Connection, path: Path, busy_timeout_ms: int) -> None:
        self._conn = conn
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self.where = str(path)

    def columns(self, table: str) -> list[str]:
        return [str(row[1]) for row in self._run(f"PRAGMA table_info({table})").fetchall()]

    def counts(self) -> Counts:
        return counted(self._run)

    def rows(self, table: str, columns: Sequence[str], batch: int) -> Iterator[Rows]:
        cursor = self._run(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {_ORDER.get(table, 'rowid')}")
        while True:
            try:
                found = cursor.fetchmany(batch)
            except sqlite3.Error as exc:
                raise self._failure(exc) from exc
            if not found:
                return
            yield found

    def drop_projects(self) -> None:
        self._run("DELETE FROM projects")

    def insert(self, table: str, columns: Sequence[str], rows: Rows) -> None:
        marks = ", ".join("?" * len(columns))
        try:
            self._conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        except sqlite3.Error as exc:
            raise self._failure(exc) from exc

    def finish(self) -> None:
        # the triggers recorded every copied row as news; the copy starts with an empty feed instead
        self._run("DELETE FROM events")

    def _run(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise self._failure(exc) from exc

    def _failure(self, exc: sqlite3.Error) -> Exception:
        return errors.translate(exc, self._path, busy_timeout_ms=self._busy_timeout_ms)


@contextmanager
def source(path: Path, *, busy_timeout_ms: int) -> Iterator[SqliteEnd]:
    """The file as a source: one read transaction, so the copy is of one moment however long it takes."""
    with _connection(path, busy_timeout_ms) as conn:
        conn.execute("BEGIN")
        try:
            yield SqliteEnd(conn, path, busy_timeout_ms)
        finally:
            conn.execute("ROLLBACK")


@contextmanager
def target(path: Path, *, busy_timeout_ms: int) -> Iterator[SqliteEnd]:
    """The file as a target: one write transaction, committed only when the block ends without an error."""
    with _connection(path, busy_timeout_ms) as conn:
        end = SqliteEnd(conn, path, busy_timeout_ms)
        end._run("BEGIN IMMEDIATE")
        try:
            yield end
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        end._run("COMMIT")


@contextmanager
def _connection(path: Path, busy_timeout_ms: int) -> Iterator[sqlite3.Connection]:
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
    except sqlite3.Error as exc:
        raise errors.translate(exc, path, busy_timeout_ms=busy_timeout_ms) from exc
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        yield conn
    finally:
        conn.close()
