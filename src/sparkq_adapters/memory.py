"""An in-memory store: for domain tests and for embedding SparkQ without a file.

A write unit works on a copy of the state and publishes it only when the block ends
without an exception, so it is as atomic as the SQLite store; one lock serializes the units.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime

import attrs

from sparkq_domain import FinishedTask, Project, Session, Status, Stream, Task, TaskChange, TaskQuery, TaskStatus
from sparkq_domain.errors import Duplicate
from sparkq_domain.review import matches_search

#: the finished statuses that stats count (a cancelled task never ran)
_STATS_STATUSES = (TaskStatus.SUCCEEDED, TaskStatus.FAILED)


@attrs.define
class _State:
    project: Project | None = None
    sessions: dict[str, Session] = attrs.Factory(dict)
    streams: dict[str, Stream] = attrs.Factory(dict)
    #: insertion order is enqueue order (FIFO)
    tasks: dict[str, Task] = attrs.Factory(dict)

    def copy(self) -> _State:
        return _State(self.project, dict(self.sessions), dict(self.streams), dict(self.tasks))


class MemoryRepository:
    def __init__(self, state: _State) -> None:
        self._s = state

    # projects
    def get_project(self) -> Project | None:
        return self._s.project

    def add_project(self, project: Project) -> None:
        self._s.project = project

    # sessions
    def add_session(self, session: Session) -> None:
        if session.id in self._s.sessions:
            raise Duplicate(f"Session id {session.id} already exists")
        self._s.sessions[session.id] = session

    def save_session(self, session: Session) -> None:
        self._s.sessions[session.id] = session

    def get_session(self, session_id: str) -> Session | None:
        return self._s.sessions.get(session_id)

    def find_session(self, name: str) -> Session | None:
        return next((s for s in self._s.sessions.values() if s.name == name), None)

    def list_sessions(self, status: Status | None = None) -> Sequence[Session]:
        return [s for s in self._s.sessions.values() if status is None or s.status is status]

    # streams
    def add_stream(self, stream: Stream) -> None:
        if stream.id in self._s.streams or self.find_stream(stream.name) is not None:
            raise Duplicate(f"Stream {stream.name!r} (or its id) already exists")
        self._s.streams[stream.id] = stream

    def save_stream(self, stream: Stream) -> None:
        self._s.streams[stream.id] = stream

    def get_stream(self, stream_id: str) -> Stream | None:
        return self._s.streams.get(stream_id)

    def find_stream(self, name: str) -> Stream | None:
        return next((s for s in self._s.streams.values() if s.name == name), None)

    def list_streams(self, session_id: str | None = None, status: Status | None = None) -> Sequence[Stream]:
        return [
            s
            for s in self._s.streams.values()
            if (session_id is None or s.session_id == session_id) and (status is None or s.status is status)
        ]

    # tasks
    def add_task(self, task: Task) -> None:
        if task.id in self._s.tasks:
            raise Duplicate(f"Task id {task.id} already exists")
        self._s.tasks[task.id] = task

    def get_task(self, task_id: str) -> Task | None:
        return self._s.tasks.get(task_id)

    def next_queued(self, stream_id: str) -> Task | None:
        return next(
            (t for t in self._s.tasks.values() if t.stream_id == stream_id and t.status is TaskStatus.QUEUED), None
        )

    def claim_next(self, stream_id: str, change: TaskChange) -> Task | None:
        task = self.next_queued(stream_id)
        return None if task is None else self.apply(task.id, change)

    def apply(self, task_id: str, change: TaskChange) -> Task | None:
        task = self._s.tasks.get(task_id)
        if task is None or task.status is not change.from_status:
            return None
        changed = self._s.tasks[task_id] = task.apply(change)
        return changed

    def apply_to_queued(self, stream_id: str, change: TaskChange) -> int:
        queued = [t.id for t in self._s.tasks.values() if t.stream_id == stream_id and t.status is TaskStatus.QUEUED]
        return sum(self.apply(task_id, change) is not None for task_id in queued)

    def failed_not_requeued(self, stream_id: str | None, finished_since: datetime | None) -> Sequence[Task]:
        return [
            t
            for t in self._s.tasks.values()
            if t.status is TaskStatus.FAILED
            and t.requeued_to is None
            and (stream_id is None or t.stream_id == stream_id)
            and (finished_since is None or (t.finished_at is not None and t.finished_at >= finished_since))
        ]

    def sweep_candidates(self, now: datetime) -> Sequence[Task]:
        return [t for t in self._s.tasks.values() if t.status is TaskStatus.RUNNING]

    def _matching(self, query: TaskQuery) -> list[Task]:
        found = [
            t
            for t in self._s.tasks.values()
            if (query.stream_id is None or t.stream_id == query.stream_id)
            and (query.status is None or t.status is query.status)
            and (query.stale_at is None or t.is_stale(query.stale_at))
            and (query.tool is None or t.tool_name == query.tool)
            and (query.search is None or matches_search(t, query.search))
        ]
        return found[::-1] if query.newest_first else found

    def list_tasks(self, query: TaskQuery) -> Sequence[Task]:
        found = self._matching(query)[query.offset :]
        return found if query.limit is None else found[: query.limit]

    def count_tasks(self, query: TaskQuery) -> int:
        return len(self._matching(query))

    def task_counts(self, stream_ids: Sequence[str] | None = None) -> Mapping[str, Mapping[TaskStatus, int]]:
        wanted = None if stream_ids is None else set(stream_ids)
        # every asked-for stream gets an entry, even without tasks (as in the SQLite store)
        counts: dict[str, dict[TaskStatus, int]] = {} if stream_ids is None else {s: {} for s in stream_ids}
        for t in self._s.tasks.values():
            if wanted is None or t.stream_id in wanted:
                per = counts.setdefault(t.stream_id, {})
                per[t.status] = per.get(t.status, 0) + 1
        return counts

    def finished_since(self, cutoff: datetime, limit: int) -> Sequence[FinishedTask]:
        found = [
            FinishedTask(tool_name=t.tool_name, status=t.status, started_at=t.started_at, finished_at=t.finished_at)
            for t in reversed(self._s.tasks.values())
            if t.status in _STATS_STATUSES and t.finished_at is not None and t.finished_at >= cutoff
        ]
        return found[:limit]

    def delete_finished_before(self, cutoff: datetime, limit: int | None = None) -> int:
        doomed = sorted(
            (
                t
                for t in self._s.tasks.values()
                if t.status.finished and t.finished_at is not None and t.finished_at < cutoff
            ),
            key=lambda t: t.finished_at or cutoff,
        )[:limit]
        for task in doomed:
            del self._s.tasks[task.id]
        return len(doomed)


class MemoryStore:
    """Satisfies `sparkq_domain.Store` with state held in this process."""

    def __init__(self) -> None:
        self._state = _State()
        self._lock = threading.RLock()

    @contextmanager
    def read(self) -> Iterator[MemoryRepository]:
        with self._lock:
            yield MemoryRepository(self._state)

    @contextmanager
    def write(self) -> Iterator[MemoryRepository]:
        with self._lock:
            draft = self._state.copy()
            yield MemoryRepository(draft)
            self._state = draft
