"""Heartbeats, cancel, bulk requeue and lineage through the CLI, in-process over a real SQLite file (SPEC §11)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sparkq_domain import TaskStatus

from .cli_support import library_queue, make_stream, ok, ok_json, refused, running_task

if TYPE_CHECKING:
    from tests.conftest import RunSparkq

pytestmark = pytest.mark.in_process


def test_heartbeat_prints_nothing_and_json_prints_the_task(sparkq: RunSparkq, workdir: Path) -> None:
    _, task_id = running_task(workdir)
    result = sparkq("heartbeat", task_id, "--note", "tests written; 3/5 pass")
    assert (ok(result), result.stderr) == ("", "")
    task = ok_json(sparkq("heartbeat", task_id, "--json"))
    assert (task["status"], task["progress"]) == ("running", "tests written; 3/5 pass")
    assert task["heartbeat_at"] is not None
    detail = ok(sparkq("task", task_id))
    assert "Progress" in detail and "tests written; 3/5 pass" in detail
    assert "last heartbeat just now" in detail


def test_heartbeat_for_a_task_that_is_not_running_exits_1_naming_its_status(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir)
    task_id = queue.enqueue("auth", "run-bash", {}).id
    message = refused(sparkq("heartbeat", task_id, "--note", "alive?"))
    assert f"Cannot heartbeat task {task_id}: it is queued" in message
    queue.claim_task(task_id)
    message = refused(sparkq("heartbeat", task_id, "--note", "x" * 1025))
    assert "at most 1,024 bytes" in message
    assert queue.get_task(task_id).progress is None


def test_a_task_that_heartbeats_is_not_stale_where_one_that_does_not_is(sparkq: RunSparkq, workdir: Path) -> None:
    make_stream(workdir)
    past = library_queue(workdir, ago=timedelta(seconds=90))
    beating, silent = (past.enqueue("auth", "run-bash", {}, timeout=60).id for _ in range(2))
    past.claim_task(beating)
    past.claim_task(silent)
    ok(sparkq("heartbeat", beating))
    stale = [t["id"] for t in ok_json(sparkq("tasks", "--stale", "--json"))]
    assert stale == [silent]


def test_cancel_a_queued_task_with_a_reason_or_a_stream_s_queued_tasks(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir)
    one, two, three = (queue.enqueue("auth", "run-bash", {}).id for _ in range(3))
    assert ok(sparkq("cancel", one, "--reason", "superseded")) == f"{one} cancelled\n"
    task = queue.get_task(one)
    assert (task.status, task.error) == (TaskStatus.CANCELLED, "superseded")
    assert ok(sparkq("cancel", "--stream", "auth")) == "2\n"
    assert {queue.get_task(t).status for t in (two, three)} == {TaskStatus.CANCELLED}
    assert ok(sparkq("cancel", "--stream", "auth")) == "0\n"
    listed = [t["id"] for t in ok_json(sparkq("tasks", "--status", "cancelled", "--json"))]
    assert listed == [three, two, one]
    assert "cancelled" in ok(sparkq("task", one))


def test_cancel_refuses_a_running_task_and_asks_for_one_of_id_or_stream(sparkq: RunSparkq, workdir: Path) -> None:
    _, task_id = running_task(workdir)
    assert f"Cannot cancel task {task_id}: it is running" in refused(sparkq("cancel", task_id))
    assert "one of the two" in refused(sparkq("cancel"), code=2)
    assert "one of the two" in refused(sparkq("cancel", task_id, "--stream", "auth"), code=2)


def failed(queue_dir: Path, stream: str = "auth") -> str:
    queue = library_queue(queue_dir)
    task_id = queue.enqueue(stream, "run-bash", {}).id
    queue.claim_task(task_id)
    queue.fail(task_id, "broke")
    return task_id


def test_requeue_failed_prints_the_new_ids_once_in_fifo_order(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir)
    make_stream(workdir, "docs")
    first, second, third = failed(workdir, "auth"), failed(workdir, "docs"), failed(workdir, "auth")
    assert ok(sparkq("requeue", "--failed", "--dry-run")) == "3\n"
    assert ok(sparkq("requeue", "--failed", "--stream", "auth", "--since", "2h", "--dry-run")) == "2\n"
    copies = ok(sparkq("requeue", "--failed")).split()
    assert [queue.get_task(c).requeued_from for c in copies] == [first, second, third]
    assert [queue.get_task(t).requeued_to for t in (first, second, third)] == copies
    assert ok(sparkq("requeue", "--failed")) == ""  # nothing the second time
    # lineage both ways in the detail, and the list marks a failed task whose copy exists
    detail = ok(sparkq("task", first))
    assert f"copy      {copies[0]}" in detail
    assert f"from      {first}" in ok(sparkq("task", copies[0]))
    rows = {line.split()[0]: line for line in ok(sparkq("tasks")).splitlines()[1:] if line.startswith("tsk_")}
    assert "failed ↻" in rows[first] and "↻" not in rows[copies[0]]
    message = refused(sparkq("requeue", first))
    assert f"already requeued as {copies[0]}: requeue that copy instead" in message


def test_requeue_failed_skips_ended_streams_saying_so_and_json_gives_everything(
    sparkq: RunSparkq, workdir: Path
) -> None:
    queue = make_stream(workdir)
    make_stream(workdir, "docs")
    kept, closed = failed(workdir, "auth"), failed(workdir, "docs")
    queue.end_stream("docs")
    result = sparkq("requeue", "--failed", "--json")
    body = ok_json(result)
    assert (body["originals"], body["skipped"], body["dry_run"]) == ([kept], [closed], False)
    assert [t["requeued_from"] for t in body["tasks"]] == [kept]
    result = sparkq("requeue", "--failed")
    assert ok(result) == ""
    assert f"Skipped 1 failed task(s) of ended streams (a copy could never be claimed): {closed}" in result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["requeue", "--failed", "--since", "2 hours"], "Invalid --since '2 hours': use a whole number"),
        (["requeue", "--failed", "--since", "999999w"], "at most 5 digits"),
        (["requeue"], "--failed to requeue every failed task"),
        (["requeue", "tsk_000000000001", "--failed"], "not both"),
        (["requeue", "tsk_000000000001", "--dry-run"], "go with --failed"),
    ],
)
def test_requeue_usage_errors_exit_2_saying_what_to_give(
    sparkq: RunSparkq, workdir: Path, args: list[str], words: str
) -> None:
    make_stream(workdir)
    assert words in refused(sparkq(*args), code=2)
