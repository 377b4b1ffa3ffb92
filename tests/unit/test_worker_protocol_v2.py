"""SPEC §11 through the `Queue` on the in-memory store: heartbeats, cancel, bulk requeue, lineage both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from sparkq_domain import (
    MAX_PROGRESS_BYTES,
    STREAM_ENDED_REASON,
    FailureKind,
    InvalidInput,
    InvalidTransition,
    NotFound,
    Queue,
    TaskStatus,
    TooLarge,
    parse_age,
)
from tests.fakes import FakeClock


@pytest.fixture
def queue(bare_queue: Queue) -> Queue:
    q = bare_queue
    q.create_session("api-v2")
    q.create_stream("auth", "api-v2")
    q.create_stream("docs", "api-v2")
    return q


def running(queue: Queue, stream: str = "auth", timeout: int = 60) -> str:
    queue.enqueue(stream, "run-bash", {"script": "x.sh"}, timeout=timeout)
    claimed = queue.claim(stream)
    assert claimed is not None
    return claimed.task.id


def failed(queue: Queue, stream: str = "auth") -> str:
    task_id = running(queue, stream)
    queue.fail(task_id, "broke")
    return task_id


# -- heartbeat ---------------------------------------------------------------------------------------


def test_a_heartbeat_records_the_time_and_the_latest_note(queue: Queue, clock: FakeClock) -> None:
    task_id = running(queue)
    clock.advance(5)
    first = queue.heartbeat(task_id, "tests written")
    assert (first.heartbeat_at, first.progress, first.status) == (clock.now(), "tests written", TaskStatus.RUNNING)
    clock.advance(5)
    second = queue.heartbeat(task_id)  # no note: the last one stays
    assert (second.heartbeat_at, second.progress) == (clock.now(), "tests written")
    third = queue.heartbeat(task_id, "3/5 pass")
    assert third.progress == "3/5 pass"
    assert queue.get_task(task_id) == third


def test_a_task_that_heartbeats_once_per_timeout_is_never_stale_nor_auto_failed(queue: Queue, clock: FakeClock) -> None:
    task_id = running(queue, timeout=10)
    for _ in range(10):  # 100 s: ten times its timeout
        clock.advance(10)
        assert not queue.get_task(task_id).is_stale(clock.now())
        queue.heartbeat(task_id, "still going")
    assert queue.sweep_dead() == []
    assert queue.list_tasks(stale=True).total == 0
    clock.advance(11)  # silent for longer than its timeout: stale, counted from the last heartbeat
    assert [t.id for t in queue.list_tasks(stale=True).tasks] == [task_id]
    clock.advance(10)  # silent for more than twice its timeout: dead
    [dead] = queue.sweep_dead()
    assert (dead.id, dead.failure_kind) == (task_id, FailureKind.AUTO)


def test_stale_and_dead_count_from_the_later_of_start_and_heartbeat(queue: Queue, clock: FakeClock) -> None:
    task_id = running(queue, timeout=10)
    task = queue.heartbeat(task_id)
    assert task.last_alive == task.heartbeat_at == task.started_at
    clock.advance(20)
    assert queue.get_task(task_id).overdue(clock.now()) is False
    clock.advance(0.5)
    assert queue.get_task(task_id).failure_kind is FailureKind.AUTO


@pytest.mark.parametrize("finish", ["queued", "succeeded", "failed", "cancelled"])
def test_a_heartbeat_for_a_task_that_is_not_running_is_refused_naming_its_status(queue: Queue, finish: str) -> None:
    task_id = queue.enqueue("auth", "run-bash", {}).id
    if finish == "cancelled":
        queue.cancel(task_id)
    elif finish != "queued":
        queue.claim_task(task_id)
        if finish == "succeeded":
            queue.complete(task_id, {"summary": "ok"})
        else:
            queue.fail(task_id, "broke")
    before = queue.get_task(task_id)
    with pytest.raises(InvalidTransition, match=f"Cannot heartbeat task {task_id}: it is {finish}$"):
        queue.heartbeat(task_id, "alive?")
    # the state is refused before the note: a worker of a finished task learns to stop either way
    with pytest.raises(InvalidTransition, match=f"it is {finish}$"):
        queue.heartbeat(task_id, " ")
    assert queue.get_task(task_id) == before


def test_a_heartbeat_after_the_task_died_auto_fails_it_and_is_refused(queue: Queue, clock: FakeClock) -> None:
    task_id = running(queue, timeout=10)
    clock.advance(21)
    with pytest.raises(InvalidTransition, match=r"it is failed \(auto-failed"):
        queue.heartbeat(task_id, "late")
    task = queue.get_task(task_id)
    assert (task.status, task.failure_kind, task.progress) == (TaskStatus.FAILED, FailureKind.AUTO, None)


def test_a_heartbeat_for_an_unknown_task_is_not_found(queue: Queue) -> None:
    with pytest.raises(NotFound, match="tsk_nope"):
        queue.heartbeat("tsk_nope")


def test_a_progress_note_is_at_most_1_kib_and_not_blank(queue: Queue) -> None:
    task_id = running(queue)
    assert queue.heartbeat(task_id, "é" * (MAX_PROGRESS_BYTES // 2)).progress == "é" * 512
    with pytest.raises(TooLarge, match="1,025 bytes: at most 1,024 bytes"):
        queue.heartbeat(task_id, "x" * (MAX_PROGRESS_BYTES + 1))
    with pytest.raises(InvalidInput, match="blank"):
        queue.heartbeat(task_id, "  \n")
    with pytest.raises(InvalidInput, match="not valid Unicode"):
        queue.heartbeat(task_id, "bad \ud800")
    assert queue.get_task(task_id).progress == "é" * 512


def test_a_clock_gone_back_past_a_heartbeat_counts_the_task_from_now(queue: Queue, clock: FakeClock) -> None:
    task_id = running(queue, timeout=10)
    clock.advance(5)
    queue.heartbeat(task_id, "late in the day")
    clock.advance(-100)  # back past the heartbeat (and the start)
    queue.sweep_dead()
    task = queue.get_task(task_id)
    assert (task.started_at, task.heartbeat_at, task.progress) == (clock.now(), None, "late in the day")
    clock.advance(21)
    assert [t.id for t in queue.sweep_dead()] == [task_id]


# -- cancel ------------------------------------------------------------------------------------------


def test_cancel_takes_a_queued_task_off_the_queue_with_its_reason(queue: Queue, clock: FakeClock) -> None:
    first = queue.enqueue("auth", "run-bash", {}).id
    second = queue.enqueue("auth", "run-bash", {}).id
    clock.advance(7)
    cancelled = queue.cancel(first, reason="superseded by #12")
    assert (cancelled.status, cancelled.error, cancelled.failure_kind) == (
        TaskStatus.CANCELLED,
        "superseded by #12",
        FailureKind.CANCELLED,
    )
    assert cancelled.finished_at == cancelled.updated_at == clock.now()
    assert queue.cancel(second).error is None  # a reason is optional
    assert queue.claim("auth") is None
    assert queue.status_counts()[TaskStatus.CANCELLED] == 2
    assert [t.id for t in queue.list_tasks(status="cancelled").tasks] == [second, first]


@pytest.mark.parametrize("state", ["running", "succeeded", "failed", "cancelled"])
def test_only_a_queued_task_can_be_cancelled(queue: Queue, state: str) -> None:
    task_id = queue.enqueue("auth", "run-bash", {}).id
    if state == "cancelled":
        queue.cancel(task_id)
    else:
        queue.claim_task(task_id)
        if state == "succeeded":
            queue.complete(task_id, {"summary": "ok"})
        elif state == "failed":
            queue.fail(task_id, "broke")
    before = queue.get_task(task_id)
    with pytest.raises(InvalidTransition, match=f"Cannot cancel task {task_id}: it is {state}$"):
        queue.cancel(task_id)
    assert queue.get_task(task_id) == before


def test_cancel_stream_cancels_its_queued_tasks_only_and_says_how_many(queue: Queue) -> None:
    busy = running(queue)
    waiting = [queue.enqueue("auth", "run-bash", {}).id for _ in range(3)]
    other = queue.enqueue("docs", "run-bash", {}).id
    assert queue.cancel_stream("auth", reason="wrong plan") == 3
    assert {queue.get_task(t).status for t in waiting} == {TaskStatus.CANCELLED}
    assert {queue.get_task(t).error for t in waiting} == {"wrong plan"}
    assert queue.get_task(busy).status is TaskStatus.RUNNING
    assert queue.get_task(other).status is TaskStatus.QUEUED
    assert queue.cancel_stream("auth") == 0
    with pytest.raises(NotFound):
        queue.cancel_stream("nope")


def test_ending_a_stream_or_its_session_cancels_its_queued_tasks_as_stream_ended(queue: Queue) -> None:
    busy = running(queue)
    auth = queue.enqueue("auth", "run-bash", {}).id
    docs = queue.enqueue("docs", "run-bash", {}).id
    queue.end_stream("auth")
    assert (queue.get_task(auth).status, queue.get_task(auth).error) == (TaskStatus.CANCELLED, STREAM_ENDED_REASON)
    assert queue.get_task(busy).status is TaskStatus.RUNNING  # a running task is failed, not cancelled
    assert queue.get_task(docs).status is TaskStatus.QUEUED
    queue.end_session("api-v2")
    assert (queue.get_task(docs).status, queue.get_task(docs).error) == (TaskStatus.CANCELLED, STREAM_ENDED_REASON)
    assert queue.status_counts()[TaskStatus.QUEUED] == 0


def test_purge_deletes_cancelled_tasks_like_finished_ones(queue: Queue, clock: FakeClock) -> None:
    old = queue.enqueue("auth", "run-bash", {}).id
    queue.cancel(old)
    clock.advance(4 * 86400)
    fresh = queue.enqueue("auth", "run-bash", {}).id
    queue.cancel(fresh)
    assert queue.purge(timedelta(days=3), pause=0) == 1
    with pytest.raises(NotFound):
        queue.get_task(old)
    assert queue.get_task(fresh).status is TaskStatus.CANCELLED


def test_a_cancelled_task_can_be_requeued(queue: Queue) -> None:
    task_id = queue.enqueue("auth", "run-bash", {"n": 1}).id
    queue.cancel(task_id)
    copy = queue.requeue(task_id)
    assert (copy.status, copy.payload, copy.requeued_from) == (TaskStatus.QUEUED, {"n": 1}, task_id)
    assert queue.get_task(task_id).requeued_to == copy.id


# -- lineage -----------------------------------------------------------------------------------------


def test_requeuing_a_task_that_has_a_copy_is_refused_naming_the_copy(queue: Queue) -> None:
    task_id = failed(queue)
    copy = queue.requeue(task_id)
    before = queue.get_task(task_id)
    with pytest.raises(InvalidTransition, match=f"already requeued as {copy.id}: requeue that copy instead"):
        queue.requeue(task_id)
    assert queue.get_task(task_id) == before
    assert queue.list_tasks().total == 2


# -- bulk requeue ------------------------------------------------------------------------------------


def test_requeue_failed_copies_every_failed_task_once_in_fifo_order(queue: Queue, clock: FakeClock) -> None:
    first = failed(queue, "auth")
    ok = running(queue, "docs")
    queue.complete(ok, {"summary": "fine"})
    second = failed(queue, "docs")
    third = failed(queue, "auth")
    dead = running(queue, "auth", timeout=1)
    clock.advance(3)  # `dead` is past twice its timeout: auto-failed, and requeued like the others
    before = {t: queue.get_task(t) for t in (first, second, third)}
    done = queue.requeue_failed()
    assert [t.id for t in done.originals] == [first, second, third, dead]
    assert [c.requeued_from for c in done.copies] == [first, second, third, dead]
    assert all(c.status is TaskStatus.QUEUED and c.attempts == 0 for c in done.copies)
    assert done.skipped == []
    for task_id, task in before.items():  # the originals are untouched but for the copy's id
        copy = next(c for c in done.copies if c.requeued_from == task_id)
        assert queue.get_task(task_id) == attrs.evolve(task, requeued_to=copy.id)
    # FIFO: each stream claims its copies in the originals' order, behind what was queued
    assert queue.claim("auth").task.requeued_from == first  # type: ignore[union-attr]
    assert queue.claim("auth").task.requeued_from == third  # type: ignore[union-attr]
    again = queue.requeue_failed()
    assert (again.originals, again.copies, again.skipped) == ([], [], [])


def test_requeue_failed_narrows_by_stream_and_age_and_a_dry_run_changes_nothing(queue: Queue, clock: FakeClock) -> None:
    old = failed(queue, "auth")
    clock.advance(3 * 3600)
    recent = failed(queue, "auth")
    other = failed(queue, "docs")
    dry = queue.requeue_failed(stream="auth", since=timedelta(hours=2), dry_run=True)
    assert ([t.id for t in dry.originals], dry.copies) == ([recent], [])
    assert queue.get_task(recent).requeued_to is None
    assert queue.list_tasks().total == 3
    done = queue.requeue_failed(stream="auth", since=timedelta(hours=2))
    assert [t.id for t in done.originals] == [recent]
    assert [t.id for t in queue.requeue_failed(dry_run=True).originals] == [old, other]
    with pytest.raises(NotFound):
        queue.requeue_failed(stream="nope")
    with pytest.raises(InvalidInput, match="negative"):
        queue.requeue_failed(since=timedelta(seconds=-1))


def test_requeue_failed_skips_the_failed_tasks_of_ended_streams_and_says_so(queue: Queue) -> None:
    kept = failed(queue, "auth")
    closed = failed(queue, "docs")
    queue.end_stream("docs")
    done = queue.requeue_failed()
    assert [t.id for t in done.originals] == [kept]
    assert [t.id for t in done.skipped] == [closed]
    assert queue.get_task(closed).requeued_to is None
    # still skipped next time, never copied into a stream that cannot run it
    assert [t.id for t in queue.requeue_failed().skipped] == [closed]


def test_ages_are_whole_hours_days_or_weeks() -> None:
    assert parse_age("2h") == timedelta(hours=2)
    assert parse_age(" 3D ") == timedelta(days=3)
    assert parse_age("1w") == timedelta(weeks=1)
    # six digits of weeks or days reach before year 1: refused, never an overflow
    for bad in ("", "2", "h", "1.5h", "-2h", "2m", "2 hours", "\t2h", "990332d", "999999w"):
        with pytest.raises(InvalidInput, match=r"use a whole number \(at most 5 digits\) followed by h, d or w"):
            parse_age(bad, "since")
    assert parse_age("99999w") == timedelta(weeks=99999)
    assert datetime(2026, 1, 1, tzinfo=UTC) - parse_age("99999w") > datetime.min.replace(tzinfo=UTC)


def test_requeue_failed_takes_an_age_longer_than_the_calendar_as_every_failed_task(queue: Queue) -> None:
    task_id = failed(queue)
    assert [t.id for t in queue.requeue_failed(since=timedelta.max, dry_run=True).originals] == [task_id]
