"""The SQLite repository: domain entities in and out of the tables, one connection's unit of work."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sparkq_domain import (
    FinishedTask,
    Project,
    Session,
    Status,
    Stream,
    Task,
    TaskChange,
    TaskQuery,
    TaskStatus,
)
from sparkq_domain.errors import Duplicate

from ..clock import format_time, parse_optional, parse_time
from ..records import TASK
from ..rows import PROJECT_COLUMNS, SESSION_COLUMNS, STREAM_COLUMNS, ChangeSql
from ..rows import change_params as _change_params
from ..rows import project as _project
from ..rows import project_row as _project_row
from ..rows import session as _session
from ..rows import session_row as _session_row
from ..rows import stream as _stream
from ..rows import stream_row as _stream_row
from .changes import KEEP_EVENTS, TRIM_BATCH, TRIM_EVENTS
from .errors import is_duplicate
from .schema import FINISHED_SQL, LAST_ALIVE

# -- SQL ------------------------------------------------------------------------------------------

SELECT_PROJECT = f"SELECT {PROJECT_COLUMNS} FROM projects ORDER BY created_at LIMIT 1"
UPSERT_PROJECT = f"INSERT OR REPLACE INTO projects({PROJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"

INSERT_SESSION = f"INSERT INTO sessions({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
UPDATE_SESSION = (
    "UPDATE sessions SET project_id = ?, name = ?, description = ?, status = ?, started_at = ?, "
    "ended_at = ?, created_at = ?, updated_at = ? WHERE id = ?"
)
SELECT_SESSION_BY_ID = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?"
SELECT_SESSION_BY_NAME = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE name = ? ORDER BY created_at LIMIT 1"
SELECT_SESSIONS = f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY started_at, rowid"
SELECT_SESSIONS_BY_STATUS = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE status = ? ORDER BY started_at, rowid"

INSERT_STREAM = f"INSERT INTO streams({STREAM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
UPDATE_STREAM = (
    "UPDATE streams SET session_id = ?, name = ?, instructions = ?, status = ?, created_at = ?, "
    "updated_at = ? WHERE id = ?"
)
SELECT_STREAM_BY_ID = f"SELECT {STREAM_COLUMNS} FROM streams WHERE id = ?"
SELECT_STREAM_BY_NAME = f"SELECT {STREAM_COLUMNS} FROM streams WHERE name = ?"
SELECT_STREAMS = f"SELECT {STREAM_COLUMNS} FROM streams"
STREAM_FILTER_SESSION = "session_id = ?"
STREAM_FILTER_STATUS = "status = ?"
STREAM_ORDER = " ORDER BY created_at, rowid"

#: the columns of a task, one per field of `Task` (records.TASK maps rows both ways)
TASK_COLUMNS = ", ".join(TASK.columns)
INSERT_TASK = (
    f"INSERT INTO tasks({TASK_COLUMNS}, seq) VALUES ({', '.join('?' * len(TASK.columns))}, "
    "(SELECT IFNULL(MAX(seq), 0) + 1 FROM tasks))"
)
SELECT_TASK = f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?"
SELECT_NEXT_QUEUED = (
    f"SELECT {TASK_COLUMNS} FROM tasks INDEXED BY idx_tasks_queued WHERE stream_id = ? AND status = 'queued' "
    "ORDER BY seq LIMIT 1"
)
# A transition in one statement: the claim picks and changes the stream's first queued task; the
# compare-and-set changes a task only while it is in the status the transition starts from. RETURNING
# gives back the row as changed, so no second read. {set} is built from the transition's fields, and
# {status} is the status it starts from, as a literal (a status enum's value, never input): with a
# parameter there, the claim took twice as long. The claim picks by rowid, which the queued index holds:
# no read of the row and no second lookup through the id index to find it again.
CLAIM_NEXT = (
    "UPDATE tasks SET {set} WHERE rowid = (SELECT rowid FROM tasks INDEXED BY idx_tasks_queued "
    "WHERE stream_id = ? AND status = '{status}' ORDER BY seq LIMIT 1) "
    f"RETURNING {TASK_COLUMNS}"
)
APPLY_CHANGE = f"UPDATE tasks SET {{set}} WHERE id = ? AND status = '{{status}}' RETURNING {TASK_COLUMNS}"
# A change to every queued task of a stream at once (cancel them all), through the queued index.
APPLY_TO_QUEUED = (
    "UPDATE tasks SET {set} WHERE rowid IN (SELECT rowid FROM tasks INDEXED BY idx_tasks_queued "
    "WHERE stream_id = ? AND status = '{status}')"
)
# The sweep's candidates, through the one partial index of running tasks by (timeout, last sign of life): for
# each distinct timeout of a running task (a handful; the recursive part steps from one to the next, a seek
# each), those last alive (started, or heartbeat) more than twice that timeout before now (the dead: the
# bound is cut to the millisecond, which widens it; Task.is_dead then decides exactly), and those whose last
# sign of life the clock went back past. Index seeks only: a claim does not read every running task.
# INDEXED BY: without statistics the planner prefers another index. One statement: the sweep runs inside every claim.
_RUNNING = "tasks INDEXED BY idx_tasks_running WHERE status = 'running'"
SELECT_SWEEP_CANDIDATES = (
    f"WITH RECURSIVE timeouts(t) AS (SELECT MIN(timeout) FROM {_RUNNING} "
    f"UNION ALL SELECT (SELECT MIN(timeout) FROM {_RUNNING} AND timeout > t) FROM timeouts WHERE t IS NOT NULL) "
    f"SELECT {TASK_COLUMNS} FROM timeouts CROSS JOIN {_RUNNING} AND timeout = t "
    f"AND {LAST_ALIVE} < strftime('%Y-%m-%dT%H:%M:%fZ', ?1, '-' || (2 * t) || ' seconds') "
    f"UNION ALL SELECT {TASK_COLUMNS} FROM timeouts CROSS JOIN {_RUNNING} AND timeout = t AND {LAST_ALIVE} > ?1"
)
SELECT_TASKS = f"SELECT {TASK_COLUMNS} FROM tasks"
COUNT_TASKS = "SELECT COUNT(*) FROM tasks"
TASK_FILTER_STREAM = "stream_id = ?"
TASK_FILTER_TOOL = "tool_name = ?"
# A search reads every task the other filters leave (no index serves a substring): it is a developer's
# look through history, not a step of the worker cycle, which it must not slow (no full-text index or
# trigger to maintain on every enqueue, claim and report). The terms follow `review.matches_search`:
# LIKE folds the case of ASCII letters only, and `%`, `_` and `\` are escaped (`like_pattern`). A progress
# note counts while the task runs: its status sits before stdout in the row, the note after it, so no
# finished task's long output is walked through. The summary is read out of the result's JSON only when
# the result's text holds the pattern at all (parsing every result took as long as the rest), which it
# must when JSON writes the searched text as it is: without `"`, `\` or control characters (keyed True).
_SEARCH_TERMS = (
    "id LIKE ? ESCAPE '\\' OR payload LIKE ? ESCAPE '\\' OR error LIKE ? ESCAPE '\\' "
    "OR (status = 'running' AND progress LIKE ? ESCAPE '\\')"
)
TASK_FILTER_SEARCH = {
    True: f"({_SEARCH_TERMS} OR (result LIKE ? ESCAPE '\\' AND result ->> '$.summary' LIKE ? ESCAPE '\\'))",
    False: f"({_SEARCH_TERMS} OR result ->> '$.summary' LIKE ? ESCAPE '\\')",
}
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')
# A status is written into the statement as a literal (an enum's value, never input), so that SQLite
# may use the partial index of that status, and the index is named: without statistics the planner
# walks a stream's whole history, or the whole table, filtering rows. Which index serves which status:
# queued the queue itself, running the sweep's, finished the finished tasks by status and
# stream (lists of one stream, and every count); a page of finished tasks across streams walks `seq`
# newest first instead (they are most of the table, so the page fills at once).
TASK_FILTER_STATUS = "status = '{status}'"
TASK_FILTER_FINISHED = FINISHED_SQL
STATUS_INDEX = {
    TaskStatus.QUEUED: "idx_tasks_queued",
    TaskStatus.RUNNING: "idx_tasks_running",
    TaskStatus.SUCCEEDED: "idx_tasks_finished_status",
    TaskStatus.FAILED: "idx_tasks_finished_status",
    TaskStatus.CANCELLED: "idx_tasks_finished_status",
}
# Staleness is judged in Python by Task.is_stale (microsecond-exact, like the domain); SQL only narrows
# to running tasks, which are few. julianday() arithmetic is float and ms-granular, so a task running for
# exactly its timeout came out stale about a quarter of the time.
TASK_ORDER_NEWEST = " ORDER BY seq DESC"
TASK_ORDER_OLDEST = " ORDER BY seq"
TASK_PAGE = " LIMIT ? OFFSET ?"
# Counts per stream and status from the three partial indexes (queued, running, finished), never a
# walk of the table: {where} narrows each to one stream when asked.
COUNT_BY_STREAM_STATUS = (
    "SELECT stream_id, 'queued', COUNT(*) FROM tasks INDEXED BY idx_tasks_queued WHERE status = 'queued'{where} "
    "GROUP BY stream_id "
    "UNION ALL SELECT stream_id, 'running', COUNT(*) FROM tasks INDEXED BY idx_tasks_running "
    "WHERE status = 'running'{where} GROUP BY stream_id "
    "UNION ALL SELECT stream_id, status, COUNT(*) FROM tasks INDEXED BY idx_tasks_finished_status "
    f"WHERE {FINISHED_SQL}{{where}} GROUP BY stream_id, status"
)
COUNT_ALL_STREAMS = COUNT_BY_STREAM_STATUS.format(where="")
COUNT_ONE_STREAM = COUNT_BY_STREAM_STATUS.format(where=" AND stream_id = ?1")
# A stream's tasks of every status, a page at a time: its queued, running, succeeded and failed tasks each
# come in `seq` order from the partial index that holds them (running ones, few, are sorted), and SQLite
# merges the four as it reads. The merge pages over (rowid, seq) from the indexes alone, and only the
# page's rows are read from the table: a page costs its offset in index entries plus its length in rows,
# never the stream's history. (An index of every task by stream would cost every enqueue one more page
# written.) The stream's count adds up the four counts, each from its index.
_STREAM_ARMS = (
    "tasks INDEXED BY idx_tasks_queued WHERE stream_id = ?1 AND status = 'queued'",
    "tasks INDEXED BY idx_tasks_running WHERE status = 'running' AND stream_id = ?1",
    *(
        f"tasks INDEXED BY idx_tasks_finished_status WHERE {FINISHED_SQL} AND status = '{status}' AND stream_id = ?1"
        for status in ("succeeded", "failed", "cancelled")
    ),
)
STREAM_PAGE = {
    newest: f"SELECT {TASK_COLUMNS} FROM tasks WHERE rowid IN (SELECT position FROM ("
    + " UNION ALL ".join(f"SELECT rowid AS position, seq FROM {arm}" for arm in _STREAM_ARMS)
    + f" ORDER BY seq{order} LIMIT ?2 OFFSET ?3)) ORDER BY seq{order}"
    for newest, order in ((True, " DESC"), (False, ""))
}
COUNT_STREAM = "SELECT " + " + ".join(f"(SELECT COUNT(*) FROM {arm})" for arm in _STREAM_ARMS)
# Newest first through `seq`, named: the planner would rather take every finished task from the finished
# index and sort them (2 s at a million tasks) than walk back from the newest until it has `limit`.
SELECT_FINISHED_SINCE = (
    "SELECT tool_name, status, started_at, finished_at FROM tasks INDEXED BY idx_tasks_seq "
    "WHERE status IN ('succeeded', 'failed') AND finished_at >= ? ORDER BY seq DESC LIMIT ?"
)
# Through the partial index of finished tasks by finish time (schema v5), named: without statistics the
# planner preferred another index and sorted every finished task for each batch (seconds at 1M tasks).
DELETE_FINISHED = (
    "DELETE FROM tasks WHERE rowid IN (SELECT rowid FROM tasks INDEXED BY idx_tasks_finished "
    f"WHERE {FINISHED_SQL} AND finished_at < ? ORDER BY finished_at LIMIT ?)"
)
# The failed tasks without a copy, in FIFO order, from the finished index (its failed part: of one stream, a
# seek in seq order; of every stream, the failed entries sorted by seq). {stream} and {since} narrow it.
SELECT_FAILED_NOT_REQUEUED = (
    f"SELECT {TASK_COLUMNS} FROM tasks INDEXED BY idx_tasks_finished_status WHERE {FINISHED_SQL} "
    "AND status = 'failed'{stream} AND requeued_to IS NULL{since} ORDER BY seq"
)
FAILED_NOT_REQUEUED = {
    (by_stream, by_time): SELECT_FAILED_NOT_REQUEUED.format(
        stream=" AND stream_id = :stream" if by_stream else "", since=" AND finished_at >= :since" if by_time else ""
    )
    for by_stream in (False, True)
    for by_time in (False, True)
}


# -- row mapping (projects, sessions, streams and task changes: ..rows, shared with PostgreSQL) ------


# Enum(value) costs a microsecond or more per call; a dict lookup is what the enum does in the end.
# Unknown text still raises the enum's own ValueError.
_TASK_STATUS = {s.value: s for s in TaskStatus}


def _task_status(text: str) -> TaskStatus:
    return _TASK_STATUS.get(text) or TaskStatus(text)


_change_sql = ChangeSql("?")


class SqliteRepository:
    """Satisfies `sparkq_domain.Repository` on one open connection inside one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # projects
    def get_project(self) -> Project | None:
        row = self._conn.execute(SELECT_PROJECT).fetchone()
        return None if row is None else _project(row)

    def add_project(self, project: Project) -> None:
        self._conn.execute(UPSERT_PROJECT, _project_row(project))

    # sessions
    def add_session(self, session: Session) -> None:
        row = _session_row(session)
        self._insert(INSERT_SESSION, (row[-1], *row[:-1]), f"Session id {session.id}")

    def save_session(self, session: Session) -> None:
        self._conn.execute(UPDATE_SESSION, _session_row(session))

    def get_session(self, session_id: str) -> Session | None:
        row = self._conn.execute(SELECT_SESSION_BY_ID, (session_id,)).fetchone()
        return None if row is None else _session(row)

    def find_session(self, name: str) -> Session | None:
        row = self._conn.execute(SELECT_SESSION_BY_NAME, (name,)).fetchone()
        return None if row is None else _session(row)

    def list_sessions(self, status: Status | None = None) -> Sequence[Session]:
        if status is None:
            rows = self._conn.execute(SELECT_SESSIONS)
        else:
            rows = self._conn.execute(SELECT_SESSIONS_BY_STATUS, (status.value,))
        return [_session(r) for r in rows]

    # streams
    def add_stream(self, stream: Stream) -> None:
        row = _stream_row(stream)
        self._insert(INSERT_STREAM, (row[-1], *row[:-1]), f"Stream {stream.name!r} (or its id)")

    def save_stream(self, stream: Stream) -> None:
        self._conn.execute(UPDATE_STREAM, _stream_row(stream))

    def get_stream(self, stream_id: str) -> Stream | None:
        row = self._conn.execute(SELECT_STREAM_BY_ID, (stream_id,)).fetchone()
        return None if row is None else _stream(row)

    def find_stream(self, name: str) -> Stream | None:
        row = self._conn.execute(SELECT_STREAM_BY_NAME, (name,)).fetchone()
        return None if row is None else _stream(row)

    def list_streams(self, session_id: str | None = None, status: Status | None = None) -> Sequence[Stream]:
        clauses, params = [], []
        if session_id is not None:
            clauses.append(STREAM_FILTER_SESSION)
            params.append(session_id)
        if status is not None:
            clauses.append(STREAM_FILTER_STATUS)
            params.append(status.value)
        sql = SELECT_STREAMS + _where(clauses) + STREAM_ORDER
        return [_stream(r) for r in self._conn.execute(sql, params)]

    # tasks
    def add_task(self, task: Task) -> None:
        self._insert(INSERT_TASK, TASK.to_row(task), f"Task id {task.id}")

    def get_task(self, task_id: str) -> Task | None:
        row = self._conn.execute(SELECT_TASK, (task_id,)).fetchone()
        return None if row is None else TASK.from_row(row)

    def next_queued(self, stream_id: str) -> Task | None:
        row = self._conn.execute(SELECT_NEXT_QUEUED, (stream_id,)).fetchone()
        return None if row is None else TASK.from_row(row)

    def claim_next(self, stream_id: str, change: TaskChange) -> Task | None:
        if change.from_status is not TaskStatus.QUEUED:  # the statement walks the queued tasks' index
            raise ValueError(f"claim_next takes a change from queued, not from {change.from_status.value}")
        sql = _change_sql(CLAIM_NEXT, change)
        rows = self._conn.execute(sql, (*_change_params(change), stream_id)).fetchall()
        return TASK.from_row(rows[0]) if rows else None

    def apply(self, task_id: str, change: TaskChange) -> Task | None:
        sql = _change_sql(APPLY_CHANGE, change)
        # fetchall: a RETURNING statement left unfinished would keep the transaction from committing
        rows = self._conn.execute(sql, (*_change_params(change), task_id)).fetchall()
        return TASK.from_row(rows[0]) if rows else None

    def apply_to_queued(self, stream_id: str, change: TaskChange) -> int:
        if change.from_status is not TaskStatus.QUEUED:  # the statement walks the queued tasks' index
            raise ValueError(f"apply_to_queued takes a change from queued, not from {change.from_status.value}")
        sql = _change_sql(APPLY_TO_QUEUED, change)
        return int(self._conn.execute(sql, (*_change_params(change), stream_id)).rowcount)

    def failed_not_requeued(self, stream_id: str | None, finished_since: datetime | None) -> Sequence[Task]:
        sql = FAILED_NOT_REQUEUED[stream_id is not None, finished_since is not None]
        params = {"stream": stream_id, "since": None if finished_since is None else format_time(finished_since)}
        return [TASK.from_row(r) for r in self._conn.execute(sql, params)]

    def sweep_candidates(self, now: datetime) -> Sequence[Task]:
        return [TASK.from_row(r) for r in self._conn.execute(SELECT_SWEEP_CANDIDATES, (format_time(now),))]

    def list_tasks(self, query: TaskQuery) -> Sequence[Task]:
        if query.stale_at is not None:
            stale = self._stale_tasks(query)[query.offset :]
            return stale if query.limit is None else stale[: query.limit]
        limit = -1 if query.limit is None else query.limit
        if query.stream_id is not None and query.status is None and not _narrowed(query):
            rows = self._conn.execute(STREAM_PAGE[query.newest_first], (query.stream_id, limit, query.offset))
            return [TASK.from_row(r) for r in rows]
        where, params = _task_filter(query)
        order = TASK_ORDER_NEWEST if query.newest_first else TASK_ORDER_OLDEST
        sql = _tasks_from(SELECT_TASKS, query, counting=False) + where + order + TASK_PAGE
        return [TASK.from_row(r) for r in self._conn.execute(sql, (*params, limit, query.offset))]

    def count_tasks(self, query: TaskQuery) -> int:
        if query.stale_at is not None:
            return len(self._stale_tasks(query))
        if query.stream_id is not None and query.status is None and not _narrowed(query):
            return int(self._conn.execute(COUNT_STREAM, (query.stream_id,)).fetchone()[0])
        where, params = _task_filter(query)
        return int(self._conn.execute(_tasks_from(COUNT_TASKS, query, counting=True) + where, params).fetchone()[0])

    def task_counts(self, stream_ids: Sequence[str] | None = None) -> Mapping[str, Mapping[TaskStatus, int]]:
        counts: dict[str, dict[TaskStatus, int]] = {}
        if stream_ids is None:
            for stream_id, status, n in self._conn.execute(COUNT_ALL_STREAMS):
                counts.setdefault(stream_id, {})[TaskStatus(status)] = n
            return counts
        for stream_id in stream_ids:
            rows = self._conn.execute(COUNT_ONE_STREAM, (stream_id,))
            counts[stream_id] = {TaskStatus(status): n for _, status, n in rows if n}
        return counts

    def finished_since(self, cutoff: datetime, limit: int) -> Sequence[FinishedTask]:
        rows = self._conn.execute(SELECT_FINISHED_SINCE, (format_time(cutoff), limit))
        return [
            FinishedTask(
                tool_name=tool,
                status=_task_status(status),
                started_at=parse_optional(started),
                finished_at=parse_time(finished),
            )
            for tool, status, started, finished in rows
        ]

    def delete_finished_before(self, cutoff: datetime, limit: int | None = None) -> int:
        deleted = self._conn.execute(DELETE_FINISHED, (format_time(cutoff), -1 if limit is None else limit)).rowcount
        # the change feed's upkeep rides along (this store's own business, not the domain's): each
        # purge batch also trims a batch of the oldest events beyond those kept for resuming clients
        self._conn.execute(TRIM_EVENTS, (KEEP_EVENTS, -1 if limit is None else TRIM_BATCH))
        return int(deleted)

    def _insert(self, sql: str, params: tuple[Any, ...], what: str) -> None:
        # the same error as the in-memory store, rather than a raw constraint failure
        try:
            self._conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            if not is_duplicate(exc):
                raise
            raise Duplicate(f"{what} already exists") from exc

    def _stale_tasks(self, query: TaskQuery) -> list[Task]:
        assert query.stale_at is not None
        where, params = _task_filter(query)
        order = TASK_ORDER_NEWEST if query.newest_first else TASK_ORDER_OLDEST
        rows = self._conn.execute(_tasks_from(SELECT_TASKS, query, counting=False) + where + order, params)
        return [t for t in map(TASK.from_row, rows) if t.is_stale(query.stale_at)]


