"""The PostgreSQL store: a pool of connections, one transaction per unit of work, the schema migrated at first use.

Several processes on several machines may use one database at once: a write unit is an ordinary
READ COMMITTED transaction (row locks, not one writer at a time), and the repository's transitions
are single statements that stay correct under that (`FOR UPDATE SKIP LOCKED`, compare-and-set).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sparkq_domain.errors import SparkQError

from . import errors
from .migrations import migrate
from .repository import PostgresRepository

if TYPE_CHECKING:
    import psycopg

#: seconds to wait for a connection (at connect, and for a free one from the pool)
DEFAULT_TIMEOUT = 5.0
#: connections the pool keeps at most: a CLI command uses one; the server one per busy request thread
DEFAULT_POOL_SIZE = 8


class PostgresStore:
    """Satisfies `sparkq_domain.Store` on a PostgreSQL database, its tables in the schema `schema`."""

    def __init__(
        self,
        url: str,
        *,
        schema: str = "sparkq",
        pool_size: int = DEFAULT_POOL_SIZE,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        from ..config import redact_url

        self.url = url
        self.schema = schema
        #: the URL as every message shows it: without its password
        self.where = redact_url(url)
        self._pool_size = pool_size
        self._timeout = timeout
        self._pool: Pool | None = None
        self._lock = threading.Lock()

    def read(self) -> Unit:
        """A read unit: one consistent snapshot (REPEATABLE READ, READ ONLY); a lost connection is retried in it."""
        return Unit(self, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", replays=True)

    def write(self) -> Unit:
        """A write unit: one atomic transaction (READ COMMITTED; the transitions lock their rows)."""
        return Unit(self, "BEGIN")

    def connect(self) -> psycopg.Connection[Any]:
        """A connection of its own (autocommit, the schema on its search path), or the error naming the fix."""
        import psycopg

        try:
            return psycopg.connect(self.url, **self._options())
        except psycopg.Error as exc:
            raise errors.connect_failure(exc, self.where) from None

    def _options(self) -> dict[str, Any]:
        # the schema name is checked by the config (lowercase letters, digits, `_`): safe in an option. No JIT:
        # its compiling pays off for long analytic queries, never for these short ones, and the planner's
        # guess for the sweep's per-timeout seeks (it cannot know there are a handful) passed jit_above_cost on
        # a large table: 50-100 ms of compiling on every claim
        return {
            "autocommit": True,
            "connect_timeout": max(1, round(self._timeout)),
            "options": f"-c search_path={self.schema} -c jit=off",
            "application_name": "sparkq",
        }

    def pool(self) -> Pool:
        """The pool, opened (and the schema migrated) on first use."""
        pool = self._pool
        if pool is None:
            with self._lock:
                pool = self._pool
                if pool is None:
                    first = self.connect()
                    try:
                        migrate(first, self.schema, self.where)
                    except BaseException:
                        first.close()
                        raise
                    pool = self._pool = Pool(self.connect, self._pool_size, self._timeout, self.where)
                    pool.put(first, taken=False)
        return pool

    def close(self) -> None:
        """Close the connections the pool keeps."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


