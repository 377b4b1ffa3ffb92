"""The change feed on PostgreSQL: the `events` table the triggers fill, and `LISTEN` for being woken.

The triggers (schema version 1) record every change in the writer's own transaction and `NOTIFY`
the schema's channel, which PostgreSQL delivers at the commit, once per transaction. `data_version`
counts the notifications that arrived (no query: it reads what the server already sent), so the
waiting loops of `claim --wait` and the server's event hub, made for SQLite's `PRAGMA data_version`,
see a commit on any machine without polling the table.

Reading past a `seq`: sequence numbers are taken when a row is written, not when its transaction
commits, so a reader skips events of transactions still running (their ids are at or above the
oldest running transaction, `pg_snapshot_xmin`): an event is read once everything written before
it by a transaction started earlier has committed.

Waiting: `wake_fd` is the listening connection's socket. A waiter blocks on it (`select`, or the
event loop's `add_reader`) instead of sleeping between looks: a NOTIFY, or the connection ending,
makes it readable, and `data_version` then reads what arrived. That connection only listens (the
table is read on a second one, opened on first use): a query on it would read a NOTIFY off the
socket into psycopg's backlog, and a waiter on the socket would miss it.

The feed's connections outlive PostgreSQL restarts: a lost one is replaced on the next use
(LISTEN again), and `data_version` then moves as though a commit had been seen, since notifications
sent while nobody listened are gone: waiters look again and readers re-read the table, so no
wake-up is lost. While the server cannot be reached, each use raises one `StorageError` saying so.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from . import errors
from .migrations import migrate
from .schema import channel

if TYPE_CHECKING:
    import psycopg

    from .store import PostgresStore

_SETTLED = "xid < pg_snapshot_xmin(pg_current_snapshot())"
SELECT_AFTER = (
    f"SELECT seq, kind, subject_id, stream_id, status, at FROM events WHERE seq > %s AND {_SETTLED} "
    "ORDER BY seq LIMIT %s"
)
SELECT_LAST = f"SELECT COALESCE(MAX(seq), 0) FROM events WHERE {_SETTLED}"
TRIM_EVENTS = (
    "DELETE FROM events WHERE seq IN (SELECT seq FROM events "
    "WHERE seq <= (SELECT COALESCE(MAX(seq), 0) FROM events) - %s ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED)"
)

#: events kept for clients that reconnect with Last-Event-ID (as on SQLite)
KEEP_EVENTS = 100_000
TRIM_BATCH = 20_000
TRIM_PAUSE = 0.1


class ChangeFeed:
    """Listens on the schema's channel on a connection of its own, and reads the events table on another."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._where = store.where
        self._version = 0
        #: replacing a lost connection: the server's event hub reads the feed from several threads
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] = self._listen(migrated=False)
        #: the events table's reader, opened on first use (`claim --wait` never reads it)
        self._reader: psycopg.Connection[Any] | None = None

    def _listen(self, *, migrated: bool = True) -> psycopg.Connection[Any]:
        """A new connection listening on the schema's channel (the schema made first, on the first one)."""
        import psycopg

        conn = self._store.connect()
        try:
            if not migrated:
                migrate(conn, self._store.schema, self._where)
            conn.execute(f'LISTEN "{channel(self._store.schema)}"')
        except psycopg.Error as exc:
            conn.close()
            raise (errors.translate(exc, self._where) or errors.lost(self._where)) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _connection(self) -> psycopg.Connection[Any]:
        """The listening connection; a lost one replaced first (or the error saying why it cannot be).

        What was committed while it was lost notified nobody, so `data_version` moves: whoever waits
        looks again, and the hub re-reads the table (no wake-up is lost).
        """
        conn = self._conn
        if not (conn.closed or conn.broken):
            return conn
        with self._lock:
            if self._conn is conn:  # not replaced by another thread meanwhile
                conn.close()
                self._conn = self._listen()
                self._version += 1
            return self._conn

    def data_version(self) -> int:
        """Moves whenever a transaction that changed something committed since the last look (on any machine)."""
        import psycopg

        conn = self._connection()
        try:
            self._version += sum(1 for _ in conn.notifies(timeout=0))
        except psycopg.Error:
            conn.close()  # the server restarted (or dropped us): listen again at once, or say why not
            self._connection()
        return self._version

    def wake_fd(self) -> int | None:
        """The listening connection's socket: readable once a NOTIFY arrived (or the connection ended).

        None while that connection is lost (`data_version` replaces it). Never blocks: the event
        loop asks it.
        """
        conn = self._conn
        if conn.closed or conn.broken:
            return None
        try:
            return conn.fileno()
        except Exception:  # closed by another thread since the look above
            return None

    def last_seq(self) -> int:
        row = self._query(SELECT_LAST).fetchone()
        return 0 if row is None else int(row[0])

    def after(self, seq: int, limit: int = 1000) -> list[dict[str, Any]]:
        rows = self._query(SELECT_AFTER, (seq, limit)).fetchall()
        return [{"seq": r[0], "kind": r[1], "id": r[2], "stream_id": r[3], "status": r[4], "at": r[5]} for r in rows]

    def prune(self, keep: int = KEEP_EVENTS, *, batch: int = TRIM_BATCH, pause: float = TRIM_PAUSE) -> int:
        """Delete all but the newest `keep` events, `batch` per transaction; return how many."""
        total = 0
        while True:
            deleted = self._query(TRIM_EVENTS, (max(keep, 1), batch)).rowcount
            total += deleted
            if deleted < batch:
                return total
            time.sleep(pause)

    def close(self) -> None:
        self._conn.close()
        if self._reader is not None:
            self._reader.close()

    def _reading(self) -> psycopg.Connection[Any]:
        """The reader's connection, opened (or a lost one replaced) first."""
        conn = self._reader
        if conn is not None and not (conn.closed or conn.broken):
            return conn
        with self._lock:
            if self._reader is conn:  # not replaced by another thread meanwhile
                if conn is not None:
                    conn.close()
                self._reader = self._store.connect()
            assert self._reader is not None
            return self._reader

    def _query(self, sql: str, params: Any = None) -> psycopg.Cursor[Any]:
        """Run one statement (in autocommit); on a connection lost since the last, once more on a new one.

        Safe to repeat: the reads are reads, and a trim that was cut off deletes what is still there.
        """
        import psycopg

        for attempt in (1, 2):
            conn = self._reading()
            try:
                return conn.execute(sql, params)
            except psycopg.Error as exc:
                if attempt == 1 and (conn.closed or conn.broken):
                    continue
                raise (errors.translate(exc, self._where) or errors.lost(self._where)) from exc
        raise AssertionError("unreachable")
