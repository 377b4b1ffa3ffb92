"""The PostgreSQL repository: domain entities in and out of the tables, inside one transaction of one connection.

Rows map through the same definitions as SQLite's (`records.TASK`, `rows`): the columns hold the same text. The
transitions are single statements, correct when several servers and CLIs run them at once: a claim
locks the stream's first queued task it can get (`FOR UPDATE SKIP LOCKED`, so claimers never wait
for each other), a compare-and-set changes a task only while it is in the status its change starts
from (PostgreSQL re-reads a row another transaction changed meanwhile before updating it).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sparkq_domain import FinishedTask, Project, Session, Status, Stream, Task, TaskChange, TaskQuery, TaskStatus
from sparkq_domain.errors import Duplicate

from ..clock import format_optional, format_time, parse_optional, parse_time
from ..records import TASK
from ..rows import PROJECT_COLUMNS, SESSION_COLUMNS, STREAM_COLUMNS, ChangeSql
from ..rows import change_params as _change_params
from ..rows import project as _project
from ..rows import project_row as _project_row
from ..rows import session as _session
from ..rows import session_row as _session_row
from ..rows import stream as _stream
from ..rows import stream_row as _stream_row
from .schema import FINISHED_SQL, LAST_ALIVE

# -- SQL ------------------------------------------------------------------------------------------

SELECT_PROJECT = f"SELECT {PROJECT_COLUMNS} FROM projects ORDER BY created_at LIMIT 1"
UPSERT_PROJECT = (
    f"INSERT INTO projects({PROJECT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
    "name = EXCLUDED.name, repo_path = EXCLUDED.repo_path, prd_path = EXCLUDED.prd_path, "
    "created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at"
)

# ON CONFLICT DO NOTHING: a taken id is a Duplicate without aborting the transaction (as SQLite goes on)
INSERT_SESSION = (
    f"INSERT INTO sessions({SESSION_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)
UPDATE_SESSION = (
    "UPDATE sessions SET project_id = %s, name = %s, description = %s, status = %s, started_at = %s, "
    "ended_at = %s, created_at = %s, updated_at = %s WHERE id = %s"
)
SELECT_SESSION_BY_ID = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = %s"
SELECT_SESSION_BY_NAME = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE name = %s ORDER BY created_at, seq LIMIT 1"
SELECT_SESSIONS = f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY started_at, seq"
SELECT_SESSIONS_BY_STATUS = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE status = %s ORDER BY started_at, seq"

INSERT_STREAM = f"INSERT INTO streams({STREAM_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
UPDATE_STREAM = (
    "UPDATE streams SET session_id = %s, name = %s, instructions = %s, status = %s, created_at = %s, "
    "updated_at = %s WHERE id = %s"
)
SELECT_STREAM_BY_ID = f"SELECT {STREAM_COLUMNS} FROM streams WHERE id = %s"
SELECT_STREAM_BY_NAME = f"SELECT {STREAM_COLUMNS} FROM streams WHERE name = %s"
SELECT_STREAMS = f"SELECT {STREAM_COLUMNS} FROM streams"
STREAM_ORDER = " ORDER BY created_at, seq"

TASK_COLUMNS = ", ".join(TASK.columns)
_TASK_VALUES = ", ".join(["%s"] * len(TASK.columns))
# Enqueues into one stream take turns on the stream's row (FOR NO KEY UPDATE, held to the commit), so a
# stream's `seq` order is the order its enqueues commit in: a claimer never takes a later task while an
# earlier one is still being committed. Enqueues into other streams, claims and reports do not wait for
# it (their foreign-key check takes a KEY SHARE lock, which this one lets through).
INSERT_TASK = (
    "WITH turn AS (SELECT id FROM streams WHERE id = %s FOR NO KEY UPDATE) "
    f"INSERT INTO tasks({TASK_COLUMNS}) SELECT {_TASK_VALUES} FROM turn ON CONFLICT DO NOTHING RETURNING seq"
)
INSERT_TASK_PLAIN = f"INSERT INTO tasks({TASK_COLUMNS}) VALUES ({_TASK_VALUES})"
TASK_EXISTS = "SELECT 1 FROM tasks WHERE id = %s"
SELECT_TASK = f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = %s"
SELECT_NEXT_QUEUED = f"SELECT {TASK_COLUMNS} FROM tasks WHERE stream_id = %s AND status = 'queued' ORDER BY seq LIMIT 1"
# The claim in one statement: lock the stream's first queued task that no one else holds (SKIP LOCKED: a task a
# cancel or a report has locked is passed over, not waited for), change it, return it. Claims of one stream take
# turns first, on a transaction-scoped advisory lock named after the stream (`turn`; claims of other streams
# and enqueues don't wait for it), so a stream's claims commit in FIFO order, as on SQLite: without it, a
# claimer skipping the task an earlier claimer still holds could commit the later task first. The statement's
# snapshot predates the wait, but a task the previous claimer took meanwhile is locked anew and re-checked
# (READ COMMITTED re-reads a changed row): no longer queued, it is passed over for the next one.
# {status} is the status the change starts from, as a literal (an enum's value, never input).
CLAIM_NEXT = (
    "WITH turn AS (SELECT pg_advisory_xact_lock(hashtext('sparkq claim ' || %s))) "
    "UPDATE tasks SET {set} WHERE id = (SELECT id FROM tasks, turn WHERE stream_id = %s AND status = '{status}' "
    "ORDER BY seq LIMIT 1 FOR UPDATE OF tasks SKIP LOCKED) AND status = '{status}' "
    f"RETURNING {TASK_COLUMNS}"
)
APPLY_CHANGE = f"UPDATE tasks SET {{set}} WHERE id = %s AND status = '{{status}}' RETURNING {TASK_COLUMNS}"
APPLY_TO_QUEUED = "UPDATE tasks SET {set} WHERE stream_id = %s AND status = '{status}'"
# A time `seconds` (SQL) before the parameter %(now)s, as the text the tables hold (fixed width: text order is
# time order), so that it compares with a stored time, and with the index of running tasks, as text.
_TIME_TEXT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


def _before_now(seconds: str) -> str:
    # %(now)s is text wherever it appears (the server types a parameter by its first use: cast to timestamptz
    # first, it would compare with stored times as '2026-12-01 12:00:00+00', after every 'T')
    moment = f"%(now)s::text::timestamptz - make_interval(secs => {seconds})"
    return f"to_char(({moment}) AT TIME ZONE 'UTC', '{_TIME_TEXT}')"


# The sweep's candidates, through the index of running tasks by (timeout, last sign of life) (schema v2): for
# each distinct timeout of a running task (a handful; the recursive part steps from one to the next, a seek
# each: PostgreSQL 15 has no skip scan), those last alive more than twice that timeout before now (the dead),
# and those whose last sign of life the clock went back past. Index seeks only: a claim does not read every
# running task. Task.is_dead and starts_after decide exactly, as on SQLite. OFFSET 0 keeps each arm a
# subquery run once per timeout (a seek with both bounds): flattened into a join, the planner would rather
# hash every running task against the timeouts when many tasks run.
_RUNNING = "tasks WHERE status = 'running'"
_SWEEP_ARMS = (f"{LAST_ALIVE} < {_before_now('2 * t')}", f"{LAST_ALIVE} > %(now)s::text")
SELECT_SWEEP_CANDIDATES = (
    f"WITH RECURSIVE timeouts(t) AS (SELECT MIN(timeout) FROM {_RUNNING} "
    f"UNION ALL SELECT (SELECT MIN(timeout) FROM {_RUNNING} AND timeout > t) FROM timeouts WHERE t IS NOT NULL) "
    + " UNION ALL ".join(
        f"SELECT found.* FROM timeouts CROSS JOIN LATERAL (SELECT {TASK_COLUMNS} FROM {_RUNNING} AND timeout = t "
        f"AND {arm} OFFSET 0) AS found"
        for arm in _SWEEP_ARMS
    )
)
SELECT_TASKS = f"SELECT {TASK_COLUMNS} FROM tasks"
# Stale (`Task.is_stale`): running, and last alive more than its timeout before the time asked about; exact to
# the microsecond, as the domain's rule (timestamptz arithmetic is in whole microseconds).
TASK_FILTER_STALE = f"{LAST_ALIVE} < {_before_now('timeout')}"
# The search (`review.matches_search`), in SQL: the text anywhere (strpos: `%` and `_` are plain characters) in
# the id, the payload's compact JSON (as the column holds it), the error, the progress note while the task
# runs, or the result's summary when it is a string; ASCII letters folded to lowercase on both sides, no
# other letters (translate, not lower(), whose folding depends on the database's locale). The summary is
# read out of the result's JSON only when the result's text holds the needle at all, which it must when JSON
# writes the needle as it is: without `"`, `\` or control characters (keyed True), as on SQLite.
_FOLDED = "strpos(translate({}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), %(needle)s) > 0"
_SUMMARY = "CASE WHEN json_typeof(result::json -> 'summary') = 'string' THEN result::json ->> 'summary' END"
_SEARCH_TERMS = (
    f"{_FOLDED.format('id')} OR {_FOLDED.format('payload')} OR {_FOLDED.format('error')} "
    f"OR (status = 'running' AND {_FOLDED.format('progress')})"
)
TASK_FILTER_SEARCH = {
    True: f"({_SEARCH_TERMS} OR ({_FOLDED.format('result')} AND {_FOLDED.format(_SUMMARY)}))",
    False: f"({_SEARCH_TERMS} OR {_FOLDED.format(_SUMMARY)})",
}
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
COUNT_TASKS = "SELECT COUNT(*) FROM tasks"
COUNT_BY_STREAM_STATUS = "SELECT stream_id, status, COUNT(*) FROM tasks{where} GROUP BY stream_id, status"
SELECT_FINISHED_SINCE = (
    "SELECT tool_name, status, started_at, finished_at FROM tasks "
    "WHERE status IN ('succeeded', 'failed') AND finished_at >= %s ORDER BY seq DESC LIMIT %s"
)
# A purge batch: the tasks that finished first; SKIP LOCKED, so purges running at once (several servers)
# take different batches instead of waiting for each other.
DELETE_FINISHED = (
    "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks "
    f"WHERE {FINISHED_SQL} AND finished_at < %s ORDER BY finished_at LIMIT %s FOR UPDATE SKIP LOCKED)"
)
SELECT_FAILED_NOT_REQUEUED = (
    f"SELECT {TASK_COLUMNS} FROM tasks WHERE status = 'failed' AND requeued_to IS NULL "
    "AND (%(stream)s::text IS NULL OR stream_id = %(stream)s) "
    "AND (%(since)s::text IS NULL OR finished_at >= %(since)s) ORDER BY seq"
)

_change_sql = ChangeSql("%s")


class Rows(Protocol):
    """The result of a statement, as the repository reads it."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> tuple[Any, ...] | None: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...


