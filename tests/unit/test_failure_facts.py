"""Failures as recorded facts: the transition records why a task failed and the reporter's category,
and nothing reads them back out of the error text (issue 14, item 7)."""

from __future__ import annotations

import pytest

from sparkq_adapters.serialization import task_row_dict, task_to_dict
from sparkq_domain import (
    AUTO_FAIL_MESSAGE,
    MAX_ERROR_TYPE_CHARS,
    FailureKind,
    InvalidInput,
    Queue,
    TaskStatus,
)
from tests.fakes import FakeClock

#: what a worker may well write itself: the sweep's own words, word for word
LOOKALIKE = AUTO_FAIL_MESSAGE.format(timeout=60)


def running(queue: Queue, timeout: int = 60) -> str:
    task_id = queue.enqueue("st", "run-bash", {}, timeout=timeout).id
    queue.claim_task(task_id)
    return task_id


def test_a_reported_failure_is_of_kind_error_with_its_type_apart_and_its_message_as_given(queue: Queue) -> None:
    failed = queue.fail(running(queue), "3 tests fail", error_type="TestFailure")
    assert (failed.status, failed.failure_kind, failed.auto_failed) == (TaskStatus.FAILED, FailureKind.ERROR, False)
    assert (failed.error, failed.error_type) == ("3 tests fail", "TestFailure")
    assert queue.get_task(failed.id) == failed


def test_the_sweep_s_failure_is_of_kind_auto(queue: Queue, clock: FakeClock) -> None:
    task_id = running(queue, timeout=10)
    clock.advance(21)
    (dead,) = queue.sweep_dead()
    assert (dead.id, dead.failure_kind, dead.auto_failed, dead.error_type) == (task_id, FailureKind.AUTO, True, None)
    assert dead.error == AUTO_FAIL_MESSAGE.format(timeout=10)


def test_a_worker_s_message_that_reads_like_the_sweep_s_is_not_an_auto_failure(queue: Queue) -> None:
    failed = queue.fail(running(queue), LOOKALIKE)
    assert failed.error == LOOKALIKE
    assert (failed.failure_kind, failed.auto_failed) == (FailureKind.ERROR, False)
    assert task_row_dict(failed, queue.now())["auto_failed"] is False


def test_a_task_that_has_not_failed_has_no_failure_facts(queue: Queue) -> None:
    task_id = running(queue)
    assert queue.get_task(task_id).failure_kind is None
    done = queue.complete(task_id, {"summary": "ok"})
    assert (done.failure_kind, done.error_type) == (None, None)
    failed = queue.fail(running(queue), "broke", error_type="Crash")
    clone = queue.requeue(failed.id)
    assert (clone.status, clone.failure_kind, clone.error_type) == (TaskStatus.QUEUED, None, None)


@pytest.mark.parametrize(("given", "stored"), [(None, None), ("", None), ("   ", None), ("  Timeout \n", "Timeout")])
def test_a_blank_error_type_is_none_and_a_type_is_kept_without_surrounding_blanks(
    queue: Queue, given: str | None, stored: str | None
) -> None:
    assert queue.fail(running(queue), "broke", error_type=given).error_type == stored


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("T" * (MAX_ERROR_TYPE_CHARS + 1), f"is {MAX_ERROR_TYPE_CHARS + 1} characters long"),
        (" " * (MAX_ERROR_TYPE_CHARS + 1), f"at most {MAX_ERROR_TYPE_CHARS} characters"),
        (42, "must be text such as 'TestFailure', not int"),
        ("bad \udc80", "not valid Unicode"),
    ],
)
def test_an_unfit_error_type_is_refused_saying_why_and_the_task_keeps_running(
    queue: Queue, given: object, words: str
) -> None:
    task_id = running(queue)
    with pytest.raises(InvalidInput, match="error type") as refused:
        queue.fail(task_id, "broke", error_type=given)  # type: ignore[arg-type]
    assert words in str(refused.value)
    assert queue.get_task(task_id).status is TaskStatus.RUNNING


def test_an_error_type_of_exactly_the_limit_is_kept_whole(queue: Queue) -> None:
    category = "T" * MAX_ERROR_TYPE_CHARS
    assert queue.fail(running(queue), "broke", error_type=category).error_type == category


def test_task_json_carries_the_facts_and_derives_auto_failed_from_the_kind(queue: Queue, clock: FakeClock) -> None:
    reported = queue.fail(running(queue), "broke", error_type="Crash")
    dead_id = running(queue, timeout=10)
    clock.advance(21)
    (dead,) = queue.sweep_dead()
    assert dead.id == dead_id
    assert {k: task_to_dict(reported)[k] for k in ("failure_kind", "error_type")} == {
        "failure_kind": "error",
        "error_type": "Crash",
    }
    row = task_row_dict(dead, queue.now())
    assert (row["failure_kind"], row["error_type"], row["auto_failed"]) == ("auto", None, True)
    queued = queue.enqueue("st", "run-bash", {})
    assert {k: task_to_dict(queued)[k] for k in ("failure_kind", "error_type")} == {
        "failure_kind": None,
        "error_type": None,
    }
