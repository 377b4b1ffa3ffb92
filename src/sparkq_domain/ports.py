"""The ports: what the domain needs from the world, as structural Protocols."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

import attrs

from .model import Project, Session, Status, Stream, Task, TaskChange, TaskStatus
from .stats import FinishedTask


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time, timezone-aware UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` (the pause between the batches of a purge)."""
        ...


class IdFactory(Protocol):
    def new_id(self, prefix: str) -> str:
        """Return a fresh id such as `tsk_0123456789ab` for the prefix `tsk`."""
        ...


@attrs.frozen(kw_only=True)
class TaskQuery:
    """Which tasks to list: filters, page, order."""

    stream_id: str | None = None
    status: TaskStatus | None = None
    #: only running tasks that are stale at this moment
    stale_at: datetime | None = None
    limit: int | None = 50
    offset: int = 0
    newest_first: bool = True
    #: only tasks of this tool (its exact name)
    tool: str | None = None
    #: only tasks with this text in their id, summary, error, progress note or payload (`review.matches_search`)
    search: str | None = None


class Repository(Protocol):
    """Storage of one unit of work; everything it returns is a domain entity."""

    # projects
    def get_project(self) -> Project | None: ...
    def add_project(self, project: Project) -> None: ...

    # sessions
    def add_session(self, session: Session) -> None: ...
    def save_session(self, session: Session) -> None: ...
    def get_session(self, session_id: str) -> Session | None: ...
    def find_session(self, name: str) -> Session | None: ...
    def list_sessions(self, status: Status | None = None) -> Sequence[Session]: ...

    # streams
    def add_stream(self, stream: Stream) -> None: ...
    def save_stream(self, stream: Stream) -> None: ...
    def get_stream(self, stream_id: str) -> Stream | None: ...
    def find_stream(self, name: str) -> Stream | None: ...
    def list_streams(self, session_id: str | None = None, status: Status | None = None) -> Sequence[Stream]: ...

    # tasks
    def add_task(self, task: Task) -> None:
        """Insert a task; it goes behind every task already in its stream (FIFO)."""
        ...

    def get_task(self, task_id: str) -> Task | None: ...

    def next_queued(self, stream_id: str) -> Task | None:
        """Return the queued task of the stream that was enqueued first."""
        ...

    def claim_next(self, stream_id: str, change: TaskChange) -> Task | None:
        """Apply `change` (a claim) to the stream's first-enqueued queued task; return it as changed.

        Atomic: two units claiming from the same stream at once never get the same task, on any
        store, whether or not the store serializes its writers. None when nothing is queued.
        """
        ...

    def apply(self, task_id: str, change: TaskChange) -> Task | None:
        """Compare-and-set: apply `change` to the task if it is still in `change.from_status`.

        Return the task as changed; None when it does not exist or is in another status (then
        nothing changed). Of two units applying changes to the same task at once, one wins.
        """
        ...

    def apply_to_queued(self, stream_id: str, change: TaskChange) -> int:
        """Apply `change` (one from queued, such as a cancel) to every queued task of the stream; return how many."""
        ...

    def failed_not_requeued(self, stream_id: str | None, finished_since: datetime | None) -> Sequence[Task]:
        """Failed tasks without a copy yet (`requeued_to` unset), in FIFO order (enqueue order).

        Only those of the stream `stream_id` when given; only those that finished at or after
        `finished_since` when given.
        """
        ...

    def sweep_candidates(self, now: datetime) -> Sequence[Task]:
        """Return the running tasks that may be dead at `now` or whose last sign of life lies after `now`.

        A task's last sign of life is `Task.last_alive`: its start, or its latest heartbeat.

        A superset is fine (the domain decides with `Task.is_dead` / `Task.starts_after`); what
        matters is that the cost follows the number of candidates, not of running tasks: the
        sweep runs inside every claim.
        """
        ...

    def list_tasks(self, query: TaskQuery) -> Sequence[Task]: ...
    def count_tasks(self, query: TaskQuery) -> int: ...

    def task_counts(self, stream_ids: Sequence[str] | None = None) -> Mapping[str, Mapping[TaskStatus, int]]:
        """Return, per stream id, how many of its tasks are in each status."""
        ...

    def finished_since(self, cutoff: datetime, limit: int) -> Sequence[FinishedTask]:
        """Succeeded or failed tasks that finished at or after `cutoff`, latest enqueued first."""
        ...

    def delete_finished_before(self, cutoff: datetime, limit: int | None = None) -> int:
        """Delete finished tasks (succeeded, failed, cancelled) that finished before `cutoff`; return how many.

        With `limit`, delete at most that many, those that finished first: a purge works in
        batches, each its own short write transaction, so other writers get in between.
        """
        ...


class Store(Protocol):
    """Hands out units of work. A write unit is one atomic transaction.

    Atomic is the promise, not serialized with every other writer: a store may let write units
    run side by side (row locks); the transitions a queue needs are atomic operations of the
    repository (`claim_next`, `apply`), so the rules hold either way.
    """

    def read(self) -> AbstractContextManager[Repository]: ...
    def write(self) -> AbstractContextManager[Repository]: ...
