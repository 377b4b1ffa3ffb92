"""`sparkq session …` and `sparkq stream …`, run in this process (the `in_process` mark)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .cli_support import library_queue, make_stream, ok, ok_json, refused

if TYPE_CHECKING:
    from tests.conftest import RunSparkq

pytestmark = pytest.mark.in_process


def test_session_create_on_fresh_folder_then_list_shows_it_as_table_and_json(sparkq: RunSparkq) -> None:
    out = ok(sparkq("session", "create", "api-v2", "-d", "Version 2 of the API"))
    assert out.startswith("Session api-v2 created (ses_")

    table = ok(sparkq("session", "list")).splitlines()
    assert table[0].split() == ["NAME", "STATUS", "STARTED", "ENDED", "STREAMS", "DESCRIPTION"]
    assert table[1].split()[:2] == ["api-v2", "active"]
    assert table[1].endswith("Version 2 of the API")

    [session] = ok_json(sparkq("session", "list", "--json"))
    assert session["name"] == "api-v2"
    assert session["description"] == "Version 2 of the API"
    assert session["status"] == "active"
    assert session["id"].startswith("ses_")


def test_session_create_json_prints_the_session_object(sparkq: RunSparkq) -> None:
    session = ok_json(sparkq("session", "create", "s1", "--json"))
    assert session["name"] == "s1" and session["status"] == "active" and session["ended_at"] is None


def test_session_create_with_taken_name_is_refused(sparkq: RunSparkq, workdir: Path) -> None:
    library_queue(workdir).create_session("api-v2")
    assert "already exists" in refused(sparkq("session", "create", "api-v2"))


def test_session_end_ends_its_streams_and_list_filters_by_status(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir, "auth", "old")
    queue.create_session("current")

    out = ok(sparkq("session", "end", "old"))
    assert "Session old ended" in out and "1 active stream" in out

    assert [s["name"] for s in ok_json(sparkq("session", "list", "--status", "ended", "--json"))] == ["old"]
    assert [s["name"] for s in ok_json(sparkq("session", "list", "--status", "active", "--json"))] == ["current"]
    [stream] = ok_json(sparkq("stream", "list", "--json"))
    assert stream["status"] == "ended"
    assert "already ended" in refused(sparkq("session", "end", "old"))


def test_session_end_with_unknown_name_is_not_found(sparkq: RunSparkq) -> None:
    assert "Session 'ghost' not found" in refused(sparkq("session", "end", "ghost"))


def test_stream_create_takes_instructions_from_file_and_list_shows_counts(sparkq: RunSparkq, workdir: Path) -> None:
    library_queue(workdir).create_session("api-v2")
    (workdir / "auth.md").write_text("Add login.\nDone when tests pass.\n")

    created = ok_json(
        sparkq("stream", "create", "auth", "--session", "api-v2", "--instructions-file", "auth.md", "--json")
    )
    assert created["instructions"] == "Add login.\nDone when tests pass.\n"

    queue = library_queue(workdir)
    for n in range(3):
        queue.enqueue("auth", "run-bash", {"n": n})
    claimed = queue.claim("auth")
    assert claimed is not None
    queue.complete(claimed.task.id, {"summary": "done"})

    header, row = ok(sparkq("stream", "list")).splitlines()
    assert header.split() == ["NAME", "SESSION", "STATUS", "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "INSTRUCTIONS"]
    assert row.split() == ["auth", "api-v2", "active", "2", "0", "1", "0", "Add", "login."]

    [item] = ok_json(sparkq("stream", "list", "--session", "api-v2", "--json"))
    assert item["session_name"] == "api-v2"
    assert item["task_counts"] == {"queued": 2, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 0}


def test_stream_create_inline_instructions_with_short_flag(sparkq: RunSparkq, workdir: Path) -> None:
    library_queue(workdir).create_session("api-v2")
    out = ok(sparkq("stream", "create", "auth", "--session", "api-v2", "-i", "- step one"))
    assert out.startswith("Stream auth created in session api-v2 (str_")
    assert library_queue(workdir).get_stream("auth").instructions == "- step one"


def test_stream_create_refuses_unknown_ended_session_and_taken_name(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir, "auth", "api-v2")
    assert "Session 'ghost' not found" in refused(sparkq("stream", "create", "x", "--session", "ghost"))
    assert "already exists" in refused(sparkq("stream", "create", "auth", "--session", "api-v2"))
    queue.create_session("closed")
    queue.end_session("closed")
    assert "accepts no new streams" in refused(sparkq("stream", "create", "late", "--session", "closed"))


def test_stream_list_filters_by_session_and_status(sparkq: RunSparkq, workdir: Path) -> None:
    make_stream(workdir, "auth", "a")
    queue = make_stream(workdir, "billing", "b")
    queue.end_stream("billing")
    assert [s["name"] for s in ok_json(sparkq("stream", "list", "--session", "a", "--json"))] == ["auth"]
    assert [s["name"] for s in ok_json(sparkq("stream", "list", "--status", "ended", "--json"))] == ["billing"]
    assert ok(sparkq("stream", "list", "--session", "a", "--status", "ended")) == "No streams match these filters.\n"


def test_stream_end_cancels_queued_tasks_and_refuses_new_ones(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir)
    queue.enqueue("auth", "run-bash", {})

    assert ok(sparkq("stream", "end", "auth")) == "Stream auth ended; 1 queued task cancelled (stream ended)\n"
    assert "has ended" in refused(sparkq("enqueue", "run-bash", "{}", "--stream", "auth"))
    assert "has ended" in refused(sparkq("claim", "--stream", "auth"))
    [task] = json.loads(ok(sparkq("tasks", "--json")))  # in history, cancelled with the reason
    assert (task["status"], task["error"], task["failure_kind"]) == ("cancelled", "stream ended", "cancelled")


def test_empty_lists_say_how_to_start(sparkq: RunSparkq) -> None:
    assert "sparkq session create NAME" in ok(sparkq("session", "list"))
    assert "sparkq stream create NAME --session SESSION" in ok(sparkq("stream", "list"))
    assert ok_json(sparkq("stream", "list", "--json")) == []
