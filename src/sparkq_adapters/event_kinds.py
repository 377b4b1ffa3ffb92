"""The kinds of change-feed events, named once: the SQLite triggers, the SSE route and the web UI use these.

They live with the adapters, not in the domain: the domain never sees the change feed (a store
records it, the server streams it). The triggers of schema v3 spelled the kinds in SQL; a test
checks every kind a trigger writes against `EventKind`, and the status trigger, which tells a
failure's kind, is made from `STATUS_EVENTS` and `FAILURE_EVENTS` (`sqlite/schema.py`,
`task_status_trigger`; a test checks a new file's trigger against it, so a change here needs a
migration that makes the trigger again). The UI's copy, `webui/js/events.js`, is checked against
`EventKind` by a test too.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from sparkq_domain import FailureKind, TaskStatus


class EventKind(StrEnum):
    TASK_ENQUEUED = "task.enqueued"
    TASK_REQUEUED = "task.requeued"
    TASK_CLAIMED = "task.claimed"
    TASK_COMPLETED = "task.completed"
    TASK_FAILED = "task.failed"
    TASK_AUTO_FAILED = "task.auto_failed"
    TASK_CANCELLED = "task.cancelled"
    #: a running task's worker sent a heartbeat (its `heartbeat_at`, maybe its `progress`, changed)
    TASK_HEARTBEAT = "task.heartbeat"
    SESSION_CREATED = "session.created"
    SESSION_UPDATED = "session.updated"
    SESSION_ENDED = "session.ended"
    STREAM_CREATED = "stream.created"
    STREAM_UPDATED = "stream.updated"
    STREAM_ENDED = "stream.ended"


#: the event of a task's change to this status, unless its failure kind names one (`FAILURE_EVENTS`)
STATUS_EVENTS: Mapping[TaskStatus, EventKind] = {
    TaskStatus.RUNNING: EventKind.TASK_CLAIMED,
    TaskStatus.SUCCEEDED: EventKind.TASK_COMPLETED,
    TaskStatus.FAILED: EventKind.TASK_FAILED,
    TaskStatus.CANCELLED: EventKind.TASK_CANCELLED,
}

#: the event of a task that ends with this failure kind
FAILURE_EVENTS: Mapping[FailureKind, EventKind] = {
    FailureKind.ERROR: EventKind.TASK_FAILED,
    FailureKind.AUTO: EventKind.TASK_AUTO_FAILED,
    FailureKind.CANCELLED: EventKind.TASK_CANCELLED,
}


def sql_literal(text: str) -> str:
    """Write `text` as an SQL string literal; it comes from an enum of this code, never from input."""
    if "'" in text:
        raise ValueError(f"an event kind or status with a quote cannot be written into SQL: {text!r}")
    return f"'{text}'"


def status_event_cases() -> list[str]:
    """List the WHEN arms of the SQL CASE that names a task's change of status: failure kind first, then status."""
    return [
        f"WHEN NEW.failure_kind = {sql_literal(kind.value)} THEN {sql_literal(event.value)}"
        for kind, event in FAILURE_EVENTS.items()
    ] + [
        f"WHEN NEW.status = {sql_literal(status.value)} THEN {sql_literal(event.value)}"
        for status, event in STATUS_EVENTS.items()
    ]