def _where(clauses: list[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def _filtered_status(query: TaskQuery) -> TaskStatus | None:
    # the stale filter narrows to running tasks (the Queue never combines it with another status)
    return TaskStatus.RUNNING if query.stale_at is not None else query.status


def _task_filter(query: TaskQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if query.stream_id is not None:
        clauses.append(TASK_FILTER_STREAM)
        params.append(query.stream_id)
    status = _filtered_status(query)
    if status is not None:
        if status.finished:
            # the finished index's own condition, word for word: SQLite uses a partial index only for a
            # query whose terms include its WHERE, and does not see that `status = 'failed'` implies it
            clauses.append(TASK_FILTER_FINISHED)
        clauses.append(TASK_FILTER_STATUS.format(status=TaskStatus(status).value))
    if query.tool is not None:
        clauses.append(TASK_FILTER_TOOL)
        params.append(query.tool)
    if query.search is not None:
        verbatim = _JSON_ESCAPED.search(query.search) is None
        clauses.append(TASK_FILTER_SEARCH[verbatim])
        params.extend([like_pattern(query.search)] * TASK_FILTER_SEARCH[verbatim].count("?"))
    return _where(clauses), params


def _narrowed(query: TaskQuery) -> bool:
    """Whether the query filters on what no index holds (tool, search text)."""
    return query.tool is not None or query.search is not None


def like_pattern(text: str) -> str:
    """A LIKE pattern (with ESCAPE '\\') that finds `text` anywhere, its `%`, `_` and `\\` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _tasks_from(select: str, query: TaskQuery, *, counting: bool) -> str:
    """`select` (… FROM tasks) through the index that serves the query's status filter, if any."""
    status = _filtered_status(query)
    if status is None:
        return select
    if status.finished and query.stream_id is None and not counting:
        return f"{select} INDEXED BY idx_tasks_seq"  # not the finished index and a sort of all its rows
    return f"{select} INDEXED BY {STATUS_INDEX[status]}"
