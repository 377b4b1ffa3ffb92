"""The use cases: one `Queue` object that the library, the CLI and the HTTP API all call."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import attrs

from .errors import Conflict, Duplicate, InvalidInput, InvalidTransition, NotFound, StreamEnded
from .limits import check_payload, check_result, fit_error, fit_output, quoted
from .model import (
    FINISHED_STATUSES,
    STREAM_ENDED_REASON,
    JSONObject,
    Project,
    Registry,
    Session,
    Status,
    Stream,
    StreamCounts,
    Task,
    TaskChange,
    TaskClass,
    TaskStatus,
    auto_fail_change,
    cancel_change,
    claim_change,
    complete_change,
    default_registry,
    fail_change,
    heartbeat_change,
    new_task,
    recount_change,
    requeued_change,
    validate_name,
)
from .ports import Clock, IdFactory, Repository, Store, TaskQuery
from .review import MAX_SEARCH_CHARS
from .stats import Stats, summarize

MAX_PAGE = 1000
#: finished tasks deleted per purge transaction: ~0.1 s each with a million tasks on the file (the
#: measurements behind the choice are in docs/benchmarks.md, Scale)
PURGE_BATCH = 5000
#: seconds between purge transactions: a gap that lets the claims and enqueues waiting for the lock in
PURGE_PAUSE = 0.1
#: the earliest moment a datetime holds: an age reaching past it means "ever"
_EPOCH = datetime.min.replace(tzinfo=UTC)
#: what `StreamEnded` tells a worker that peeks at or claims from an ended stream
ENDED_FOR_WORKERS = (
    "no task can be claimed from it any more: stop this worker's loop "
    "(`sparkq stream list --status active` shows the streams that take work)"
)


class _Overdue(Exception):
    """A report reached a task after it had died: undo the report (the unit rolls back)."""


@attrs.frozen(kw_only=True)
class Claimed:
    """A claimed task together with the stream whose instructions the worker follows."""

    task: Task
    stream: Stream


@attrs.frozen(kw_only=True)
class BulkRequeue:
    """What a bulk requeue did (or, on a dry run, would do)."""

    #: the failed tasks requeued (dry run: that would be), in their original FIFO order
    originals: Sequence[Task]
    #: their queued copies, in the same order (none on a dry run)
    copies: Sequence[Task]
    #: failed tasks that matched but whose stream has ended: not requeued (a copy could never run)
    skipped: Sequence[Task]


@attrs.frozen(kw_only=True)
class TaskPage:
    tasks: Sequence[Task]
    total: int
    limit: int | None
    offset: int


def _is_stream_id(ref: str) -> bool:
    return ref.startswith("str_")


def _is_session_id(ref: str) -> bool:
    return ref.startswith("ses_")


class Queue:
    """Every SparkQ use case, over a store, a clock, an id factory and a tool registry."""

    def __init__(self, store: Store, clock: Clock, ids: IdFactory, registry: Registry | None = None) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self.registry = registry if registry is not None else default_registry()

    def use_registry(self, registry: Registry) -> None:
        """Swap the tool registry (after a config reload)."""
        self.registry = registry

    def now(self) -> datetime:
        return self._clock.now()

    # -- project -------------------------------------------------------------------------------

    def ensure_project(self, name: str, repo_path: str | None = None, prd_path: str | None = None) -> Project:
        """Return the project, creating it on first use."""
        with self._store.read() as repo:
            project = repo.get_project()
        if project is not None:
            return project
        with self._store.write() as repo:
            project = repo.get_project()
            if project is None:
                now = self._clock.now()
                project = Project(
                    id=self._ids.new_id("prj"),
                    name=name,
                    repo_path=repo_path,
                    prd_path=prd_path,
                    created_at=now,
                    updated_at=now,
                )
                repo.add_project(project)
            return project

    def update_project(self, name: str, repo_path: str | None, prd_path: str | None) -> Project:
        project = self.ensure_project(name, repo_path, prd_path)
        with self._store.write() as repo:
            updated = attrs.evolve(
                project, name=name, repo_path=repo_path, prd_path=prd_path, updated_at=self._clock.now()
            )
            repo.add_project(updated)
        return updated

    def project(self) -> Project | None:
        with self._store.read() as repo:
            return repo.get_project()

    # -- sessions ------------------------------------------------------------------------------

    def create_session(self, name: str, description: str | None = None) -> Session:
        validate_name("session", name)
        with self._store.write() as repo:
            project = repo.get_project()
            if project is None:
                raise Conflict("No project yet: run `sparkq setup` or use any command once to create it")
            if repo.find_session(name) is not None:
                raise Duplicate(f"Session {name!r} already exists; pick another name or use the existing one")
            now = self._clock.now()
            session = Session(
                id=self._ids.new_id("ses"),
                project_id=project.id,
                name=name,
                description=description,
                started_at=now,
                created_at=now,
                updated_at=now,
            )
            repo.add_session(session)
            return session

    def get_session(self, ref: str) -> Session:
        with self._store.read() as repo:
            return self._session(repo, ref)

    def list_sessions(self, status: Status | str | None = None) -> Sequence[Session]:
        with self._store.read() as repo:
            return repo.list_sessions(_status(status))

    def describe_session(self, ref: str, description: str | None) -> Session:
        """Replace a session's description, ended or not (it is a note for people; no worker reads it)."""
        with self._store.write() as repo:
            session = self._session(repo, ref)
            updated = attrs.evolve(session, description=description, updated_at=self._clock.now())
            repo.save_session(updated)
            return updated

    def end_session(self, ref: str) -> Session:
        """End a session and every active stream in it."""
        with self._store.write() as repo:
            session = self._session(repo, ref)
            if session.status is Status.ENDED:
                raise Conflict(f"Session {session.name!r} has already ended")
            now = self._clock.now()
            for stream in repo.list_streams(session.id, Status.ACTIVE):
                self._end_stream(repo, stream, now)
            ended = session.end(now)
            repo.save_session(ended)
            return ended

    # -- streams -------------------------------------------------------------------------------

    def create_stream(self, name: str, session: str, instructions: str | None = None) -> Stream:
        validate_name("stream", name)
        with self._store.write() as repo:
            owner = self._session(repo, session)
            if owner.status is Status.ENDED:
                raise Conflict(f"Session {owner.name!r} has ended and accepts no new streams")
            if repo.find_stream(name) is not None:
                raise Duplicate(f"Stream {name!r} already exists (stream names are unique across sessions)")
            now = self._clock.now()
            stream = Stream(
                id=self._ids.new_id("str"),
                session_id=owner.id,
                name=name,
                instructions=instructions,
                created_at=now,
                updated_at=now,
            )
            repo.add_stream(stream)
            return stream

    def get_stream(self, ref: str) -> Stream:
        with self._store.read() as repo:
            return self._stream(repo, ref)

    def list_streams(self, session: str | None = None, status: Status | str | None = None) -> Sequence[StreamCounts]:
        """List streams with their session's name and their task counts per status."""
        with self._store.read() as repo:
            session_id = self._session(repo, session).id if session is not None else None
            streams = repo.list_streams(session_id, _status(status))
            counts = repo.task_counts([s.id for s in streams])
            names = {s.id: s.name for s in repo.list_sessions()}
        return [
            StreamCounts(stream=s, session_name=names.get(s.session_id, ""), counts=_full_counts(counts.get(s.id, {})))
            for s in streams
        ]

    def stream_counts(self, ref: str) -> StreamCounts:
        with self._store.read() as repo:
            stream = self._stream(repo, ref)
            counts = repo.task_counts([stream.id]).get(stream.id, {})
            session = repo.get_session(stream.session_id)
        return StreamCounts(stream=stream, session_name=session.name if session else "", counts=_full_counts(counts))

    def instruct_stream(self, ref: str, instructions: str | None) -> Stream:
        """Replace a stream's instructions: the next task claimed from it carries the new text.

        An ended stream is refused: no worker will claim from it again, so an edit would reach
        nobody, and its instructions stay the record of what its workers were told.
        """
        with self._store.write() as repo:
            stream = self._stream(repo, ref)
            self._require_open(stream, "no worker will claim from it again, so its instructions stay as they were")
            updated = attrs.evolve(stream, instructions=instructions, updated_at=self._clock.now())
            repo.save_stream(updated)
            return updated

    def end_stream(self, ref: str) -> Stream:
        with self._store.write() as repo:
            stream = self._stream(repo, ref)
            if stream.status is Status.ENDED:
                raise Conflict(f"Stream {stream.name!r} has already ended")
            return self._end_stream(repo, stream, self._clock.now())

    @staticmethod
    def _end_stream(repo: Repository, stream: Stream, now: datetime) -> Stream:
        """End a stream and cancel its queued tasks (no worker can claim them any more), in the caller's unit."""
        ended = stream.end(now)
        repo.save_stream(ended)
        repo.apply_to_queued(stream.id, cancel_change(now, STREAM_ENDED_REASON))
        return ended

    # -- tasks: the worker protocol ------------------------------------------------------------

    def enqueue(
        self,
        stream: str,
        tool_name: str,
        payload: JSONObject,
        *,
        timeout: int | None = None,
        task_class: TaskClass | str | None = None,
    ) -> Task:
        """Queue a task at the back of a stream."""
        cls, resolved = self.registry.resolve(tool_name, timeout=timeout, task_class=task_class)
        payload = check_payload(payload)  # before the write lock: checking a large payload takes a moment
        with self._store.write() as repo:
            target = self._stream(repo, stream)
            self._require_open(target, "accepts no new tasks")
            task = new_task(
                task_id=self._ids.new_id("tsk"),
                stream_id=target.id,
                tool_name=tool_name,
                task_class=cls,
                payload=payload,
                timeout=resolved,
                now=self._clock.now(),
            )
            repo.add_task(task)
            return task

    def peek(self, stream: str) -> Task | None:
        """Return the next queued task of a stream without changing anything; None when there is none.

        Like `claim`, raises `StreamEnded` for a stream that has ended: a worker that checks for work
        before it claims learns the same thing as one that claims.
        """
        self.sweep_dead()
        with self._store.read() as repo:
            target = self._stream(repo, stream)
            self._require_open(target, ENDED_FOR_WORKERS)
            return repo.next_queued(target.id)

    def claim(self, stream: str) -> Claimed | None:
        """Move the oldest queued task of a stream to running; None when there is none.

        Raises `StreamEnded` for a stream that has ended: it will never have work again, and a
        worker that took "nothing" for "nothing yet" would wait or poll forever.
        """
        with self._store.write() as repo:
            now = self._clock.now()
            target = self._stream(repo, stream)
            self._require_open(target, ENDED_FOR_WORKERS)  # before the sweep, which the refusal would roll back
            self._sweep_running(repo, now)
            claimed = repo.claim_next(target.id, claim_change(now))
            return None if claimed is None else Claimed(task=claimed, stream=target)

    def claim_task(self, task_id: str) -> Claimed:
        """Claim one particular queued task."""
        with self._store.write() as repo:
            now = self._clock.now()
            task = self._task(repo, task_id)
            stream = self._stream(repo, task.stream_id)
            task.claim(now)  # refuses a task that is not queued, before the stream's state
            self._require_open(stream, "its queued tasks cannot be claimed")
            claimed = self._apply(repo, task_id, claim_change(now))
            return Claimed(task=claimed, stream=stream)

    def complete(
        self, task_id: str, result: JSONObject, *, stdout: str | None = None, stderr: str | None = None
    ) -> Task:
        """Report a running task as succeeded; `result` needs a non-empty string `summary`.

        A result over `MAX_RESULT_BYTES` is refused; stdout and stderr over `MAX_OUTPUT_BYTES` are
        stored truncated (head and tail, with a marker that records the original size).
        """
        check_result(result)
        stdout, stderr = fit_output(stdout, "stdout"), fit_output(stderr, "stderr")
        return self._report(task_id, "complete", lambda now: complete_change(result, now, stdout=stdout, stderr=stderr))

    def fail(
        self,
        task_id: str,
        error: str,
        *,
        error_type: str | None = None,
        stdout: str | None = None,
        stderr: str | None = None,
    ) -> Task:
        """Report a running task as failed, with an error message (output and message truncated as for complete).

        `error_type` is an optional short category (e.g. TestFailure), stored apart from the message.
        """
        message = fit_error(error) or ""  # a missing message is refused by the transition, with its own words
        stdout, stderr = fit_output(stdout, "stdout"), fit_output(stderr, "stderr")
        return self._report(
            task_id,
            "fail",
            lambda now: fail_change(message, now, error_type=error_type, stdout=stdout, stderr=stderr),
        )

    def _report(self, task_id: str, action: str, change_at: Callable[[datetime], TaskChange]) -> Task:
        # A report that comes after the task died (2x its timeout) is refused, whether or not a sweep
        # has run yet: the outcome must not depend on when somebody last listed the tasks.
        now = self._clock.now()
        try:
            change = change_at(now)
        except InvalidInput:
            # the task's state is refused first, as for any report: only then the report itself
            self._refuse_report(task_id, action, now)
            raise
        try:
            with self._store.write() as repo:
                reported = self._apply(repo, task_id, change)
                if reported.overdue(now):
                    raise _Overdue
                return reported
        except _Overdue:
            self._refuse_report(task_id, action, now)
        # another writer changed the task between the two units (e.g. counted its start afresh): again
        return self._report(task_id, action, change_at)

    def _refuse_report(self, task_id: str, action: str, now: datetime) -> None:
        """Raise the error for a report on this task, if its state refuses any; auto-fail it if it died."""
        with self._store.write() as repo:
            task = self._task(repo, task_id)
            if task.status is not TaskStatus.RUNNING:
                raise InvalidTransition(task_id, action, task.status.value)
            if not task.is_dead(now):
                return
            repo.apply(task_id, auto_fail_change(task.timeout, now))
        raise _died(task, action)

    def heartbeat(self, task_id: str, note: str | None = None) -> Task:
        """Record that a running task's worker is alive (and, with `note`, where the work stands).

        Stale and dead count from the latest heartbeat. A task that is not running is refused
        naming its status, so a worker whose task was failed learns to stop; a task already dead
        (silent past twice its timeout) is auto-failed and refused so.
        """
        now = self._clock.now()
        try:
            change = heartbeat_change(now, note)
        except InvalidInput:
            self._refuse_report(task_id, "heartbeat", now)  # the task's state is refused first
            raise
        with self._store.write() as repo:
            task = self._task(repo, task_id)
            if not task.is_dead(now):
                return self._apply(repo, task_id, change)
            repo.apply(task_id, auto_fail_change(task.timeout, now))
        raise _died(task, "heartbeat")

    def cancel(self, task_id: str, reason: str | None = None) -> Task:
        """Take a queued task off the queue (cancelled, a terminal status); only queued tasks."""
        change = cancel_change(self._clock.now(), reason)
        with self._store.write() as repo:
            return self._apply(repo, task_id, change)

    def cancel_stream(self, stream: str, reason: str | None = None) -> int:
        """Cancel every queued task of a stream; return how many."""
        change = cancel_change(self._clock.now(), reason)
        with self._store.write() as repo:
            return repo.apply_to_queued(self._stream(repo, stream).id, change)

    def requeue(self, task_id: str) -> Task:
        """Queue a fresh copy of a finished task; the original stays in history."""
        with self._store.write() as repo:
            original = self._task(repo, task_id)
            clone = original.requeue(self._ids.new_id("tsk"), self._clock.now())
            stream = self._stream(repo, original.stream_id)
            self._require_open(stream, "accepts no new tasks, so the task cannot be requeued")
            self._add_copy(repo, original, clone)
            return clone

    def requeue_failed(
        self, stream: str | None = None, since: timedelta | None = None, *, dry_run: bool = False
    ) -> BulkRequeue:
        """Requeue every failed task (auto-failed too) not requeued yet, in FIFO order; each at most once.

        `stream` narrows to one stream; `since` to tasks that failed within that long before now.
        A task of an ended stream is skipped (and reported so): its copy could never be claimed.
        The originals keep everything but learn their copy's id (`requeued_to`), so running it twice
        requeues nothing the second time. With `dry_run`, nothing changes.
        """
        if since is not None and since < timedelta(0):
            raise InvalidInput("The requeue age must not be negative")
        self.sweep_dead()  # the dead are failed tasks too, whether or not a sweep has run yet
        with self._store.write() as repo:
            now = self._clock.now()
            stream_id = self._stream(repo, stream).id if stream is not None else None
            found = repo.failed_not_requeued(stream_id, None if since is None or since > now - _EPOCH else now - since)
            open_streams: dict[str, bool] = {}
            originals: list[Task] = []
            skipped: list[Task] = []
            for task in found:
                if task.stream_id not in open_streams:
                    owner = repo.get_stream(task.stream_id)
                    open_streams[task.stream_id] = owner is not None and owner.status is Status.ACTIVE
                (originals if open_streams[task.stream_id] else skipped).append(task)
            if dry_run:
                return BulkRequeue(originals=originals, copies=[], skipped=skipped)
            copies: list[Task] = []
            for original in originals:
                clone = original.requeue(self._ids.new_id("tsk"), now)
                self._add_copy(repo, original, clone)
                copies.append(clone)
            return BulkRequeue(originals=originals, copies=copies, skipped=skipped)

    @classmethod
    def _add_copy(cls, repo: Repository, original: Task, clone: Task) -> None:
        """Queue a requeued copy and record its id on the original, in the caller's unit."""
        repo.add_task(clone)
        cls._apply(repo, original.id, requeued_change(original, clone.id))

    # -- tasks: reading ------------------------------------------------------------------------

    def get_task(self, task_id: str) -> Task:
        self.sweep_dead()
        with self._store.read() as repo:
            return self._task(repo, task_id)

    def task_detail(self, task_id: str) -> Claimed:
        """A task with its stream (for detail views)."""
        self.sweep_dead()
        with self._store.read() as repo:
            task = self._task(repo, task_id)
            return Claimed(task=task, stream=self._stream(repo, task.stream_id))

    def list_tasks(
        self,
        *,
        stream: str | None = None,
        status: TaskStatus | str | None = None,
        stale: bool = False,
        limit: int | None = 50,
        offset: int = 0,
        newest_first: bool = True,
        tool: str | None = None,
        search: str | None = None,
    ) -> TaskPage:
        """A page of tasks that pass every filter given; the total counts all that pass.

        `tool` is a tool's exact name, checked against the tasks, not the registry (tasks outlive a
        tool removed from it). `search` finds text in the id, result summary, error, progress note
        or payload (`matches_search`); an empty one filters nothing.
        """
        if limit is not None and not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"Invalid limit {limit}: must be between 1 and {MAX_PAGE}")
        if offset < 0:
            raise InvalidInput(f"Invalid offset {offset}: must be 0 or more")
        if search is not None and len(search) > MAX_SEARCH_CHARS:
            raise InvalidInput(
                f"The search text is {len(search):,} characters: at most {MAX_SEARCH_CHARS} are taken; "
                "search for a shorter, distinctive part"
            )
        if search is not None and "\x00" in search:
            # SQLite would read the text only up to it, and find what the rest of it rules out
            raise InvalidInput(
                "The search text holds a NUL character (\\x00), which a search cannot match: leave it out"
            )
        task_status = _task_status(status)
        self.sweep_dead()
        with self._store.read() as repo:
            stream_id = self._stream(repo, stream).id if stream is not None else None
            if stale:
                if task_status not in (None, TaskStatus.RUNNING):
                    return TaskPage(tasks=[], total=0, limit=limit, offset=offset)
                task_status = TaskStatus.RUNNING
            query = TaskQuery(
                stream_id=stream_id,
                status=task_status,
                stale_at=self._clock.now() if stale else None,
                limit=limit,
                offset=offset,
                newest_first=newest_first,
                tool=tool or None,
                search=search or None,
            )
            tasks = repo.list_tasks(query)
            if (limit is None or len(tasks) < limit) and (tasks or offset == 0):
                # the page holds the last task: its end is the total, without a second read of them all
                # (a search or tool filter reads every task the others leave, and most pages end the list)
                return TaskPage(tasks=tasks, total=offset + len(tasks), limit=limit, offset=offset)
            return TaskPage(tasks=tasks, total=repo.count_tasks(query), limit=limit, offset=offset)

    def status_counts(self) -> Mapping[TaskStatus, int]:
        """How many tasks there are in each status, over all streams."""
        with self._store.read() as repo:
            totals: dict[TaskStatus, int] = dict.fromkeys(TaskStatus, 0)
            for counts in repo.task_counts().values():
                for status, n in counts.items():
                    totals[status] += n
            return totals

    def queued_by_stream(self) -> Sequence[StreamCounts]:
        """Claimable streams that have queued tasks, with their counts."""
        return [s for s in self.list_streams(status=Status.ACTIVE) if s.counts[TaskStatus.QUEUED] > 0]

    def stats(self, *, hours: int = 24, days: int = 30, sample: int = 20_000) -> Stats:
        """Tasks finished per hour over the last `hours`, and per-tool durations over `days`.

        Reads at most `sample` finished tasks (the latest enqueued), so it stays quick on any backlog.
        """
        now = self._clock.now()
        with self._store.read() as repo:
            records = repo.finished_since(now - timedelta(days=days), sample)
        return summarize(records, now, hours=hours)

    # -- housekeeping --------------------------------------------------------------------------

    def sweep_dead(self) -> Sequence[Task]:
        """Auto-fail every running task past twice its timeout; return those failed now."""
        now = self._clock.now()
        with self._store.read() as repo:
            if not any(t.is_dead(now) or t.starts_after(now) for t in repo.sweep_candidates(now)):
                return []
        with self._store.write() as repo:
            return self._sweep_running(repo, self._clock.now())

    def purge(
        self,
        older_than: timedelta,
        *,
        batch_size: int = PURGE_BATCH,
        pause: float = PURGE_PAUSE,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Delete finished (succeeded, failed, cancelled) tasks older than `older_than`; return how many.

        Deletes `batch_size` tasks per write transaction, `pause` seconds apart, so that claims and
        enqueues of other processes get in while a large purge runs. An interrupted purge keeps what
        it deleted so far, and running it again goes on. (Trimming a store's change feed is the
        store's own upkeep, not a use case.)

        `progress(done, total)` is told the tasks deleted so far, before the first batch and after
        each: `total` is at most how many will be (the finished tasks there were at the start, counted
        only for it), and the last call, when nothing is left to delete, has `done == total`.
        """
        if older_than < timedelta(0):
            raise InvalidInput("The purge age must not be negative")
        if batch_size < 1:
            raise InvalidInput(f"Invalid purge batch size {batch_size}: must be 1 or more")
        cutoff = self._clock.now() - older_than
        most = 0
        if progress is not None:
            with self._store.read() as repo:
                most = sum(counts.get(s, 0) for counts in repo.task_counts().values() for s in FINISHED_STATUSES)
            progress(0, most)
        return self._in_batches(
            lambda repo: repo.delete_finished_before(cutoff, batch_size), batch_size, pause, progress, most
        )

    def _in_batches(
        self,
        step: Callable[[Repository], int],
        batch_size: int,
        pause: float,
        progress: Callable[[int, int], None] | None = None,
        most: int = 0,
    ) -> int:
        """Run `step` in write transactions of its own until one does less than a full batch; sum the counts.

        After each batch, `progress(sum so far, most)`; after the last, `progress(sum, sum)`.
        """
        total = 0
        while True:
            with self._store.write() as repo:
                done = step(repo)
            total += done
            if progress is not None:
                progress(total, total if done < batch_size else max(most, total))
            if done < batch_size:
                return total
            if pause > 0:
                self._clock.sleep(pause)

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _sweep_running(repo: Repository, now: datetime) -> list[Task]:
        """Auto-fail the dead running tasks; recount those whose start the clock has gone back past.

        A start or heartbeat a little after `now` is another machine's clock or a claim that committed
        after `now` was read (PostgreSQL has no global write lock): `Task.starts_after` allows for both
        (`CLOCK_TOLERANCE`), so only a clock that jumped back recounts.
        """
        failed = []
        for task in repo.sweep_candidates(now):
            if task.is_dead(now):
                dead = repo.apply(task.id, auto_fail_change(task.timeout, now))
                if dead is not None:
                    failed.append(dead)
            elif task.starts_after(now):
                repo.apply(task.id, recount_change(now))
        return failed

    @classmethod
    def _apply(cls, repo: Repository, task_id: str, change: TaskChange) -> Task:
        """Apply a transition as a compare-and-set; when it misses, raise the error naming the status."""
        changed = repo.apply(task_id, change)
        if changed is None:
            raise InvalidTransition(task_id, change.action, cls._task(repo, task_id).status.value)
        return changed

    @staticmethod
    def _require_open(stream: Stream, what: str) -> None:
        # A stream's own status decides: ending a session ends its streams in the same transaction.
        if stream.status is not Status.ACTIVE:
            raise StreamEnded(stream.name, what)

    @staticmethod
    def _session(repo: Repository, ref: str) -> Session:
        session = repo.get_session(ref) if _is_session_id(ref) else repo.find_session(ref)
        if session is None:
            raise NotFound(f"Session {quoted(ref)} not found; `sparkq session list` shows the sessions")
        return session

    @staticmethod
    def _stream(repo: Repository, ref: str) -> Stream:
        stream = repo.get_stream(ref) if _is_stream_id(ref) else repo.find_stream(ref)
        if stream is None:
            raise NotFound(f"Stream {quoted(ref)} not found; `sparkq stream list` shows the streams")
        return stream

    @staticmethod
    def _task(repo: Repository, task_id: str) -> Task:
        task = repo.get_task(task_id)
        if task is None:
            raise NotFound(f"Task {quoted(task_id)} not found; `sparkq tasks` lists the tasks")
        return task


def _died(task: Task, action: str) -> InvalidTransition:
    """The refusal of a report or heartbeat that came after its task died (and was auto-failed)."""
    return InvalidTransition(
        task.id,
        action,
        TaskStatus.FAILED.value,
        detail=f"auto-failed, as no complete/fail came within 2x its timeout ({task.timeout}s)",
    )


def _status(value: Status | str | None) -> Status | None:
    if value is None:
        return None
    try:
        return Status(value)
    except ValueError:
        raise InvalidInput(f"Unknown status {quoted(value)}. Use one of: active, ended") from None


def _task_status(value: TaskStatus | str | None) -> TaskStatus | None:
    if value is None:
        return None
    try:
        return TaskStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in TaskStatus)
        raise InvalidInput(f"Unknown task status {quoted(value)}. Use one of: {known}") from None


def _full_counts(counts: Mapping[TaskStatus, int]) -> Mapping[TaskStatus, int]:
    return {status: counts.get(status, 0) for status in TaskStatus}
