"""Random operation sequences through the `Queue` service, checked against a tiny model of SPEC §3.

The same machine runs on the in-memory store and on a SQLite file (fresh per example), with a clock
that only moves when a rule says so and ids that count up.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sparkq_adapters.memory import MemoryStore
from sparkq_adapters.serialization import task_row_dict
from sparkq_adapters.sqlite import SqliteStore
from sparkq_domain import (
    AUTO_FAIL_MESSAGE,
    CLOCK_TOLERANCE,
    STREAM_ENDED_REASON,
    Conflict,
    Duplicate,
    FailureKind,
    InvalidInput,
    InvalidTransition,
    Queue,
    Store,
    StreamEnded,
    Task,
    TaskQuery,
    TaskStatus,
)
from tests import postgres_support
from tests.fakes import FakeClock, SequentialIds

SESSION_NAMES = ("api-v2", "docs", "ops")
STREAM_NAMES = ("auth", "billing", "search", "ui")
TIMEOUTS = (5, 10, 30)
#: seconds to move the clock: small steps, exact multiples of the timeouts (the boundaries), and days
ADVANCES = st.one_of(
    st.sampled_from([0, 0.000001, 1, 5, 10, 20, 30, 60, 61, 3600, 3 * 86400]),
    st.integers(min_value=0, max_value=90),
)
#: seconds to move the clock back (NTP corrections, a laptop waking with a wrong clock, a manual fix)
BACKWARD_JUMPS = st.sampled_from([0.000001, 1, 30, 3600, 3 * 86400])
PURGE_AGES = st.sampled_from([timedelta(0), timedelta(seconds=5), timedelta(minutes=1), timedelta(days=3)])
NOTES = st.sampled_from([None, "tests written", "3/5 pass ✓", "é" * 512])
REASONS = st.sampled_from([None, "superseded", "  spaced out  ", " "])
BAD_RESULTS = st.sampled_from([{}, {"summary": ""}, {"summary": "   "}, {"summary": 3}, {"data": "no summary"}])

#: (before, after) status pairs a task may show between two looks at it
LEGAL_STEPS = {
    (TaskStatus.QUEUED, TaskStatus.QUEUED),
    (TaskStatus.QUEUED, TaskStatus.RUNNING),
    (TaskStatus.QUEUED, TaskStatus.CANCELLED),
    (TaskStatus.CANCELLED, TaskStatus.CANCELLED),
    (TaskStatus.RUNNING, TaskStatus.RUNNING),
    (TaskStatus.RUNNING, TaskStatus.SUCCEEDED),
    (TaskStatus.RUNNING, TaskStatus.FAILED),
    (TaskStatus.SUCCEEDED, TaskStatus.SUCCEEDED),
    (TaskStatus.FAILED, TaskStatus.FAILED),
}


@attrs.define
class ModelTask:
    id: str
    stream: str
    timeout: int
    status: TaskStatus = TaskStatus.QUEUED
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    error_type: str | None = None
    auto_failed: bool = False
    heartbeat_at: datetime | None = None
    progress: str | None = None
    requeued_to: str | None = None

    @property
    def last_alive(self) -> datetime | None:
        """Stale and dead count from the later of the start and the last heartbeat (SPEC §11)."""
        if self.started_at is None or self.heartbeat_at is None:
            return self.started_at
        return max(self.started_at, self.heartbeat_at)

    def cancel(self, now: datetime, reason: str | None) -> None:
        self.status = TaskStatus.CANCELLED
        self.error = (reason or "").strip() or None
        self.finished_at = now


class QueueMachine(RuleBasedStateMachine):
    """Drives a Queue on the in-memory store and mirrors every expected effect in plain dicts."""

    def make_store(self) -> Store:
        return MemoryStore()

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.store = self.make_store()
        self.queue = Queue(self.store, self.clock, SequentialIds())
        self.queue.ensure_project("demo")
        self.session_ended: dict[str, bool] = {}
        self.stream_session: dict[str, str] = {}
        self.stream_ended: dict[str, bool] = {}
        #: every task not purged, in enqueue order
        self.tasks: dict[str, ModelTask] = {}
        self.auto_fail_count: dict[str, int] = {}
        self.seen_status: dict[str, TaskStatus] = {}
        self.seen_attempts: dict[str, int] = {}

    # -- the model's rules -------------------------------------------------------------------------

    def claimable(self, stream: str) -> bool:
        return not self.stream_ended[stream] and not self.session_ended[self.stream_session[stream]]

    def next_queued(self, stream: str) -> ModelTask | None:
        return next((t for t in self.tasks.values() if t.stream == stream and t.status is TaskStatus.QUEUED), None)

    def sweep(self) -> None:
        now = self.clock.now()
        for t in self.tasks.values():
            started = t.last_alive
            limit = timedelta(seconds=2 * t.timeout)
            if t.status is TaskStatus.RUNNING and started is not None and now - started > limit:
                t.status = TaskStatus.FAILED
                t.error = AUTO_FAIL_MESSAGE.format(timeout=t.timeout)
                t.finished_at = now
                t.auto_failed = True
                self.auto_fail_count[t.id] = self.auto_fail_count.get(t.id, 0) + 1
            elif t.status is TaskStatus.RUNNING and started is not None and started > now + CLOCK_TOLERANCE:
                t.started_at = now  # the clock went back: the count restarts from now
                t.heartbeat_at = None

    def stored(self) -> dict[str, Task]:
        """Every stored task, read straight from the repository (no sweep)."""
        with self.store.read() as repo:
            return {t.id: t for t in repo.list_tasks(TaskQuery(limit=None, newest_first=False))}

    def pick(self, items: list[str], index: int) -> str:
        return items[index % len(items)]

    # -- sessions and streams ----------------------------------------------------------------------

    @rule(name=st.sampled_from(SESSION_NAMES))
    def create_session(self, name: str) -> None:
        if name in self.session_ended:
            with pytest.raises(Duplicate):
                self.queue.create_session(name)
            return
        assert self.queue.create_session(name).name == name
        self.session_ended[name] = False

    @precondition(lambda self: self.session_ended)
    @rule(name=st.sampled_from(STREAM_NAMES), index=st.integers(0, 10))
    def create_stream(self, name: str, index: int) -> None:
        session = self.pick(list(self.session_ended), index)
        if self.session_ended[session]:
            with pytest.raises(Conflict, match="has ended"):
                self.queue.create_stream(name, session)
        elif name in self.stream_session:
            with pytest.raises(Duplicate):
                self.queue.create_stream(name, session)
        else:
            self.queue.create_stream(name, session, instructions=f"Do {name}")
            self.stream_session[name] = session
            self.stream_ended[name] = False

    @precondition(lambda self: self.stream_session)
    @rule(index=st.integers(0, 10))
    def end_stream(self, index: int) -> None:
        stream = self.pick(list(self.stream_session), index)
        if self.stream_ended[stream]:
            with pytest.raises(Conflict):
                self.queue.end_stream(stream)
            return
        self.queue.end_stream(stream)
        self.stream_ended[stream] = True
        self.cancel_queued(stream)

    def cancel_queued(self, stream: str) -> None:
        """Ending a stream cancels its queued tasks, with the reason `stream ended`."""
        for t in self.tasks.values():
            if t.stream == stream and t.status is TaskStatus.QUEUED:
                t.cancel(self.clock.now(), STREAM_ENDED_REASON)

    @precondition(lambda self: self.session_ended)
    @rule(index=st.integers(0, 10))
    def end_session(self, index: int) -> None:
        session = self.pick(list(self.session_ended), index)
        if self.session_ended[session]:
            with pytest.raises(Conflict):
                self.queue.end_session(session)
            return
        self.queue.end_session(session)
        self.session_ended[session] = True
        for stream, owner in self.stream_session.items():
            if owner == session:
                if not self.stream_ended[stream]:
                    self.cancel_queued(stream)
                self.stream_ended[stream] = True

    # -- the worker protocol -----------------------------------------------------------------------

    @precondition(lambda self: self.stream_session)
    @rule(index=st.integers(0, 10), timeout=st.sampled_from(TIMEOUTS))
    def enqueue(self, index: int, timeout: int) -> None:
        stream = self.pick(list(self.stream_session), index)
        payload = {"n": len(self.tasks), "text": "héllo ✓", "nested": {"list": [1, None, True]}}
        if not self.claimable(stream):
            before = self.stored()
            with pytest.raises(Conflict):
                self.queue.enqueue(stream, "run-bash", payload, timeout=timeout)
            assert self.stored() == before
            return
        task = self.queue.enqueue(stream, "run-bash", payload, timeout=timeout)
        assert task.status is TaskStatus.QUEUED and task.attempts == 0 and task.payload == payload
        assert task.id not in self.tasks
        self.tasks[task.id] = ModelTask(id=task.id, stream=stream, timeout=timeout)

    @precondition(lambda self: self.stream_session)
    @rule(index=st.integers(0, 10))
    def claim(self, index: int) -> None:
        stream = self.pick(list(self.stream_session), index)
        if not self.claimable(stream):
            before = self.stored()
            with pytest.raises(StreamEnded):
                self.queue.claim(stream)
            assert self.stored() == before, "a refused claim must change nothing"
            return
        self.sweep()
        expected = self.next_queued(stream)
        claimed = self.queue.claim(stream)
        if expected is None:
            assert claimed is None
            return
        assert claimed is not None
        assert claimed.task.id == expected.id, "claims must come in enqueue order"
        assert claimed.stream.name == stream and claimed.stream.instructions == f"Do {stream}"
        assert claimed.task.status is TaskStatus.RUNNING
        assert claimed.task.started_at == self.clock.now()
        expected.status = TaskStatus.RUNNING
        expected.attempts += 1
        expected.started_at = self.clock.now()
        assert claimed.task.attempts == expected.attempts

    @precondition(lambda self: self.tasks)
    @rule(index=st.integers(0, 100))
    def claim_task_by_id(self, index: int) -> None:
        model = self.tasks[self.pick(list(self.tasks), index)]
        if model.status is not TaskStatus.QUEUED:
            self.expect_invalid_transition(lambda: self.queue.claim_task(model.id), model)
            return
        if not self.claimable(model.stream):
            before = self.stored()
            with pytest.raises(Conflict):
                self.queue.claim_task(model.id)
            assert self.stored() == before
            return
        claimed = self.queue.claim_task(model.id)
        assert claimed.task.id == model.id and claimed.task.status is TaskStatus.RUNNING
        model.status = TaskStatus.RUNNING
        model.attempts += 1
        model.started_at = self.clock.now()

    @precondition(lambda self: self.tasks)
    @rule(index=st.integers(0, 100), summary=st.text(min_size=1, max_size=20).filter(str.strip))
    def complete(self, index: int, summary: str) -> None:
        model = self.tasks[self.pick(list(self.tasks), index)]
        result = {"summary": summary, "files": ["a.py"]}
        if self.refused_unless_running(lambda: self.queue.complete(model.id, result), model):
            return
        done = self.queue.complete(model.id, result, stdout="out", stderr="err")
        assert done.status is TaskStatus.SUCCEEDED and done.result == result
        model.status = TaskStatus.SUCCEEDED
        model.finished_at = self.clock.now()

    @precondition(lambda self: self.tasks)
    @rule(index=st.integers(0, 100), result=BAD_RESULTS)
    def complete_with_invalid_result(self, index: int, result: dict[str, object]) -> None:
        model = self.tasks[self.pick(list(self.tasks), index)]
        if self.refused_unless_running(lambda: self.queue.complete(model.id, result), model):
            return
        before = self.stored()
        with pytest.raises(InvalidInput, match="summary"):
            self.queue.complete(model.id, result)
        assert self.stored() == before
        assert before[model.id].status is TaskStatus.RUNNING

    @precondition(lambda self: self.tasks)
    @rule(index=st.integers(0, 100), lookalike=st.booleans(), error_type=st.sampled_from([None, "TestFailure"]))
    def fail(self, index: int, lookalike: bool, error_type: str | None) -> None:
        model = self.tasks[self.pick(list(self.tasks), index)]
        # a worker may report in the sweep's own words: still a reported failure, never an auto-failure
        message = AUTO_FAIL_MESSAGE.format(timeout=model.timeout) if lookalike else "tests fail"
        if self.refused_unless_running(lambda: self.queue.fail(model.id, message, error_type=error_type), model):
            return
        failed = self.queue.fail(model.id, message, error_type=error_type, stderr="trace")
        assert failed.status is TaskStatus.FAILED and failed.error == message
        model.status = TaskStatus.FAILED
        model.error = message
        model.error_type = error_type
        model.finished_at = self.clock.now()

    @precondition(lambda self: self.tasks)
    @rule(index=st.integers(0, 100))
    def requeue(self, index: int) -> None:
        model = self.tasks[self.pick(list(self.tasks), index)]
        if not model.status.finished:
            self.expect_invalid_transition(lambda: self.queue.requeue(model.id), model)
            return
        before = self.stored()
        if model.requeued_to is not None:  # at most one copy: the refusal names it
            with pytest.raises(InvalidTransition, match=f"already requeued as {model.requeued_to}"):
                self.queue.requeue(model.id)
            assert self.stored() == before
            return
        if not self.claimable(model.stream):
            with pytest.raises(Conflict, match="ended"):
                self.queue.requeue(model.id)
            assert self.stored() == before
            return
        clone = self.queue.requeue(model.id)
        after = self.stored()
        original = before[model.id]
        assert after[model.id] == attrs.evolve(original, requeued_to=clone.id), "only the copy's id on the original"
        assert clone.requeued_from == model.id
        assert clone.id not in before and after[clone.id] == clone
        assert clone.status is TaskStatus.QUEUED and clone.attempts == 0
        assert clone.started_at is None and clone.finished_at is None
        assert clone.result is None and clone.error is None and clone.stdout is None
        assert (clone.stream_id, clone.tool_name, clone.task_class, clone.payload, clone.timeout) == (
            original.stream_id,
            original.tool_name,
            original.task_class,
            original.payload,
            original.timeout,
        )
        self.tasks[clone.id] = ModelTask(id=clone.id, stream=model.stream, timeout=model.timeout)
        model.requeued_to = clone.id

    @rule()
    def requeue_failed(self) -> None:
        """Every failed task without a copy, in FIFO order; those of ended streams skipped."""
        self.sweep()
        matching = [t for t in self.tasks.values() if t.status is TaskStatus.FAILED and t.requeued_to is None]
        done = self.queue.requeue_failed()
        assert [t.id for t in done.originals] == [t.id for t in matching if self.claimable(t.stream)]
        assert [t.id for t in done.skipped] == [t.id for t in matching if not self.claimable(t.stream)]
        for original, clone in zip(done.originals, done.copies, strict=True):
            assert clone.requeued_from == original.id and clone.status is TaskStatus.QUEUED
            model = self.tasks[original.id]
            self.tasks[clone.id] = ModelTask(id=clone.id, stream=model.stream, timeout=model.timeout)
            model.requeued_to = clone.id

    @precondition(lambda self: self.tasks)
    @rule(index=st.integers(0, 100), note=NOTES)
    def heartbeat(self, index: int, note: str | None) -> None:
        model = self.tasks[self.pick(list(self.tasks), index)]
        if self.refused_unless_running(lambda: self.queue.heartbeat(model.id, note), model):
            return
        beat = self.queue.heartbeat(model.id, note)
        assert beat.status is TaskStatus.RUNNING and beat.heartbeat_at == self.clock.now()
        model.heartbeat_at = self.clock.now()
        if note is not None:
            model.progress = note

    @precondition(lambda self: self.tasks)
    @rule(index=st.integers(0, 100), reason=REASONS)
    def cancel(self, index: int, reason: str | None) -> None:
        model = self.tasks[self.pick(list(self.tasks), index)]
        if model.status is not TaskStatus.QUEUED:
            self.expect_invalid_transition(lambda: self.queue.cancel(model.id, reason), model)
            return
        cancelled = self.queue.cancel(model.id, reason)
        assert cancelled.status is TaskStatus.CANCELLED
        model.cancel(self.clock.now(), reason)

    def reported_too_late(self, action: Callable[[], object], model: ModelTask) -> bool:
        """A complete/fail/heartbeat on a task silent past 2x its timeout auto-fails it and is refused, swept or not."""
        started = model.last_alive
        now = self.clock.now()
        if model.status is not TaskStatus.RUNNING or started is None:
            return False
        if now - started <= timedelta(seconds=2 * model.timeout):
            return False
        with pytest.raises(InvalidTransition, match="it is failed \\(auto-failed") as info:
            action()
        assert info.value.status == TaskStatus.FAILED.value
        model.status = TaskStatus.FAILED
        model.error = AUTO_FAIL_MESSAGE.format(timeout=model.timeout)
        model.finished_at = now
        model.auto_failed = True
        self.auto_fail_count[model.id] = self.auto_fail_count.get(model.id, 0) + 1
        assert self.stored()[model.id].error == model.error
        return True

    def refused_unless_running(self, action: Callable[[], object], model: ModelTask) -> bool:
        """Expect a report on a task silent too long or not running to be refused; True when it was."""
        if self.reported_too_late(action, model):
            return True
        if model.status is not TaskStatus.RUNNING:
            self.expect_invalid_transition(action, model)
            return True
        return False

    def expect_invalid_transition(self, action: Callable[[], object], model: ModelTask) -> None:
        before = self.stored()
        with pytest.raises(InvalidTransition) as info:
            action()
        assert info.value.status == model.status.value
        assert f"it is {model.status.value}" in str(info.value)
        assert self.stored() == before, "a refused transition must change nothing"

    # -- reading -----------------------------------------------------------------------------------

    @precondition(lambda self: self.stream_session)
    @rule(index=st.integers(0, 10))
    def peek(self, index: int) -> None:
        stream = self.pick(list(self.stream_session), index)
        self.sweep()
        if not self.claimable(stream):
            with pytest.raises(StreamEnded):
                self.queue.peek(stream)
            return
        expected = self.next_queued(stream)
        got = self.queue.peek(stream)
        assert (got.id if got else None) == (expected.id if expected else None)

    @rule(
        status=st.none() | st.sampled_from(list(TaskStatus)),
        by_stream=st.booleans(),
        index=st.integers(0, 10),
        stale=st.booleans(),
        newest_first=st.booleans(),
    )
    def list_tasks(
        self, status: TaskStatus | None, by_stream: bool, index: int, stale: bool, newest_first: bool
    ) -> None:
        stream = self.pick(list(self.stream_session), index) if by_stream and self.stream_session else None
        self.sweep()
        now = self.clock.now()
        expected = [
            t.id
            for t in self.tasks.values()
            if (stream is None or t.stream == stream)
            and (status is None or t.status is status)
            and (
                not stale
                or (
                    t.status is TaskStatus.RUNNING
                    and (alive := t.last_alive) is not None
                    and now - alive > timedelta(seconds=t.timeout)
                )
            )
        ]
        if newest_first:
            expected.reverse()
        page = self.queue.list_tasks(stream=stream, status=status, stale=stale, limit=None, newest_first=newest_first)
        assert [t.id for t in page.tasks] == expected
        assert page.total == len(expected)

    @precondition(lambda self: self.tasks)
    @rule(index=st.integers(0, 100))
    def get_task(self, index: int) -> None:
        task_id = self.pick(list(self.tasks), index)
        self.sweep()
        assert self.queue.get_task(task_id).status is self.tasks[task_id].status

    @rule(seconds=ADVANCES)
    def advance_clock(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(seconds=BACKWARD_JUMPS)
    def jump_clock_back(self, seconds: float) -> None:
        self.clock.advance(-seconds)

    @rule()
    def wait_out_every_timeout(self) -> None:
        """Steady time after any jumps: every running task is stale, then dead, then failed once."""
        if not any(t.status is TaskStatus.RUNNING for t in self.tasks.values()):
            return
        longest = max(TIMEOUTS)
        self.sweep()
        self.queue.sweep_dead()  # the same sweep the model just did (recounts starts in the future)
        # a start or heartbeat less than CLOCK_TOLERANCE ahead (a small jump back) is not recounted: time
        # catches up with it first, and the count runs from there
        now = self.clock.now()
        ahead = [t.last_alive - now for t in self.tasks.values() if t.status is TaskStatus.RUNNING and t.last_alive]
        self.clock.advance(max([timedelta(0), *ahead]).total_seconds())
        self.sweep()
        self.clock.advance(longest + 0.5)
        self.sweep()  # the shorter timeouts are already dead: listing auto-fails them
        running = {t.id for t in self.tasks.values() if t.status is TaskStatus.RUNNING}
        stale = {t.id for t in self.queue.list_tasks(stale=True, limit=None).tasks}
        assert stale == running, "every running task must be stale once its timeout has passed"
        self.clock.advance(longest + 0.5)
        self.sweep()
        failed = {t.id for t in self.queue.sweep_dead()}
        assert failed == running, "every running task must be auto-failed once 2x its timeout has passed"
        assert not any(t.status is TaskStatus.RUNNING for t in self.stored().values())

    @precondition(lambda self: self.tasks)
    @rule(index=st.integers(0, 100), multiple=st.sampled_from([1, 2]), extra=st.sampled_from([0, 0.000001, 1]))
    def advance_to_a_timeout_boundary(self, index: int, multiple: int, extra: float) -> None:
        """Put the clock exactly at (or just past) 1x or 2x a running task's timeout."""
        model = self.tasks[self.pick(list(self.tasks), index)]
        alive = model.last_alive
        if model.status is TaskStatus.RUNNING and alive is not None:
            target = alive + timedelta(seconds=multiple * model.timeout + extra)
            if target > self.clock.now():
                self.clock.current = target

    @rule(older_than=PURGE_AGES)
    def purge(self, older_than: timedelta) -> None:
        cutoff = self.clock.now() - older_than
        doomed = [
            t.id
            for t in self.tasks.values()
            if t.status.finished and t.finished_at is not None and t.finished_at < cutoff
        ]
        assert self.queue.purge(older_than) == len(doomed)
        for task_id in doomed:
            del self.tasks[task_id]
            self.seen_status.pop(task_id, None)
            self.seen_attempts.pop(task_id, None)

    # -- invariants --------------------------------------------------------------------------------

    @invariant()
    def store_matches_the_model(self) -> None:
        stored = self.stored()
        assert list(stored) == list(self.tasks), "nothing lost, nothing extra, enqueue order kept"
        for task_id, model in self.tasks.items():
            task = stored[task_id]
            assert task.status is model.status
            assert task.stream_id == self.queue.get_stream(model.stream).id
            assert task.attempts == model.attempts
            assert task.started_at == model.started_at
            assert task.finished_at == model.finished_at
            assert task.error == model.error
            assert task.auto_failed is model.auto_failed
            assert task.error_type == model.error_type
            assert (task.heartbeat_at, task.progress) == (model.heartbeat_at, model.progress)
            assert task.requeued_to == model.requeued_to
            failed = model.status is TaskStatus.FAILED
            cancelled = model.status is TaskStatus.CANCELLED
            assert task.failure_kind is (
                FailureKind.AUTO
                if model.auto_failed
                else FailureKind.ERROR
                if failed
                else FailureKind.CANCELLED
                if cancelled
                else None
            )
            assert (task.status is TaskStatus.SUCCEEDED) is (task.result is not None)

    @invariant()
    def statuses_move_only_forward_and_attempts_never_decrease(self) -> None:
        for task_id, task in self.stored().items():
            assert task.status in TaskStatus
            previous = self.seen_status.get(task_id, TaskStatus.QUEUED)
            assert (previous, task.status) in LEGAL_STEPS, f"{task_id}: {previous} -> {task.status}"
            assert task.attempts >= self.seen_attempts.get(task_id, 0)
            assert task.attempts <= 1, "a task is claimed at most once; a retry is a new task"
            self.seen_status[task_id] = task.status
            self.seen_attempts[task_id] = task.attempts

    @invariant()
    def dead_tasks_are_auto_failed_exactly_once_with_the_spec_message(self) -> None:
        assert all(n == 1 for n in self.auto_fail_count.values())
        for task in self.stored().values():
            if task.auto_failed:
                assert task.error == (
                    f"Auto-failed: task exceeded 2x timeout ({task.timeout}s) with no complete/fail reported. "
                    "Likely worker crash or disconnect."
                )
                alive = task.last_alive
                assert alive is not None and task.finished_at is not None
                assert task.finished_at - alive > timedelta(seconds=2 * task.timeout)

    @invariant()
    def durations_are_never_negative(self) -> None:
        now = self.clock.now()
        for task in self.stored().values():
            row = task_row_dict(task, now)
            for key in ("duration_seconds", "running_seconds"):
                assert row[key] is None or row[key] >= 0, f"{task.id}: {key} = {row[key]}"

    def teardown(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            close()


class SqliteQueueMachine(QueueMachine):
    """The same machine on a fresh SQLite file per example."""

    def make_store(self) -> Store:
        self.folder = Path(tempfile.mkdtemp(prefix="sparkq-sm-"))
        return SqliteStore(self.folder / "sparkq.db")

    def teardown(self) -> None:
        super().teardown()
        shutil.rmtree(self.folder, ignore_errors=True)


class PostgresQueueMachine(QueueMachine):
    """The same machine on PostgreSQL: one schema of the test cluster, emptied before each example."""

    _store: Store | None = None

    def make_store(self) -> Store:
        if PostgresQueueMachine._store is None:
            PostgresQueueMachine._store = postgres_support.store(postgres_support.cluster())
        return postgres_support.emptied(PostgresQueueMachine._store)

    def teardown(self) -> None:
        pass  # the store (its pool) serves the next example too; the cluster goes at the end of the session


TestQueueOnMemoryStore = QueueMachine.TestCase
TestQueueOnMemoryStore.settings = settings(
    max_examples=300, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

TestQueueOnSqliteStore = SqliteQueueMachine.TestCase
TestQueueOnSqliteStore.settings = settings(
    max_examples=80, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

TestQueueOnPostgresStore = PostgresQueueMachine.TestCase
TestQueueOnPostgresStore.settings = settings(
    max_examples=80, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
