"""A PostgreSQL schema as either end of a copy (`sparkq_adapters.transfer`): a snapshot to read, a transaction to fill.

The source is read in one REPEATABLE READ, READ ONLY transaction through a server-side cursor (the
rows never all sit in memory); the target is filled with `COPY ... FROM STDIN`, in one transaction
that holds its tables locked (no enqueue slips in between the check that it is empty and the
commit) and with the change-feed triggers off: copied rows are not news, and the target starts a
fresh feed. The identity columns (`seq`) are moved past the copied values, so new rows come after.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sparkq_domain.errors import SparkQError, StorageError

from ..transfer import TABLES, Counts, Rows, counted
from . import errors
from .migrations import migrate

if TYPE_CHECKING:
    import psycopg

    from .store import PostgresStore

COLUMNS = (
    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
    "ORDER BY ordinal_position"
)
#: the tables whose `seq` is an identity column that new rows draw from
_IDENTITIES = ("sessions", "streams", "tasks")
SET_IDENTITY = (
    "SELECT setval(pg_get_serial_sequence(%(table)s, 'seq'), COALESCE(MAX(seq), 1), MAX(seq) IS NOT NULL) FROM {table}"
)
#: long enough for a server's claim to finish, short enough that a busy target is reported, not waited on
LOCK_TIMEOUT = "5s"


class PostgresEnd:
    """One connection to the database, inside the transaction that `source()` or `target()` holds open."""

    def __init__(self, conn: psycopg.Connection[Any], schema: str, where: str) -> None:
        self._conn = conn
        self._schema = schema
        self.where = where

    def columns(self, table: str) -> list[str]:
        return [str(row[0]) for row in self._run(COLUMNS, (self._schema, table)).fetchall()]

    def counts(self) -> Counts:
        return counted(self._run)

    def rows(self, table: str, columns: Sequence[str], batch: int) -> Iterator[Rows]:
        import psycopg

        order = "seq" if table in _IDENTITIES else "created_at, id"
        try:
            with self._conn.cursor(name=f"sparkq_copy_{table}") as cursor:
                cursor.itersize = batch
                cursor.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")
                while found := cursor.fetchmany(batch):
                    yield found
        except psycopg.Error as exc:
            raise self._failure(exc) from exc

    def drop_projects(self) -> None:
        self._run("DELETE FROM projects")

    def insert(self, table: str, columns: Sequence[str], rows: Rows) -> None:
        import psycopg

        try:
            with self._conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as exc:
            raise self._failure(exc) from exc

    def finish(self) -> None:
        for table in _IDENTITIES:
            self._run(SET_IDENTITY.format(table=table), {"table": table})

    def _run(self, sql: str, params: Any = None) -> psycopg.Cursor[Any]:
        import psycopg

        try:
            return self._conn.execute(sql, params)
        except psycopg.Error as exc:
            raise self._failure(exc) from exc

    def _failure(self, exc: BaseException) -> SparkQError:
        return errors.translate(exc, self.where) or StorageError(f"PostgreSQL at {self.where}: {exc}")


@contextmanager
def source(store: PostgresStore) -> Iterator[PostgresEnd]:
    """The store's schema as a source: one snapshot (REPEATABLE READ, READ ONLY) for the whole copy."""
    with _connection(store) as conn:
        end = PostgresEnd(conn, store.schema, store.where)
        end._run("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        try:
            yield end
        finally:
            _rollback(conn)


@contextmanager
def target(store: PostgresStore) -> Iterator[PostgresEnd]:
    """The store's schema as a target: one transaction, its tables locked, committed when the block succeeds."""
    with _connection(store) as conn:
        end = PostgresEnd(conn, store.schema, store.where)
        end._run("BEGIN")
        try:
            end._run(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            # readers may look on (and see nothing until the commit); no one else writes meanwhile
            end._run(f"LOCK TABLE {', '.join(TABLES)} IN EXCLUSIVE MODE")
            for table in TABLES:
                end._run(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            yield end
            for table in TABLES:
                end._run(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        except BaseException:
            _rollback(conn)
            raise
        end._run("COMMIT")


@contextmanager
def _connection(store: PostgresStore) -> Iterator[psycopg.Connection[Any]]:
    conn = store.connect()
    try:
        migrate(conn, store.schema, store.where)  # the schema at this SparkQ's version, made by its migrations
        yield conn
    finally:
        conn.close()


def _rollback(conn: psycopg.Connection[Any]) -> None:
    import psycopg

    try:
        if not conn.closed:
            conn.execute("ROLLBACK")
    except psycopg.Error:
        pass  # the connection broke: the server ended the transaction anyway
