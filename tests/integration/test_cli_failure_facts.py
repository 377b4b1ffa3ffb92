"""Failure facts through the CLI, in-process over a real SQLite file: `fail --type`, and what `tasks` marks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sparkq_domain import AUTO_FAIL_MESSAGE, MAX_ERROR_TYPE_CHARS

from .cli_support import library_queue, ok, ok_json, refused, running_task

if TYPE_CHECKING:
    from tests.conftest import RunSparkq

pytestmark = pytest.mark.in_process


def test_fail_takes_a_type_stored_apart_from_the_message(sparkq: RunSparkq, workdir: Path) -> None:
    _, task_id = running_task(workdir)
    failed = ok_json(sparkq("fail", task_id, "--error", "3 tests fail", "--type", "TestFailure", "--json"))
    assert (failed["error"], failed["error_type"], failed["failure_kind"]) == ("3 tests fail", "TestFailure", "error")


def test_fail_refuses_a_type_past_its_limit_saying_so_and_the_task_keeps_running(
    sparkq: RunSparkq, workdir: Path
) -> None:
    queue, task_id = running_task(workdir)
    message = refused(sparkq("fail", task_id, "--error", "x", "--type", "T" * (MAX_ERROR_TYPE_CHARS + 1)))
    assert f"at most {MAX_ERROR_TYPE_CHARS} characters" in message
    assert queue.get_task(task_id).status == "running"


def test_tasks_marks_only_the_sweep_s_failures_as_auto(sparkq: RunSparkq, workdir: Path) -> None:
    _, lookalike = running_task(workdir)
    ok(sparkq("fail", lookalike, "--error", AUTO_FAIL_MESSAGE.format(timeout=60)))
    past = library_queue(workdir, ago=timedelta(minutes=10))
    dead = past.enqueue("auth", "run-bash", {}, timeout=60).id
    past.claim_task(dead)

    rows = {line.split()[0]: line for line in ok(sparkq("tasks")).splitlines()[1:]}
    assert "failed ⚠ auto" in rows[dead]
    assert "failed" in rows[lookalike] and "⚠" not in rows[lookalike]
    listed = {t["id"]: t for t in ok_json(sparkq("tasks", "--status", "failed", "--json"))}
    assert (listed[dead]["failure_kind"], listed[dead]["auto_failed"]) == ("auto", True)
    assert (listed[lookalike]["failure_kind"], listed[lookalike]["auto_failed"]) == ("error", False)


def test_the_task_detail_names_the_error_type_with_its_control_characters_made_visible(
    sparkq: RunSparkq, workdir: Path
) -> None:
    _, task_id = running_task(workdir)
    ok(sparkq("fail", task_id, "--error", "3 tests fail", "--type", "Test\x1b[31mFailure"))
    lines = ok(sparkq("task", task_id)).splitlines()
    heading = next(line for line in lines if line.startswith("Error"))
    assert heading.startswith("Error (Test") and heading.endswith("Failure)") and "\x1b" not in heading
    assert lines[lines.index(heading) + 1].strip() == "3 tests fail"
