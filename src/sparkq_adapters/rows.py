"""Project, session and stream rows, and a task change's statement: one definition for both SQL stores.

The SQLite and PostgreSQL tables hold the same columns as the same text, so a row maps to an entity
the same way in either; only the placeholder of their SQL differs (sqlite3 `?`, psycopg `%s`). The
task's own mapping is generated from its fields (`records.TASK`); these three are written by hand,
because their fallbacks for rows that another tool left NULL differ (a session's times read as its
start, a stream's creation as the epoch).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sparkq_domain import Project, Session, Status, Stream, TaskChange, TaskStatus

from .clock import format_optional, format_time, parse_optional, parse_time
from .records import TASK

PROJECT_COLUMNS = "id, name, repo_path, prd_path, created_at, updated_at"
SESSION_COLUMNS = "id, project_id, name, description, status, started_at, ended_at, created_at, updated_at"
STREAM_COLUMNS = "id, session_id, name, instructions, status, created_at, updated_at"

# Enum(value) costs a microsecond or more per call, and every row has two or three of them; a dict
# lookup is what the enum does in the end. Unknown text still raises the enum's own ValueError.
_STATUS = {s.value: s for s in Status}
_TASK_COLUMN_NAMES = frozenset(TASK.columns)


def status(text: str) -> Status:
    """Read a stored session or stream status."""
    return _STATUS.get(text) or Status(text)


def project(row: Sequence[Any]) -> Project:
    """Read a project from a row of `PROJECT_COLUMNS`."""
    return Project(
        id=row[0],
        name=row[1],
        repo_path=row[2],
        prd_path=row[3],
        created_at=parse_time(row[4]),
        updated_at=parse_time(row[5]),
    )


def project_row(p: Project) -> tuple[Any, ...]:
    """Give a project's values of `PROJECT_COLUMNS`, in order."""
    return (p.id, p.name, p.repo_path, p.prd_path, format_time(p.created_at), format_time(p.updated_at))


def session(row: Sequence[Any]) -> Session:
    """Read a session from a row of `SESSION_COLUMNS`."""
    return Session(
        id=row[0],
        project_id=row[1],
        name=row[2],
        description=row[3],
        status=status(row[4]),
        started_at=parse_time(row[5]),
        ended_at=parse_optional(row[6]),
        created_at=parse_time(row[7] or row[5]),
        updated_at=parse_time(row[8] or row[5]),
    )


def session_row(s: Session) -> tuple[Any, ...]:
    """Give a session's values of `SESSION_COLUMNS` after the id, then the id (as an update by id takes them)."""
    return (
        s.project_id,
        s.name,
        s.description,
        s.status.value,
        format_time(s.started_at),
        format_optional(s.ended_at),
        format_time(s.created_at),
        format_time(s.updated_at),
        s.id,
    )


def stream(row: Sequence[Any]) -> Stream:
    """Read a stream from a row of `STREAM_COLUMNS`."""
    created = parse_time(row[5]) if row[5] else parse_time("1970-01-01T00:00:00Z")
    return Stream(
        id=row[0],
        session_id=row[1],
        name=row[2],
        instructions=row[3],
        status=status(row[4]),
        created_at=created,
        updated_at=parse_time(row[6]) if row[6] else created,
    )


def stream_row(s: Stream) -> tuple[Any, ...]:
    """Give a stream's values of `STREAM_COLUMNS` after the id, then the id (as an update by id takes them)."""
    return (
        s.session_id,
        s.name,
        s.instructions,
        s.status.value,
        format_time(s.created_at),
        format_time(s.updated_at),
        s.id,
    )


class ChangeSql:
    """Build the statement of a task change from a template, in one store's placeholder style."""

    __slots__ = ("_cache", "_placeholder")

    def __init__(self, placeholder: str) -> None:
        self._placeholder = placeholder
        self._cache: dict[tuple[str, TaskStatus, tuple[str, ...], bool], str] = {}

    def __call__(self, template: str, change: TaskChange) -> str:
        """Fill `template`'s {set} and {status} for a change that sets these fields; once per shape of change."""
        key = (template, change.from_status, tuple(change.values), change.counts_attempt)
        sql = self._cache.get(key)
        if sql is None:
            unknown = set(change.values) - _TASK_COLUMN_NAMES
            if unknown:  # names become SQL text: only the table's own columns
                raise ValueError(f"a task change sets unknown columns: {sorted(unknown)}")
            assignments = [f"{name} = {self._placeholder}" for name in change.values]
            if change.counts_attempt:
                assignments.append("attempts = attempts + 1")
            sql = self._cache[key] = template.format(set=", ".join(assignments), status=change.from_status.value)
        return sql


def change_params(change: TaskChange) -> list[Any]:
    """Give the stored values a task change sets, in the order of its statement's placeholders."""
    # a transition sets its times to one `now` (started_at and updated_at, ...): formatted once
    formatted: dict[datetime, str] = {}
    params = []
    for name, value in change.values.items():
        if isinstance(value, datetime):
            text = formatted.get(value)
            if text is None:
                text = formatted[value] = format_time(value)
            params.append(text)
        else:
            convert = TASK.to_column[name]
            params.append(value if convert is None else convert(value))
    return params
