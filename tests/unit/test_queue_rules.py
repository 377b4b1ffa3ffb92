"""Every rule of SPEC §3, through the `Queue` service on the in-memory store with a fixed clock."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from sparkq_adapters.memory import MemoryStore
from sparkq_domain import (
    AUTO_FAIL_MESSAGE,
    CLOCK_TOLERANCE,
    STREAM_ENDED_REASON,
    Conflict,
    Duplicate,
    FailureKind,
    InvalidInput,
    InvalidTransition,
    NotFound,
    Queue,
    Registry,
    Status,
    StreamEnded,
    TaskClass,
    TaskStatus,
    ToolSpec,
)
from tests.fakes import FakeClock, SequentialIds


@pytest.fixture
def queue(bare_queue: Queue) -> Queue:
    q = bare_queue
    q.create_session("api-v2")
    q.create_stream("auth", "api-v2", instructions="Add login. Done when tests pass.")
    return q


def running(queue: Queue, stream: str = "auth", timeout: int = 60) -> str:
    queue.enqueue(stream, "run-bash", {"script": "x.sh"}, timeout=timeout)
    claimed = queue.claim(stream)
    assert claimed is not None
    return claimed.task.id


# -- enqueue -------------------------------------------------------------------------------------


def test_enqueue_creates_a_queued_task_with_resolved_class_and_timeout(queue: Queue) -> None:
    task = queue.enqueue("auth", "run-migrations", {"target": "head"})
    assert task.status is TaskStatus.QUEUED
    assert task.task_class is TaskClass.MEDIUM_SCRIPT
    assert task.timeout == 1800  # the tool's own timeout beats the class default
    assert task.attempts == 0
    assert task.id.startswith("tsk_") and len(task.id) == 16


def test_timeout_resolution_is_override_then_tool_then_class(queue: Queue) -> None:
    assert queue.enqueue("auth", "run-migrations", {}, timeout=5).timeout == 5
    assert queue.enqueue("auth", "run-migrations", {}).timeout == 1800
    assert queue.enqueue("auth", "llm-sonnet", {}).timeout == 900
    assert queue.enqueue("auth", "llm-haiku", {}, task_class="FAST_SCRIPT").timeout == 30


def test_enqueue_with_unknown_tool_lists_known_tools(queue: Queue) -> None:
    with pytest.raises(InvalidInput, match=r"Unknown tool 'nope'\. Known tools: llm-haiku, llm-sonnet, run-bash"):
        queue.enqueue("auth", "nope", {})


@pytest.mark.parametrize("payload", [[], "text", 3, None])
def test_enqueue_refuses_a_payload_that_is_not_an_object(queue: Queue, payload: object) -> None:
    with pytest.raises(InvalidInput, match="payload must be a JSON object"):
        queue.enqueue("auth", "run-bash", payload)  # type: ignore[arg-type]


@pytest.mark.parametrize("timeout", [0, -1, 10**9, True])
def test_enqueue_refuses_a_timeout_out_of_range(queue: Queue, timeout: int) -> None:
    with pytest.raises(InvalidInput, match="Invalid timeout"):
        queue.enqueue("auth", "run-bash", {}, timeout=timeout)


def test_enqueue_into_unknown_stream_is_not_found(queue: Queue) -> None:
    with pytest.raises(NotFound, match="Stream 'nope' not found"):
        queue.enqueue("nope", "run-bash", {})


def test_enqueue_into_an_ended_stream_or_session_is_refused(queue: Queue) -> None:
    queue.end_stream("auth")
    with pytest.raises(Conflict, match="has ended"):
        queue.enqueue("auth", "run-bash", {})
    queue.create_session("other")
    queue.create_stream("billing", "other")
    queue.end_session("other")
    with pytest.raises(Conflict, match="has ended"):
        queue.enqueue("billing", "run-bash", {})


def test_stream_is_addressed_by_id_or_name(queue: Queue) -> None:
    stream = queue.get_stream("auth")
    task = queue.enqueue(stream.id, "run-bash", {})
    assert queue.peek("auth") == task


def test_enqueue_uses_a_configured_registry() -> None:
    registry = Registry(
        class_timeouts={TaskClass.FAST_SCRIPT: 7},
        tools={"lint": ToolSpec(name="lint", task_class=TaskClass.FAST_SCRIPT)},
    )
    q = Queue(MemoryStore(), FakeClock(), SequentialIds(), registry)
    q.ensure_project("p")
    q.create_session("s")
    q.create_stream("st", "s")
    assert q.enqueue("st", "lint", {}).timeout == 7
    with pytest.raises(InvalidInput, match="Known tools: lint"):
        q.enqueue("st", "run-bash", {})


# -- peek and claim ------------------------------------------------------------------------------


def test_claim_returns_oldest_queued_task_of_stream_with_its_stream(queue: Queue, clock: FakeClock) -> None:
    first = queue.enqueue("auth", "run-bash", {"n": 1})
    queue.enqueue("auth", "run-bash", {"n": 2})
    claimed = queue.claim("auth")
    assert claimed is not None
    assert claimed.task.id == first.id
    assert claimed.task.status is TaskStatus.RUNNING
    assert claimed.task.started_at == clock.now()
    assert claimed.task.attempts == 1
    assert claimed.stream.name == "auth"
    assert claimed.stream.instructions == "Add login. Done when tests pass."


def test_fifo_holds_even_when_timestamps_tie(queue: Queue) -> None:
    ids = [queue.enqueue("auth", "run-bash", {"n": n}).id for n in range(5)]  # the clock never moves
    claimed = [queue.claim("auth") for _ in ids]
    assert [c.task.id for c in claimed if c] == ids


def test_peek_returns_next_queued_without_changing_it(queue: Queue) -> None:
    task = queue.enqueue("auth", "run-bash", {})
    assert queue.peek("auth") == task
    assert queue.peek("auth") == task
    assert queue.get_task(task.id).status is TaskStatus.QUEUED


def test_claim_on_empty_stream_returns_none(queue: Queue) -> None:
    assert queue.claim("auth") is None
    assert queue.peek("auth") is None


def test_claiming_from_or_peeking_at_an_ended_stream_is_an_error_not_no_work(queue: Queue) -> None:
    task = queue.enqueue("auth", "run-bash", {})
    stream = queue.end_stream("auth")
    queue.create_session("other")
    queue.create_stream("billing", "other")
    queue.enqueue("billing", "run-bash", {})
    queue.end_session("other")
    # by name or id, ended itself or with its session: the error names the stream and says what to do
    for ref, name in (("auth", "auth"), (stream.id, "auth"), ("billing", "billing")):
        for look in (queue.claim, queue.peek):
            with pytest.raises(StreamEnded, match=f"^Stream '{name}' has ended .*stop this worker's loop") as ended:
                look(ref)
            assert isinstance(ended.value, Conflict) and ended.value.stream == name
        # ending cancelled its queued tasks: none is left to claim
        with pytest.raises(InvalidTransition, match="it is cancelled"):
            queue.claim_task(queue.list_tasks(stream=ref).tasks[0].id)
    ended = queue.get_task(task.id)  # the cancelled tasks stay in history, with the reason
    assert (ended.status, ended.error, ended.failure_kind) == (
        TaskStatus.CANCELLED,
        STREAM_ENDED_REASON,
        FailureKind.CANCELLED,
    )


def test_claim_is_per_stream(queue: Queue) -> None:
    queue.create_stream("billing", "api-v2")
    billing = queue.enqueue("billing", "run-bash", {})
    queue.enqueue("auth", "run-bash", {})
    claimed = queue.claim("billing")
    assert claimed is not None and claimed.task.id == billing.id


def test_claim_task_by_id_claims_that_task(queue: Queue) -> None:
    queue.enqueue("auth", "run-bash", {})
    second = queue.enqueue("auth", "run-bash", {})
    assert queue.claim_task(second.id).task.status is TaskStatus.RUNNING
    with pytest.raises(InvalidTransition, match="it is running"):
        queue.claim_task(second.id)


# -- complete, fail ------------------------------------------------------------------------------


def test_complete_stores_result_output_and_finish_time(queue: Queue, clock: FakeClock) -> None:
    task_id = running(queue)
    clock.advance(3)
    done = queue.complete(task_id, {"summary": "Added route", "files": 2}, stdout="ok\n", stderr="warn\n")
    assert done.status is TaskStatus.SUCCEEDED
    assert done.result == {"summary": "Added route", "files": 2}
    assert (done.stdout, done.stderr) == ("ok\n", "warn\n")
    assert done.finished_at == clock.now()
    assert done.duration() == timedelta(seconds=3)


@pytest.mark.parametrize("result", [{}, {"summary": ""}, {"summary": "   "}, {"summary": 3}, ["summary"]])
def test_complete_without_a_summary_is_rejected_and_task_stays_running(queue: Queue, result: object) -> None:
    task_id = running(queue)
    with pytest.raises(InvalidInput, match="summary"):
        queue.complete(task_id, result)  # type: ignore[arg-type]
    assert queue.get_task(task_id).status is TaskStatus.RUNNING


def test_fail_requires_an_error_message(queue: Queue) -> None:
    task_id = running(queue)
    with pytest.raises(InvalidInput, match="error message is required"):
        queue.fail(task_id, "  ")
    failed = queue.fail(task_id, "tests fail", stderr="trace")
    assert failed.status is TaskStatus.FAILED
    assert (failed.error, failed.stderr) == ("tests fail", "trace")


@pytest.mark.parametrize(
    ("setup", "action", "status"),
    [
        ("queued", "complete", "queued"),
        ("queued", "fail", "queued"),
        ("queued", "requeue", "queued"),
        ("running", "requeue", "running"),
        ("succeeded", "fail", "succeeded"),
        ("succeeded", "complete", "succeeded"),
        ("failed", "complete", "failed"),
        ("succeeded", "claim", "succeeded"),
    ],
)
def test_invalid_transitions_are_refused_naming_the_current_status(
    queue: Queue, setup: str, action: str, status: str
) -> None:
    task = queue.enqueue("auth", "run-bash", {})
    if setup != "queued":
        queue.claim("auth")
    if setup == "succeeded":
        queue.complete(task.id, {"summary": "done"})
    elif setup == "failed":
        queue.fail(task.id, "broke")
    before = queue.get_task(task.id)
    calls = {
        "complete": lambda: queue.complete(task.id, {"summary": "x"}),
        "fail": lambda: queue.fail(task.id, "x"),
        "requeue": lambda: queue.requeue(task.id),
        "claim": lambda: queue.claim_task(task.id),
    }
    with pytest.raises(InvalidTransition, match=f"it is {status}") as info:
        calls[action]()
    assert info.value.status == status
    assert queue.get_task(task.id) == before


def test_unknown_task_is_not_found(queue: Queue) -> None:
    with pytest.raises(NotFound, match="tsk_nope"):
        queue.complete("tsk_nope", {"summary": "x"})


# -- requeue -------------------------------------------------------------------------------------


def test_requeue_clones_a_finished_task_and_leaves_the_original(queue: Queue, clock: FakeClock) -> None:
    task_id = running(queue, timeout=42)
    original = queue.fail(task_id, "flaky")
    clock.advance(10)
    clone = queue.requeue(task_id)
    assert clone.id != task_id
    assert clone.status is TaskStatus.QUEUED
    assert clone.attempts == 0
    assert (clone.stream_id, clone.tool_name, clone.task_class, clone.payload, clone.timeout) == (
        original.stream_id,
        original.tool_name,
        original.task_class,
        original.payload,
        42,
    )
    assert clone.created_at == clock.now()
    assert (clone.result, clone.error, clone.started_at, clone.finished_at) == (None, None, None, None)
    assert clone.requeued_from == task_id
    # the original is untouched but for the id of its copy (lineage both ways)
    assert queue.get_task(task_id) == attrs.evolve(original, requeued_to=clone.id)


def test_requeue_goes_to_the_back_of_the_stream(queue: Queue) -> None:
    task_id = running(queue)
    queue.complete(task_id, {"summary": "ok"})
    waiting = queue.enqueue("auth", "run-bash", {})
    clone = queue.requeue(task_id)
    assert [queue.claim("auth").task.id for _ in range(2)] == [waiting.id, clone.id]  # type: ignore[union-attr]


def test_requeue_into_an_ended_stream_is_refused(queue: Queue) -> None:
    task_id = running(queue)
    queue.fail(task_id, "x")
    queue.end_stream("auth")
    with pytest.raises(Conflict, match="cannot be requeued"):
        queue.requeue(task_id)


# -- stale, dead ---------------------------------------------------------------------------------


def test_running_task_is_stale_after_its_timeout(queue: Queue, clock: FakeClock) -> None:
    task_id = running(queue, timeout=60)
    clock.advance(60)
    assert queue.list_tasks(stale=True).total == 0
    clock.advance(1)
    page = queue.list_tasks(stale=True)
    assert [t.id for t in page.tasks] == [task_id]
    assert page.tasks[0].is_stale(clock.now())


def test_dead_task_is_auto_failed_with_the_exact_message_on_claim(queue: Queue, clock: FakeClock) -> None:
    task_id = running(queue, timeout=60)
    clock.advance(120)
    queue.claim("auth")
    assert queue.get_task(task_id).status is TaskStatus.RUNNING  # exactly 2x: not yet
    clock.advance(1)
    queue.claim("auth")
    dead = queue.get_task(task_id)
    assert dead.status is TaskStatus.FAILED
    assert dead.error == (
        "Auto-failed: task exceeded 2x timeout (60s) with no complete/fail reported. Likely worker crash or disconnect."
    )
    assert dead.error == AUTO_FAIL_MESSAGE.format(timeout=60)
    assert dead.auto_failed
    assert dead.finished_at == clock.now()


def test_dead_task_is_auto_failed_on_list_and_only_once(queue: Queue, clock: FakeClock) -> None:
    task_id = running(queue, timeout=10)
    clock.advance(30)
    assert [t.id for t in queue.sweep_dead()] == [task_id]
    assert queue.sweep_dead() == []
    assert queue.list_tasks(status="failed").total == 1


def test_dead_task_is_auto_failed_when_reading_it(queue: Queue, clock: FakeClock) -> None:
    task_id = running(queue, timeout=10)
    clock.advance(21)
    assert queue.get_task(task_id).status is TaskStatus.FAILED


def test_a_late_complete_after_auto_fail_is_refused(queue: Queue, clock: FakeClock) -> None:
    task_id = running(queue, timeout=10)
    clock.advance(21)
    queue.sweep_dead()
    with pytest.raises(InvalidTransition, match="it is failed"):
        queue.complete(task_id, {"summary": "too late"})


@pytest.mark.parametrize("report", ["complete", "fail"])
def test_a_report_after_death_auto_fails_the_task_even_before_any_sweep(
    queue: Queue, clock: FakeClock, report: str
) -> None:
    task_id = running(queue, timeout=10)
    clock.advance(21)
    call = {
        "complete": lambda: queue.complete(task_id, {"summary": "too late"}),
        "fail": lambda: queue.fail(task_id, "too late"),
    }[report]
    with pytest.raises(InvalidTransition, match=r"it is failed \(auto-failed, as no complete/fail came within 2x"):
        call()
    dead = queue.get_task(task_id)
    assert dead.status is TaskStatus.FAILED and dead.error == AUTO_FAIL_MESSAGE.format(timeout=10)
    assert queue.sweep_dead() == []  # failed exactly once


def test_a_clock_jumping_back_gives_no_negative_durations(queue: Queue, clock: FakeClock) -> None:
    task_id = running(queue, timeout=10)
    clock.advance(-3600)
    task = queue.get_task(task_id)
    assert task.running_for(clock.now()) == timedelta(0)
    assert not task.is_stale(clock.now())
    done = queue.complete(task_id, {"summary": "ok"})
    assert done.duration() == timedelta(0)


def test_a_task_claimed_before_the_clock_jumped_back_a_day_still_goes_stale_then_dead(
    queue: Queue, clock: FakeClock
) -> None:
    task_id = running(queue, timeout=60)
    clock.advance(-86400)
    assert queue.get_task(task_id).started_at == clock.now(), "the count restarts from the jump"
    clock.advance(61)
    assert [t.id for t in queue.list_tasks(stale=True).tasks] == [task_id]
    clock.advance(60)
    assert [t.id for t in queue.sweep_dead()] == [task_id]
    dead = queue.get_task(task_id)
    assert dead.auto_failed and dead.duration() == timedelta(seconds=121)


def test_a_start_a_moment_ahead_is_another_machines_clock_and_is_left_alone_by_the_sweep(
    queue: Queue, clock: FakeClock
) -> None:
    # machines sharing a PostgreSQL database read their own clocks: a worker's start seen from a
    # machine whose clock is behind lies ahead of its "now" without any clock having jumped back
    task_id = running(queue, timeout=60)
    started = queue.get_task(task_id)
    queue.heartbeat(task_id, "half way")
    beat = queue.get_task(task_id)
    clock.advance(-CLOCK_TOLERANCE.total_seconds())
    queue.create_stream("billing", "api-v2")
    queue.enqueue("billing", "run-bash", {"script": "y.sh"})
    assert queue.claim("billing") is not None, "a claim sweeps first"
    assert queue.get_task(task_id) == beat, "neither its start nor its heartbeat is rewritten"
    assert beat.started_at == started.started_at
    clock.advance(-1)  # past the tolerance: that is a clock that went back, and the count restarts
    assert queue.sweep_dead() == []
    recounted = queue.get_task(task_id)
    assert recounted.started_at == clock.now() and recounted.heartbeat_at is None


def test_a_forward_jump_auto_fails_once_and_a_jump_back_changes_nothing_after(queue: Queue, clock: FakeClock) -> None:
    task_id = running(queue, timeout=60)
    clock.advance(86400)
    assert [t.id for t in queue.sweep_dead()] == [task_id]
    failed = queue.get_task(task_id)
    clock.advance(-2 * 86400)
    assert queue.sweep_dead() == []
    assert queue.get_task(task_id) == failed, "a finished task is never recounted nor failed again"
    clone = queue.requeue(task_id)
    claimed = queue.claim("auth")
    assert claimed is not None and claimed.task.id == clone.id
    assert claimed.task.running_for(clock.now()) == timedelta(0)


# -- purge ---------------------------------------------------------------------------------------


def test_purge_deletes_only_finished_tasks_older_than_the_cutoff(queue: Queue, clock: FakeClock) -> None:
    old_done = running(queue)
    queue.complete(old_done, {"summary": "ok"})
    old_failed = running(queue)
    queue.fail(old_failed, "x")
    queue.create_stream("billing", "api-v2")
    old_queued = queue.enqueue("billing", "run-bash", {}).id
    clock.advance(4 * 86400)
    fresh = running(queue)
    queue.complete(fresh, {"summary": "ok"})
    still_running = running(queue, timeout=10**6)
    assert queue.purge(timedelta(days=3)) == 2
    remaining = {t.id for t in queue.list_tasks(limit=None).tasks}
    assert remaining == {old_queued, fresh, still_running}


# -- sessions and streams ------------------------------------------------------------------------


def test_ending_a_session_ends_its_active_streams_and_refuses_new_ones(queue: Queue) -> None:
    queue.create_stream("billing", "api-v2")
    ended = queue.end_session("api-v2")
    assert ended.status is Status.ENDED and ended.ended_at is not None
    assert {s.stream.status for s in queue.list_streams(session="api-v2")} == {Status.ENDED}
    with pytest.raises(Conflict, match="accepts no new streams"):
        queue.create_stream("late", "api-v2")
    with pytest.raises(Conflict, match="already ended"):
        queue.end_session("api-v2")


def test_duplicate_session_and_stream_names_are_refused(queue: Queue) -> None:
    with pytest.raises(Duplicate, match="Session 'api-v2' already exists"):
        queue.create_session("api-v2")
    queue.create_session("other")
    with pytest.raises(Duplicate, match="Stream 'auth' already exists"):
        queue.create_stream("auth", "other")


@pytest.mark.parametrize("name", ["", "-lead", ".x", "a" * 65, "has space", "sl/ash", "ünï", "a;b"])
def test_invalid_names_are_refused(queue: Queue, name: str) -> None:
    with pytest.raises(InvalidInput, match="1-64 letters, digits"):
        queue.create_session(name)
    with pytest.raises(InvalidInput, match="1-64 letters, digits"):
        queue.create_stream(name, "api-v2")


@pytest.mark.parametrize("name", ["a", "A1", "api-v3", "x.y_z", "9" * 64])
def test_valid_names_are_accepted(queue: Queue, name: str) -> None:
    assert queue.create_session(name).name == name


def test_list_streams_carries_session_name_and_task_counts(queue: Queue) -> None:
    queue.enqueue("auth", "run-bash", {})
    running(queue)
    [item] = queue.list_streams()
    assert item.session_name == "api-v2"
    assert item.counts == {
        TaskStatus.QUEUED: 1,
        TaskStatus.RUNNING: 1,
        TaskStatus.SUCCEEDED: 0,
        TaskStatus.FAILED: 0,
        TaskStatus.CANCELLED: 0,
    }


def test_queued_by_stream_lists_only_claimable_streams_with_work(queue: Queue) -> None:
    queue.create_stream("idle", "api-v2")
    queue.create_stream("closed", "api-v2")
    queue.enqueue("closed", "run-bash", {})
    queue.end_stream("closed")
    queue.enqueue("auth", "run-bash", {})
    assert [s.stream.name for s in queue.queued_by_stream()] == ["auth"]


def test_list_tasks_is_newest_first_and_paginated(queue: Queue) -> None:
    ids = [queue.enqueue("auth", "run-bash", {"n": n}).id for n in range(5)]
    page = queue.list_tasks(limit=2, offset=1)
    assert [t.id for t in page.tasks] == [ids[3], ids[2]]
    assert page.total == 5
    assert [t.id for t in queue.list_tasks(newest_first=False, limit=2).tasks] == ids[:2]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"limit": 0}, "Invalid limit"), ({"offset": -1}, "Invalid offset"), ({"status": "done"}, "Unknown task status")],
)
def test_list_tasks_rejects_bad_filters(queue: Queue, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        queue.list_tasks(**kwargs)  # type: ignore[arg-type]


def test_project_is_created_once(queue: Queue) -> None:
    first = queue.ensure_project("demo")
    assert queue.ensure_project("other-name") == first
