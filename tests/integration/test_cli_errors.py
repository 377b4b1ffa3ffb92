"""Bad input and broken storage: always one clear `Error:` line and the documented exit code, never a traceback.

The commands run in this process (the `in_process` mark), but the one that meets a lock another process holds.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .cli_support import library_queue, make_stream, ok, refused

if TYPE_CHECKING:
    from tests.conftest import RunSparkq

# (arguments, exit code, what the message must say)
BAD_CALLS = [
    (["enqueue", "run-bash", "{}", "--stream", "ghost"], 1, "Stream 'ghost' not found"),
    (["peek", "--stream", "ghost"], 1, "Stream 'ghost' not found"),
    (["claim", "--stream", "ghost"], 1, "Stream 'ghost' not found"),
    (["claim", "--stream", "auth", "--wait", "abc"], 2, "Invalid --wait 'abc': give a number of seconds"),
    (["claim", "--wait", "soon", "--stream", "auth"], 2, "Invalid --wait 'soon': give a number of seconds"),
    (["claim", "--stream", "auth", "--wait", "-5"], 2, "Invalid --wait '-5': give a number of seconds"),
    (["tasks", "--stream", "ghost"], 1, "Stream 'ghost' not found"),
    (["enqueue", "no-such-tool", "{}", "--stream", "auth"], 1, "Known tools: llm-haiku, llm-sonnet, run-bash"),
    (["enqueue", "run-bash", "{not json", "--stream", "auth"], 1, "The payload is not valid JSON"),
    (["enqueue", "run-bash", "[1, 2]", "--stream", "auth"], 1, "The payload must be a JSON object"),
    (["enqueue", "run-bash", '{"x": NaN}', "--stream", "auth"], 1, "not valid JSON"),
    (["enqueue", "run-bash", "{}", "--stream", "auth", "--timeout", "0"], 1, "Invalid timeout 0"),
    (["enqueue", "run-bash", "{}", "--stream", "auth", "--timeout", "-5"], 1, "Invalid timeout -5"),
    (["enqueue", "run-bash", "{}", "--stream", "auth", "--timeout", "soon"], 2, "--timeout"),
    (["enqueue", "run-bash", "{}", "--stream", "auth", "--class", "HUGE"], 2, "LLM_HEAVY"),
    (["enqueue", "run-bash", "@missing.json", "--stream", "auth"], 1, "Cannot read the payload from missing.json"),
    (["enqueue", "run-bash", "@.", "--stream", "auth"], 1, "it is a folder, not a file"),
    (["enqueue", "run-bash", "{}"], 2, "--stream"),
    (["task", "tsk_000000000000"], 1, "Task 'tsk_000000000000' not found"),
    (["complete", "tsk_000000000000", "--result", '{"summary": "x"}'], 1, "not found"),
    (["complete", "tsk_000000000000", "--result", "{oops"], 1, "The result is not valid JSON"),
    (["complete", "tsk_000000000000", "--result", "-", "--stdout", "-"], 2, "Only one argument"),
    (["fail", "tsk_000000000000", "--error", "x", "--error-file", "e.txt"], 2, "not both"),
    (["requeue", "tsk_000000000000"], 1, "not found"),
    (["session", "create", "bad name"], 1, "Invalid session name 'bad name'"),
    (["session", "create", "-starts-with-dash"], 2, "Unknown option"),
    (["session", "create", "x" * 65], 1, "Invalid session name"),
    (["stream", "create", "a/b", "--session", "api-v2"], 1, "Invalid stream name 'a/b'"),
    (["stream", "create", "new", "--session", "api-v2", "--instructions-file", "nope.md"], 1, "no such file"),
    (["session", "list", "--status", "paused"], 2, "active"),
    (["tasks", "--limit", "0"], 1, "Invalid limit 0"),
    (["tasks", "--limit", "many"], 2, "--limit"),
    (["tasks", "--status", "done"], 2, "succeeded"),
]


@pytest.mark.in_process
@pytest.mark.parametrize(("args", "code", "message"), BAD_CALLS, ids=[" ".join(c[0])[:60] for c in BAD_CALLS])
def test_bad_input_is_a_clear_error_with_exit_code(
    sparkq: RunSparkq, workdir: Path, args: list[str], code: int, message: str
) -> None:
    make_stream(workdir)
    result = sparkq(*args)
    assert message in refused(result, code=code)
    assert result.stdout == ""


@pytest.mark.in_process
def test_requeue_into_ended_stream_is_refused(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir)
    task = queue.enqueue("auth", "run-bash", {})
    queue.claim("auth")
    queue.fail(task.id, "boom")
    queue.end_stream("auth")
    assert "cannot be requeued" in refused(sparkq("requeue", task.id))


@pytest.mark.in_process
def test_file_that_is_not_a_database_is_refused_and_left_untouched(sparkq: RunSparkq, workdir: Path) -> None:
    db = workdir / "sparkq.db"
    db.write_text("my notes, not a database\n")
    for args in (["tasks"], ["peek", "--stream", "auth"], ["session", "create", "s"]):
        assert "is not a SQLite database" in refused(sparkq(*args))
    assert db.read_text() == "my notes, not a database\n"


@pytest.mark.in_process
def test_damaged_database_is_reported_as_damaged(sparkq: RunSparkq, workdir: Path) -> None:
    db = workdir / "sparkq.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4080)
    assert "damaged" in refused(sparkq("tasks"))


def test_database_locked_past_busy_timeout_is_a_clear_error(sparkq: RunSparkq, workdir: Path) -> None:
    (workdir / "sparkq.yml").write_text("database: {busy_timeout_ms: 200}\n")
    make_stream(workdir)
    holder = sqlite3.connect(workdir / "sparkq.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        for args in (["enqueue", "run-bash", "{}", "--stream", "auth"], ["claim", "--stream", "auth"]):
            message = refused(sparkq(*args))
            assert "is locked by another process (waited 200 ms)" in message
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert ok(sparkq("enqueue", "run-bash", "{}", "--stream", "auth")).startswith("tsk_")
    assert library_queue(workdir).status_counts()["queued"] == 1