class Statements(Protocol):
    """What runs the repository's statements: a psycopg cursor, or the store's read cursor that replays."""

    def execute(self, sql: str, params: Any = None, /) -> Rows: ...


class PostgresRepository:
    """Satisfies `sparkq_domain.Repository` through one cursor of a connection inside one transaction."""

    def __init__(self, cursor: Statements) -> None:
        self._cur = cursor

    def _all(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self._cur.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Any = None) -> tuple[Any, ...] | None:
        return self._cur.execute(sql, params).fetchone()

    # projects
    def get_project(self) -> Project | None:
        row = self._one(SELECT_PROJECT)
        return None if row is None else _project(row)

    def add_project(self, project: Project) -> None:
        self._cur.execute(UPSERT_PROJECT, _project_row(project))

    # sessions
    def add_session(self, session: Session) -> None:
        row = _session_row(session)
        self._insert(INSERT_SESSION, (row[-1], *row[:-1]), f"Session id {session.id}")

    def save_session(self, session: Session) -> None:
        self._cur.execute(UPDATE_SESSION, _session_row(session))

    def get_session(self, session_id: str) -> Session | None:
        row = self._one(SELECT_SESSION_BY_ID, (session_id,))
        return None if row is None else _session(row)

    def find_session(self, name: str) -> Session | None:
        row = self._one(SELECT_SESSION_BY_NAME, (name,))
        return None if row is None else _session(row)

    def list_sessions(self, status: Status | None = None) -> Sequence[Session]:
        if status is None:
            return [_session(r) for r in self._all(SELECT_SESSIONS)]
        return [_session(r) for r in self._all(SELECT_SESSIONS_BY_STATUS, (status.value,))]

    # streams
    def add_stream(self, stream: Stream) -> None:
        row = _stream_row(stream)
        self._insert(INSERT_STREAM, (row[-1], *row[:-1]), f"Stream {stream.name!r} (or its id)")

    def save_stream(self, stream: Stream) -> None:
        self._cur.execute(UPDATE_STREAM, _stream_row(stream))

    def get_stream(self, stream_id: str) -> Stream | None:
        row = self._one(SELECT_STREAM_BY_ID, (stream_id,))
        return None if row is None else _stream(row)

    def find_stream(self, name: str) -> Stream | None:
        row = self._one(SELECT_STREAM_BY_NAME, (name,))
        return None if row is None else _stream(row)

    def list_streams(self, session_id: str | None = None, status: Status | None = None) -> Sequence[Stream]:
        clauses, params = [], []
        if session_id is not None:
            clauses.append("session_id = %s")
            params.append(session_id)
        if status is not None:
            clauses.append("status = %s")
            params.append(status.value)
        return [_stream(r) for r in self._all(SELECT_STREAMS + _where(clauses) + STREAM_ORDER, params)]

    # tasks
    def add_task(self, task: Task) -> None:
        row = TASK.to_row(task)
        if self._one(INSERT_TASK, (task.stream_id, *row)) is not None:
            return
        if self._one(TASK_EXISTS, (task.id,)) is not None:
            raise Duplicate(f"Task id {task.id} already exists")
        # no such stream: the plain insert raises the foreign-key violation, as SQLite's does
        self._cur.execute(INSERT_TASK_PLAIN, row)

    def get_task(self, task_id: str) -> Task | None:
        row = self._one(SELECT_TASK, (task_id,))
        return None if row is None else TASK.from_row(row)

    def next_queued(self, stream_id: str) -> Task | None:
        row = self._one(SELECT_NEXT_QUEUED, (stream_id,))
        return None if row is None else TASK.from_row(row)

    def claim_next(self, stream_id: str, change: TaskChange) -> Task | None:
        if change.from_status is not TaskStatus.QUEUED:  # the statement walks the queued tasks' index
            raise ValueError(f"claim_next takes a change from queued, not from {change.from_status.value}")
        row = self._one(_change_sql(CLAIM_NEXT, change), (stream_id, *_change_params(change), stream_id))
        return None if row is None else TASK.from_row(row)

    def apply(self, task_id: str, change: TaskChange) -> Task | None:
        row = self._one(_change_sql(APPLY_CHANGE, change), (*_change_params(change), task_id))
        return None if row is None else TASK.from_row(row)

    def apply_to_queued(self, stream_id: str, change: TaskChange) -> int:
        if change.from_status is not TaskStatus.QUEUED:
            raise ValueError(f"apply_to_queued takes a change from queued, not from {change.from_status.value}")
        cursor = self._cur.execute(_change_sql(APPLY_TO_QUEUED, change), (*_change_params(change), stream_id))
        return int(cursor.rowcount)

    def failed_not_requeued(self, stream_id: str | None, finished_since: datetime | None) -> Sequence[Task]:
        params = {"stream": stream_id, "since": format_optional(finished_since)}
        return [TASK.from_row(r) for r in self._all(SELECT_FAILED_NOT_REQUEUED, params)]

    def sweep_candidates(self, now: datetime) -> Sequence[Task]:
        return [TASK.from_row(r) for r in self._all(SELECT_SWEEP_CANDIDATES, {"now": format_time(now)})]

    def list_tasks(self, query: TaskQuery) -> Sequence[Task]:
        where, params = _task_filter(query)
        sql = SELECT_TASKS + where + _order(query) + " LIMIT %(limit)s OFFSET %(offset)s"
        return [TASK.from_row(r) for r in self._all(sql, {**params, "limit": query.limit, "offset": query.offset})]

    def count_tasks(self, query: TaskQuery) -> int:
        where, params = _task_filter(query)
        row = self._one(COUNT_TASKS + where, params)
        return 0 if row is None else int(row[0])

    def task_counts(self, stream_ids: Sequence[str] | None = None) -> Mapping[str, Mapping[TaskStatus, int]]:
        counts: dict[str, dict[TaskStatus, int]] = {}
        if stream_ids is None:
            rows = self._all(COUNT_BY_STREAM_STATUS.format(where=""))
        else:
            counts = {s: {} for s in stream_ids}
            rows = self._all(COUNT_BY_STREAM_STATUS.format(where=" WHERE stream_id = ANY(%s)"), (list(stream_ids),))
        for stream_id, status, n in rows:
            counts.setdefault(stream_id, {})[TaskStatus(status)] = int(n)
        return counts

    def finished_since(self, cutoff: datetime, limit: int) -> Sequence[FinishedTask]:
        return [
            FinishedTask(
                tool_name=tool,
                status=TaskStatus(status),
                started_at=parse_optional(started),
                finished_at=parse_time(finished),
            )
            for tool, status, started, finished in self._all(SELECT_FINISHED_SINCE, (format_time(cutoff), limit))
        ]

    def delete_finished_before(self, cutoff: datetime, limit: int | None = None) -> int:
        cursor = self._cur.execute(DELETE_FINISHED, (format_time(cutoff), limit))
        return int(cursor.rowcount)

    def _insert(self, sql: str, params: tuple[Any, ...], what: str) -> None:
        cursor = self._cur.execute(sql, params)
        if cursor.rowcount == 0:  # ON CONFLICT DO NOTHING skipped it: an id or a unique name is taken
            raise Duplicate(f"{what} already exists")


def _where(clauses: list[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def _order(query: TaskQuery) -> str:
    return " ORDER BY seq DESC" if query.newest_first else " ORDER BY seq"


def _task_filter(query: TaskQuery) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if query.stream_id is not None:
        clauses.append("stream_id = %(stream)s")
        params["stream"] = query.stream_id
    # the stale filter narrows to running tasks (the Queue never combines it with another status)
    status = TaskStatus.RUNNING if query.stale_at is not None else query.status
    if status is not None:
        clauses.append("status = %(status)s")
        params["status"] = status.value
    if query.tool is not None:
        clauses.append("tool_name = %(tool)s")
        params["tool"] = query.tool
    if query.stale_at is not None:
        clauses.append(TASK_FILTER_STALE)
        params["now"] = format_time(query.stale_at)
    if query.search is not None:
        verbatim = _JSON_ESCAPED.search(query.search) is None
        clauses.append(TASK_FILTER_SEARCH[verbatim])
        params["needle"] = query.search.translate(_ASCII_LOWER)
    return _where(clauses), params
