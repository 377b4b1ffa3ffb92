"""The worker protocol and the review commands, run in this process (the `in_process` mark)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import pytest

from .cli_support import TASK_ID, library_queue, make_stream, ok, ok_json, refused

if TYPE_CHECKING:
    from tests.conftest import RunSparkq

pytestmark = pytest.mark.in_process

RESULT = '{"summary": "Added login route; 12 tests pass", "files": ["app.py"]}'


# -- enqueue ---------------------------------------------------------------------------------------


def test_enqueue_prints_new_task_id_and_json_form_resolves_timeout(sparkq: RunSparkq, workdir: Path) -> None:
    make_stream(workdir)
    out = ok(sparkq("enqueue", "run-bash", '{"script": "a.sh"}', "--stream", "auth"))
    assert TASK_ID.fullmatch(out.strip())

    task = ok_json(sparkq("enqueue", "run-bash-fast", '{"script": "b.sh"}', "--stream", "auth", "--json"))
    assert TASK_ID.fullmatch(task["id"])
    assert task["payload"] == {"script": "b.sh"}
    assert (task["status"], task["task_class"], task["timeout"]) == ("queued", "FAST_SCRIPT", 30)

    task = ok_json(
        sparkq("enqueue", "run-bash", "{}", "--stream", "auth", "--timeout", "45", "--class", "LLM_HEAVY", "--json")
    )
    assert (task["task_class"], task["timeout"]) == ("LLM_HEAVY", 45)


def test_enqueue_reads_payload_from_file_and_from_stdin(sparkq: RunSparkq, workdir: Path) -> None:
    make_stream(workdir)
    (workdir / "payload.json").write_text('{"from": "file"}')
    first = ok(sparkq("enqueue", "run-bash", "@payload.json", "--stream", "auth")).strip()
    second = ok(sparkq("enqueue", "run-bash", "-", "--stream", "auth", input='{"from": "stdin"}')).strip()
    queue = library_queue(workdir)
    assert queue.get_task(first).payload == {"from": "file"}
    assert queue.get_task(second).payload == {"from": "stdin"}


# -- peek and claim --------------------------------------------------------------------------------


def test_peek_prints_next_task_on_one_line_without_changing_it(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir)
    first = queue.enqueue("auth", "run-bash", {"n": 1})
    queue.enqueue("auth", "run-bash", {"n": 2})

    for _ in range(2):
        task = ok_json(sparkq("peek", "--stream", "auth"))
        assert task["id"] == first.id and task["status"] == "queued" and task["payload"] == {"n": 1}
        assert "stream" not in task
    assert queue.get_task(first.id).attempts == 0


def test_peek_and_claim_print_nothing_when_stream_has_no_queued_task(sparkq: RunSparkq, workdir: Path) -> None:
    make_stream(workdir)
    assert ok(sparkq("peek", "--stream", "auth")) == ""
    assert ok(sparkq("claim", "--stream", "auth")) == ""


@pytest.mark.parametrize("path", ["fast", "cyclopts"])
def test_claim_and_peek_on_an_ended_stream_fail_with_its_name_instead_of_printing_nothing(
    sparkq: RunSparkq, workdir: Path, path: str
) -> None:
    queue = make_stream(workdir)
    task = queue.enqueue("auth", "run-bash", {})
    queue.end_stream("auth")
    env = {"SPARKQ_CLI_FAST_PATH": "0"} if path == "cyclopts" else None
    for args in (("claim", "--stream", "auth"), ("claim", "--stream=auth"), ("peek", "--stream", "auth")):
        result = sparkq(*args, env=env)
        message = refused(result)  # exit 1, one `Error: …`, no traceback
        assert result.stdout == ""
        assert message.startswith("Error: Stream 'auth' has ended (or its session has)"), message
        assert "stop this worker's loop" in message
    # the waiting form says the same at once (it would never get work)
    assert refused(sparkq("claim", "--stream", "auth", "--wait", "30", env=env)) == message
    assert queue.get_task(task.id).status.value == "cancelled"  # ending the stream cancelled it


def test_claim_returns_oldest_task_with_its_stream_instructions(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir, instructions="Add login.\nDone when tests pass.")
    first = queue.enqueue("auth", "run-bash", {"n": 1})
    second = queue.enqueue("auth", "run-bash", {"n": 2})

    task = ok_json(sparkq("claim", "--stream", "auth"))
    assert task["id"] == first.id
    assert (task["status"], task["attempts"]) == ("running", 1)
    assert task["started_at"].endswith("Z")
    stream = queue.get_stream("auth")
    assert task["stream"] == {"id": stream.id, "name": "auth", "instructions": "Add login.\nDone when tests pass."}

    assert ok_json(sparkq("claim", "--stream", "auth"))["id"] == second.id
    assert ok(sparkq("claim", "--stream", "auth")) == ""


def test_claim_without_stream_lists_streams_with_queued_counts(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir, "auth")
    queue.create_stream("billing", "api-v2")
    queue.create_stream("idle", "api-v2")
    for _ in range(3):
        queue.enqueue("auth", "run-bash", {})
    queue.enqueue("billing", "run-bash", {})

    result = sparkq("claim")
    lines = refused(result, code=2).splitlines()
    assert result.stdout == ""
    assert lines[0] == "Error: --stream is required"
    assert lines[1] == "Streams with queued tasks:"
    assert lines[2].split() == ["auth", "3", "queued", "(session", "api-v2)"]
    assert lines[3].split() == ["billing", "1", "queued", "(session", "api-v2)"]
    assert lines[-1] == "Usage: sparkq claim --stream STREAM"
    assert not any("idle" in line for line in lines)
    assert queue.status_counts()["running"] == 0  # nothing was claimed


# -- complete, fail, requeue -----------------------------------------------------------------------


def test_complete_stores_result_and_output_from_files_and_stdin(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir)
    queue.enqueue("auth", "run-bash", {})
    claimed = queue.claim("auth")
    assert claimed is not None
    big = "line\n" * 40_000  # larger than a shell argument should carry
    (workdir / "out.log").write_text(big)

    out = sparkq(
        "complete", claimed.task.id, "--result", RESULT, "--stdout-file", "out.log", "--stderr", "-", input="warn\n"
    )
    assert ok(out) == f"{claimed.task.id} succeeded\n"

    task = ok_json(sparkq("task", claimed.task.id, "--json"))
    assert task["status"] == "succeeded"
    assert task["result"] == json.loads(RESULT)
    assert (task["stdout"], task["stderr"]) == (big, "warn\n")
    assert task["finished_at"].endswith("Z")
    assert task["stream"]["name"] == "auth"


def test_complete_without_summary_is_refused_and_task_stays_running(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir)
    queue.enqueue("auth", "run-bash", {})
    claimed = queue.claim("auth")
    assert claimed is not None

    for result in ('{"files": []}', '{"summary": "  "}', '{"summary": 3}'):
        assert "summary" in refused(sparkq("complete", claimed.task.id, "--result", result))
    assert queue.get_task(claimed.task.id).status == "running"

    task = ok_json(sparkq("complete", claimed.task.id, "--result", '{"summary": "ok"}', "--json"))
    assert task["status"] == "succeeded"


def test_fail_needs_an_error_message_and_stores_it(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir)
    queue.enqueue("auth", "run-bash", {})
    claimed = queue.claim("auth")
    assert claimed is not None

    assert "--error" in refused(sparkq("fail", claimed.task.id), code=2)
    (workdir / "err.txt").write_text("Question: keep the v1 endpoint?")
    out = sparkq("fail", claimed.task.id, "--error-file", "err.txt", "--stdout", "partial output")
    assert ok(out) == f"{claimed.task.id} failed\n"
    task = queue.get_task(claimed.task.id)
    assert (task.status, task.error, task.stdout) == ("failed", "Question: keep the v1 endpoint?", "partial output")


def test_transition_from_wrong_status_is_refused_naming_the_status(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir)
    task = queue.enqueue("auth", "run-bash", {})
    assert f"Cannot complete task {task.id}: it is queued" in refused(
        sparkq("complete", task.id, "--result", '{"summary": "x"}')
    )
    assert "it is queued" in refused(sparkq("requeue", task.id))


def test_requeue_prints_new_id_and_leaves_original_untouched(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir)
    queue.enqueue("auth", "run-bash", {"script": "x.sh"}, timeout=77)
    claimed = queue.claim("auth")
    assert claimed is not None
    original = queue.fail(claimed.task.id, "boom")

    new_id = ok(sparkq("requeue", original.id)).strip()
    assert TASK_ID.fullmatch(new_id) and new_id != original.id
    clone = queue.get_task(new_id)
    assert (clone.status, clone.payload, clone.timeout) == ("queued", {"script": "x.sh"}, 77)
    # untouched but for the id of its copy (lineage both ways)
    assert queue.get_task(original.id) == attrs.evolve(original, requeued_to=new_id)

    queue.cancel(new_id)
    again = ok_json(sparkq("requeue", new_id, "--json"))
    assert again["status"] == "queued" and again["id"] not in (new_id, original.id)
    assert again["requeued_from"] == new_id


# -- reviewing -------------------------------------------------------------------------------------


def _arrange_review(workdir: Path) -> dict[str, str]:
    """A queued, a succeeded, a stale running and a dead (to be auto-failed) task, oldest first."""
    queue = make_stream(workdir)
    ids = {}
    done = queue.enqueue("auth", "run-bash", {})
    claimed = queue.claim("auth")
    assert claimed is not None
    queue.complete(done.id, {"summary": "ok"})
    ids["succeeded"] = done.id

    # the clock of these queues is in the past, so the claims happened minutes ago
    ids["dead"] = library_queue(workdir, ago=timedelta(minutes=10)).enqueue("auth", "run-bash", {}, timeout=60).id
    library_queue(workdir, ago=timedelta(minutes=10)).claim("auth")
    ids["stale"] = library_queue(workdir, ago=timedelta(seconds=90)).enqueue("auth", "run-bash", {}, timeout=60).id
    library_queue(workdir, ago=timedelta(seconds=90)).claim("auth")
    ids["queued"] = queue.enqueue("auth", "llm-haiku", {}).id
    return ids


def test_tasks_table_is_newest_first_and_marks_stale_and_auto_failed_rows(sparkq: RunSparkq, workdir: Path) -> None:
    ids = _arrange_review(workdir)
    lines = ok(sparkq("tasks")).splitlines()

    assert lines[0].split() == ["ID", "STREAM", "TOOL", "STATUS", "CREATED", "DURATION"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert [line.split()[0] for line in lines[1:]] == [ids["queued"], ids["stale"], ids["dead"], ids["succeeded"]]
    assert "running ⚠ stale" in rows[ids["stale"]] and "1m 30s" in rows[ids["stale"]]
    assert "failed ⚠ auto" in rows[ids["dead"]]  # auto-failed when listed, no server needed
    assert "succeeded" in rows[ids["succeeded"]] and "⚠" not in rows[ids["succeeded"]]
    assert rows[ids["queued"]].split()[1:4] == ["auth", "llm-haiku", "queued"]
    assert "10m ago" in rows[ids["dead"]]

    assert [line.split()[0] for line in ok(sparkq("tasks", "--stale")).splitlines()[1:]] == [ids["stale"]]
    failed = ok_json(sparkq("tasks", "--status", "failed", "--json"))
    assert [t["id"] for t in failed] == [ids["dead"]]
    assert failed[0]["error"].startswith("Auto-failed: task exceeded 2x timeout (60s)")
    assert failed[0]["auto_failed"] is True and failed[0]["payload"] == {}
    stale = ok_json(sparkq("tasks", "--stream", "auth", "--status", "running", "--json"))
    assert [(t["id"], t["stale"]) for t in stale] == [(ids["stale"], True)]


def test_tasks_limit_cuts_the_list_and_says_so(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir)
    ids = [queue.enqueue("auth", "run-bash", {}).id for _ in range(3)]
    lines = ok(sparkq("tasks", "--limit", "2")).splitlines()
    assert [line.split()[0] for line in lines[1:3]] == [ids[2], ids[1]]
    assert lines[3] == "Showing the newest 2 of 3 tasks; use --limit to see more."


def test_tasks_with_no_tasks_prints_a_friendly_line(sparkq: RunSparkq, workdir: Path) -> None:
    assert ok(sparkq("tasks")) == "No tasks yet. Queue one with: sparkq enqueue\n"
    make_stream(workdir)
    assert ok(sparkq("tasks", "--stream", "auth")) == "No tasks match these filters.\n"
    assert ok_json(sparkq("tasks", "--json")) == []


def test_task_detail_shows_summary_first_output_timing_and_instructions(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir, instructions="Add login.\nDone when tests pass.")
    task = library_queue(workdir, ago=timedelta(minutes=5)).enqueue("auth", "run-bash", {"script": "t.sh"})
    library_queue(workdir, ago=timedelta(minutes=3)).claim("auth")
    queue.complete(
        task.id, {"files": ["a.py"], "summary": "Login works"}, stdout="ran 12 tests\n\x1b[31mred\x1b[0m", stderr="warn"
    )

    text = ok(sparkq("task", task.id))
    lines = text.splitlines()
    assert lines[0] == f"Task {task.id}  succeeded"
    assert "  stream    auth (session api-v2)" in lines
    assert "  tool      run-bash" in lines and "  attempts  1" in lines
    assert '    "script": "t.sh"' in lines
    result = lines.index("Result")
    assert lines[result + 1] == "  Summary: Login works"
    assert '      "a.py"' in lines[result + 2 :]
    assert "  ran 12 tests" in lines
    assert "\x1b" not in text and "  \\x1b[31mred\\x1b[0m" in lines  # worker output cannot drive the terminal
    assert lines.index("Stdout") < lines.index("Stderr") < lines.index("Timing")
    timing = lines[lines.index("Timing") + 1 : lines.index("Timing") + 4]
    assert timing[0].startswith("  queued ") and "(5m ago)" in timing[0]
    assert timing[1].startswith("  started ") and "waited 2m 00s" in timing[1]
    assert timing[2].startswith("  finished ") and "ran 3m 0" in timing[2]
    assert lines[-3:] == ["Stream instructions (auth)", "  Add login.", "  Done when tests pass."]


def test_purge_deletes_only_finished_tasks_older_than_the_age(sparkq: RunSparkq, workdir: Path) -> None:
    make_stream(workdir, "auth")
    make_stream(workdir, "later")
    old = library_queue(workdir, ago=timedelta(days=5))
    old_queued = old.enqueue("later", "run-bash", {})
    old_done = old.enqueue("auth", "run-bash", {})
    old.claim("auth")
    old.complete(old_done.id, {"summary": "ok"})
    recent = library_queue(workdir, ago=timedelta(days=2))
    recent_done = recent.enqueue("auth", "run-bash", {})
    recent.claim("auth")
    recent.fail(recent_done.id, "boom")

    assert ok(sparkq("purge", "--older-than", "1w")) == "Deleted 0 finished task(s) older than 1w\n"
    assert ok(sparkq("purge")) == "Deleted 1 finished task(s) older than 3d\n"
    assert ok(sparkq("purge", "--older-than", "36h")) == "Deleted 1 finished task(s) older than 36h\n"
    remaining = {t["id"]: t["status"] for t in ok_json(sparkq("tasks", "--json"))}
    assert remaining == {old_queued.id: "queued"}


@pytest.mark.parametrize("age", ["3", "3x", "d", "-1d", "1.5d"])
def test_purge_with_bad_age_names_the_accepted_forms(sparkq: RunSparkq, age: str) -> None:
    message = refused(sparkq("purge", "--older-than", age), code=2)
    assert "use a whole number (at most 5 digits) followed by h, d or w" in message


# -- fast start ------------------------------------------------------------------------------------

HEAVY = ("litestar", "uvicorn", "cattrs", "yaml", "rich")

#: run the console script's main() in a fresh interpreter, then list every module it loaded (on stderr)
RUN_AND_LIST_MODULES = (
    "import json, sys\n"
    "from sparkq_entry.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


@pytest.mark.parametrize("command", ["peek", "claim"])
def test_queue_commands_never_import_web_framework_or_heavy_libraries(workdir: Path, command: str) -> None:
    queue = make_stream(workdir)
    queue.enqueue("auth", "run-bash", {})
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, command, "--stream", "auth"],
        cwd=workdir,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["tool_name"] == "run-bash"
    loaded = json.loads(result.stderr)
    assert "sparkq_adapters.cli.worker" in loaded  # the command really ran in that interpreter
    assert [m for m in loaded if m.split(".")[0] in HEAVY] == []