class Pool:
    """Connections kept open between units of work, at most `size` in use at once.

    Opened in the calling thread when none is idle, so a failed connection is reported as libpq said
    it; no threads of its own (a CLI command opens one connection and ends). A connection goes back
    only when it is healthy and outside a transaction; a broken one is closed and forgotten.
    """

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]], size: int, timeout: float, where: str) -> None:
        self._connect = connect
        self._timeout = timeout
        self._where = where
        self._size = size
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)

    def get(self) -> psycopg.Connection[Any]:
        """An idle connection (the most recently used), or a new one; waits while `size` are in use."""
        if not self._slots.acquire(timeout=self._timeout):
            raise errors.pool_exhausted(self._where, self._size, self._timeout)
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            try:
                conn = self._connect()
            except BaseException:
                self._slots.release()
                raise
        return conn

    def put(self, conn: psycopg.Connection[Any], *, taken: bool = True) -> None:
        """Give back a connection that `get` handed out (`taken=False`: one opened beside the pool)."""
        from psycopg.pq import TransactionStatus

        try:
            if not conn.broken and conn.info.transaction_status == TransactionStatus.IDLE:
                with self._lock:
                    self._idle.append(conn)
            else:
                conn.close()
        finally:
            if taken:
                self._slots.release()

    def discard(self, conn: psycopg.Connection[Any]) -> None:
        """Close a connection that `get` handed out and that must not be used again."""
        try:
            conn.close()
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close the idle connections (those in use are closed as they come back broken, or kept)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class Unit:
    """One transaction on a connection from the pool: BEGIN on enter; COMMIT, or ROLLBACK on an exception.

    BEGIN, COMMIT and ROLLBACK go straight to libpq (`_command`), and the unit's statements share one
    cursor: psycopg's general path (a cursor, its adapters and its result handling per statement) took
    more of the client's time than the server took to run them (see bench/postgres.py).

    A lost connection is retried where that is known to be safe: at BEGIN, for every unit (nothing else
    was sent yet), and anywhere in a read unit (`_Replaying`: only if its earlier reads come out the
    same). Never in a write unit after BEGIN (its earlier statements went with the transaction), nor a
    COMMIT that got no answer: it may or may not have been applied, and the error says so (`errors.lost`).
    """

    __slots__ = ("_begin", "_conn", "_replays", "_store")

    def __init__(self, store: PostgresStore, begin: str, *, replays: bool = False) -> None:
        self._conn: psycopg.Connection[Any] | None = None
        self._store = store
        self._begin = begin.encode()
        self._replays = replays

    def __enter__(self) -> PostgresRepository:
        import psycopg

        pool = self._store.pool()
        for attempt in (1, 2):
            conn = self._conn = pool.get()
            try:
                _command(conn, self._begin)
                return PostgresRepository(_Replaying(self, conn) if self._replays else conn.cursor())
            except psycopg.Error as exc:
                pool.discard(conn)
                # an idle connection the server dropped since (a restart, an idle timeout): nothing was
                # sent but BEGIN, so trying once more on a new connection is safe. The other idle ones
                # were most likely dropped with it (a restart ends them all): closed too, so the retry
                # opens a new one instead of failing on the next dead one
                if attempt == 2 or not isinstance(exc, psycopg.OperationalError):
                    raise _failure(exc, self._store.where) from exc
                pool.close()
        raise AssertionError("unreachable")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        import psycopg

        conn = self._conn
        if conn is None:  # lost, and no new one could be opened (the error says why): the pool has its slot back
            translated = errors.translate(exc, self._store.where) if exc is not None else None
            if translated is not None:
                raise translated from exc
            return
        pool = self._store.pool()
        try:
            if exc is None:
                try:
                    _command(conn, b"COMMIT")
                except psycopg.Error as error:
                    raise _failure(error, self._store.where) from error
                return
            try:
                if not conn.closed:
                    _command(conn, b"ROLLBACK")
            except psycopg.Error:
                pass  # the connection broke: the server ended the transaction, and the pool drops it
            translated = errors.translate(exc, self._store.where)
            if translated is not None:
                raise translated from exc
        finally:
            pool.put(conn)


class _Replaying:
    """The cursor of a read unit, which survives the loss of its connection when that changes nothing it read.

    Every statement's rows are kept. When the connection is lost (a server restart, a failover), the unit
    begins again on a new connection, runs its earlier statements again and compares: the same rows, and
    the new snapshot is one the unit's earlier reads agree with, so the unit goes on in it as if nothing
    happened; other rows (something committed in between), and the loss is reported, as in a write unit.
    Once per unit: a server that keeps going away is reported.
    """

    __slots__ = ("_conn", "_cur", "_done", "_rows", "_unit", "rowcount")

    def __init__(self, unit: Unit, conn: psycopg.Connection[Any]) -> None:
        self._unit = unit
        self._conn = conn
        self._cur = conn.cursor()
        self._done: list[tuple[str, Any, list[tuple[Any, ...]]]] | None = []
        self._rows: list[tuple[Any, ...]] = []
        self.rowcount = -1

    def execute(self, sql: str, params: Any = None) -> _Replaying:
        import psycopg

        try:
            rows = self._run(sql, params)
        except psycopg.OperationalError:
            if not self._conn.broken or self._done is None:
                raise
            rows = self._again(sql, params)
        if self._done is not None:
            self._done.append((sql, params, rows))
        self._rows, self.rowcount = rows, len(rows)
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows

    def _run(self, sql: str, params: Any) -> list[tuple[Any, ...]]:
        return self._cur.execute(sql, params).fetchall()

    def _again(self, sql: str, params: Any) -> list[tuple[Any, ...]]:
        unit, done = self._unit, self._done
        assert done is not None
        self._done = None  # once
        pool = unit._store.pool()
        unit._conn = None
        pool.discard(self._conn)
        pool.close()  # the other idle connections were most likely ended with it
        conn = unit._conn = self._conn = pool.get()
        _command(conn, unit._begin)
        self._cur = conn.cursor()
        for earlier, earlier_params, rows in done:
            if self._run(earlier, earlier_params) != rows:
                raise errors.lost(unit._store.where)
        return self._run(sql, params)


def _command(conn: psycopg.Connection[Any], command: bytes) -> None:
    """Run a statement without parameters or rows (BEGIN, COMMIT) through libpq itself, or raise psycopg's error.

    libpq waits for the answer with the GIL released, as psycopg's own path does.
    """
    import psycopg
    from psycopg.pq import ConnStatus, ExecStatus

    result = conn.pgconn.exec_(command)
    if result.status == ExecStatus.COMMAND_OK:
        return
    if conn.pgconn.status == ConnStatus.BAD:  # the server went away: no SQLSTATE to tell it by
        message = conn.pgconn.error_message.decode(errors="replace").strip()
        raise psycopg.OperationalError(message or "the connection to the server was lost")
    raise psycopg.errors.error_from_result(result, encoding=conn.info.encoding)


def _failure(exc: psycopg.Error, where: str) -> SparkQError:
    error = errors.translate(exc, where)
    assert error is not None
    return error
