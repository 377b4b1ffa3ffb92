"""Every query of the SQLite adapter, by EXPLAIN QUERY PLAN: no full scan of `tasks` on a hot path, no unused index.

The statements are the ones the adapter really runs (caught by SQLite's trace callback, with their
values) while the queue does each thing it does, on a database with tasks in every status.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from sparkq_adapters.clock import SystemClock
from sparkq_adapters.sqlite import SqliteStore
from sparkq_adapters.sqlite.changes import ChangeFeed
from sparkq_domain import Queue
from tests.fakes import SequentialIds

WRITES = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Queue, SqliteStore, Path]]:
    db = tmp_path / "sparkq.db"
    store = SqliteStore(db)
    queue = Queue(store, SystemClock(), SequentialIds())
    queue.ensure_project("plans")
    queue.create_session("s")
    queue.create_stream("a", "s")
    queue.create_stream("b", "s")
    for n in range(40):
        queue.enqueue("a" if n % 2 else "b", "run-bash", {"n": n})
    for n in range(12):
        claimed = queue.claim("a" if n % 2 else "b")
        assert claimed is not None
        if n % 3 == 0:
            queue.complete(claimed.task.id, {"summary": "ok"})
        elif n % 3 == 1:
            queue.fail(claimed.task.id, "broke")
    yield queue, store, db
    store.close()


@contextmanager
def traced(conn: sqlite3.Connection) -> Iterator[list[str]]:
    seen: list[str] = []
    conn.set_trace_callback(lambda sql: seen.append(sql) if sql.lstrip().upper().startswith(WRITES) else None)
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)


def plan(conn: sqlite3.Connection, sql: str) -> str:
    return " | ".join(str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql))


def hot_operations(queue: Queue) -> list[Callable[[], object]]:
    def cycle() -> None:
        task = queue.enqueue("a", "run-bash", {"hot": True})
        queue.peek("a")
        claimed = queue.claim("a")
        assert claimed is not None
        queue.complete(claimed.task.id, {"summary": "ok"})
        queue.get_task(task.id)
        other = queue.enqueue("b", "run-bash", {"hot": True})
        queue.claim_task(other.id)
        queue.fail(other.id, "broke")
        queue.claim("a")

    return [cycle]


def other_operations(queue: Queue) -> list[Callable[[], object]]:
    return [
        lambda: queue.list_tasks(),
        lambda: queue.list_tasks(newest_first=False, offset=3),
        lambda: queue.list_tasks(stream="a"),
        lambda: queue.list_tasks(status="failed"),
        lambda: queue.list_tasks(stream="a", status="queued"),
        lambda: queue.list_tasks(stale=True),
        # a search reads every task the other filters leave (a look through history, off the worker's cycle)
        lambda: queue.list_tasks(search="BROKE"),
        lambda: queue.list_tasks(stream="a", search='"n":1', tool="run-bash"),
        lambda: queue.list_tasks(status="failed", tool="run-bash", search="o"),
        lambda: queue.list_tasks(stale=True, tool="run-bash"),
        lambda: queue.list_streams(),
        lambda: queue.stream_counts("a"),
        lambda: queue.status_counts(),
        lambda: queue.stats(),
        lambda: queue.list_sessions(),
        lambda: queue.task_detail(queue.list_tasks(limit=1).tasks[0].id),
        lambda: queue.purge(timedelta(0), batch_size=2, pause=0),
        lambda: queue.sweep_dead(),
    ]


def test_no_hot_path_statement_scans_the_tasks_table(setup: tuple[Queue, SqliteStore, Path]) -> None:
    queue, store, _ = setup
    conn = store.connection()
    with traced(conn) as seen:
        for operation in hot_operations(queue):
            operation()
    assert len(seen) >= 10
    scans = {sql: p for sql in seen if re.search(r"\bSCAN tasks\b", p := plan(conn, sql))}
    assert scans == {}


def test_every_index_on_tasks_serves_some_query_of_the_adapter(setup: tuple[Queue, SqliteStore, Path]) -> None:
    queue, store, db = setup
    conn = store.connection()
    with traced(conn) as seen:
        for operation in hot_operations(queue) + other_operations(queue):
            operation()
    feed = ChangeFeed(db)
    try:
        with traced(feed._conn) as feed_seen:  # the feed's own connection (test-only look inside)
            feed.last_seq()
            feed.after(0, 10)
            feed.prune(keep=5, batch=3, pause=0)
    finally:
        feed.close()
    used = " | ".join(plan(conn, sql) for sql in seen + feed_seen)
    indexes = {
        name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks'")
    }
    assert indexes, "the schema has indexes on tasks"
    unused = {name for name in indexes if not re.search(rf"\b{name}\b", used)}
    assert unused == set(), f"indexes that no query uses: {sorted(unused)}"
