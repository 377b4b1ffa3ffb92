"""The read side: what is active and what the dashboard shows, computed once for every frontend.

`sparkq status` and `GET /api/status` show an `ActiveWork`; `GET /api/overview` (the UI's
dashboard) shows an `Overview`. Each is built from `Queue` reads here and only rendered by the
frontends, so a count means the same thing on the terminal, in the API and in the browser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import attrs

from .errors import InvalidInput
from .model import Session, Status, StreamCounts, TaskStatus
from .services import Queue, TaskPage
from .stats import Stats

#: the most newest tasks one overview carries (the dashboard shows 10)
MAX_OVERVIEW_TASKS = 100


@attrs.frozen(kw_only=True)
class ActiveWork:
    """The active sessions and streams, task counts per status over all streams, and the stale tasks."""

    #: every status, 0 included, in the state machine's order
    counts: Mapping[TaskStatus, int]
    sessions: Sequence[Session]
    #: the active streams with their counts (an active stream's session is active)
    streams: Sequence[StreamCounts]
    #: running tasks past their timeout, not yet dead
    stale: int

    def streams_of(self, session: Session) -> Sequence[StreamCounts]:
        """The active streams of `session`."""
        return [s for s in self.streams if s.stream.session_id == session.id]


@attrs.frozen(kw_only=True)
class Overview:
    """Everything the dashboard shows: counts, sessions, every stream, the newest tasks, stats."""

    generated_at: datetime
    #: tasks per status over all streams (a stream's own are in `streams`)
    counts: Mapping[TaskStatus, int]
    active_sessions: int
    ended_sessions: int
    #: every stream, active or ended, with its session's name and counts
    streams: Sequence[StreamCounts]
    #: the newest tasks, of one stream if asked
    newest: TaskPage
    stats: Stats


def active_work(queue: Queue) -> ActiveWork:
    """What is active now and how much work there is (dead tasks auto-failed first)."""
    # first: the stale count sweeps dead tasks, so the counts below already show them failed
    stale = queue.list_tasks(stale=True, limit=1).total
    return ActiveWork(
        counts=queue.status_counts(),
        sessions=queue.list_sessions(Status.ACTIVE),
        streams=queue.list_streams(status=Status.ACTIVE),
        stale=stale,
    )


def overview(queue: Queue, *, stream: str | None = None, limit: int = 10) -> Overview:
    """The dashboard's one answer: the newest `limit` tasks (of `stream`, by id or name, if given) and the rest.

    Raises `NotFound` for an unknown `stream` before anything else is read, `InvalidInput` for a
    `limit` outside 1 to `MAX_OVERVIEW_TASKS`.
    """
    if not 1 <= limit <= MAX_OVERVIEW_TASKS:
        raise InvalidInput(f"Invalid limit {limit}: an overview carries 1 to {MAX_OVERVIEW_TASKS} newest tasks")
    newest = queue.list_tasks(stream=stream, limit=limit)
    sessions = queue.list_sessions()
    active = sum(1 for s in sessions if s.status is Status.ACTIVE)
    streams = queue.list_streams()
    return Overview(
        generated_at=queue.now(),
        # every task is in a stream, and every stream is here: the totals without counting all tasks again
        counts={status: sum(s.counts[status] for s in streams) for status in TaskStatus},
        active_sessions=active,
        ended_sessions=len(sessions) - active,
        streams=streams,
        newest=newest,
        stats=queue.stats(),
    )
