"""Every endpoint of SPEC §5 against the app `sparkq run` serves, in this process: shapes, statuses, the error shape.

The `in_process` mark makes the `server` fixture that app behind Litestar's test client (`AppServer`), and the
`sparkq` fixture run its commands in this process; the socket and the process are tested in test_server_*.py.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from sparkq_entry.wiring import open_queue
from tests.integration.conftest import Server

from ..conftest import RunSparkq
from .http_support import local_api, server_log

pytestmark = pytest.mark.in_process


def assert_error(response: httpx.Response, status: int, code: str, fragment: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (status, code)
    assert fragment in error["message"]
    return error


@pytest.fixture
def api(server: Server) -> httpx.Client:
    with server.client() as client:
        yield client


@pytest.fixture
def stream(api: httpx.Client) -> dict[str, Any]:
    api.post("/api/sessions", json={"name": "api-v2", "description": "rewrite"}).raise_for_status()
    created = api.post("/api/streams", json={"name": "auth", "session_id": "api-v2", "instructions": "Add login"})
    assert created.status_code == 201, created.text
    return created.json()["stream"]


def enqueue(api: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"stream_id": "auth", "tool_name": "run-bash", "payload": {"script": "x.sh"}, **fields}
    response = api.post("/api/tasks", json=body)
    assert response.status_code == 201, response.text
    return response.json()["task"]


def test_health_on_both_paths(api: httpx.Client) -> None:
    for path in ("/health", "/api/health"):
        body = api.get(path).json()
        assert body["status"] == "ok" and body["timestamp"].endswith("Z")


def test_sessions_create_list_get_update_end(api: httpx.Client) -> None:
    created = api.post("/api/sessions", json={"name": "s1", "description": "first"})
    assert created.status_code == 201
    session = created.json()["session"]
    assert session["id"].startswith("ses_") and session["status"] == "active"
    assert [s["name"] for s in api.get("/api/sessions").json()["sessions"]] == ["s1"]
    assert api.get(f"/api/sessions/{session['id']}").json()["session"]["name"] == "s1"
    assert api.get("/api/sessions/s1").json()["session"]["id"] == session["id"]
    updated = api.put("/api/sessions/s1", json={"description": "changed"}).json()["session"]
    assert updated["description"] == "changed"
    ended = api.put("/api/sessions/s1/end").json()["session"]
    assert ended["status"] == "ended" and ended["ended_at"]
    assert api.get("/api/sessions?status=active").json()["sessions"] == []
    assert_error(api.post("/api/sessions", json={"name": "s1"}), 409, "duplicate", "already exists")
    assert_error(api.get("/api/sessions/nope"), 404, "not_found", "Session 'nope' not found")
    assert_error(api.post("/api/sessions", json={"name": "bad name"}), 422, "invalid_input", "1-64 letters")


def test_streams_carry_task_counts_and_are_addressed_by_id_or_name(api: httpx.Client, stream: dict[str, Any]) -> None:
    assert stream["id"].startswith("str_") and stream["session_name"] == "api-v2"
    enqueue(api)
    by_name = api.get("/api/streams/auth").json()["stream"]
    by_id = api.get(f"/api/streams/{stream['id']}").json()["stream"]
    assert by_name == by_id
    assert by_name["task_counts"] == {"queued": 1, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 0}
    listed = api.get("/api/streams", params={"session_id": "api-v2", "status": "active"}).json()["streams"]
    assert [s["name"] for s in listed] == ["auth"]
    changed = api.put("/api/streams/auth", json={"instructions": "Add login and logout"}).json()["stream"]
    assert changed["instructions"] == "Add login and logout"
    assert api.put("/api/streams/auth/end").json()["stream"]["status"] == "ended"
    assert_error(
        api.post("/api/tasks", json={"stream_id": "auth", "tool_name": "run-bash", "payload": {}}),
        409,
        "stream_ended",
        "accepts no new tasks",
    )


def test_claim_and_peek_on_an_ended_stream_are_409_stream_ended_not_204_no_work(workdir: Path) -> None:
    queue = open_queue(workdir / "sparkq.db")
    queue.create_session("api-v2")
    queue.create_stream("auth", "api-v2")
    task = queue.enqueue("auth", "run-bash", {})
    queue.end_stream("auth")
    with local_api(workdir) as api:
        for response in (
            api.post("/api/streams/auth/claim"),
            api.post("/api/streams/auth/claim", params={"wait": 30}),  # at once, not after 30 s of nothing
            api.get("/api/streams/auth/peek"),
        ):
            assert_error(response, 409, "stream_ended", "Stream 'auth' has ended (or its session has)")
            assert "stop this worker's loop" in response.json()["error"]["message"]
        # ending the stream cancelled its queued task: nothing is left to claim
        by_id = api.post(f"/api/tasks/{task.id}/claim")
        assert_error(by_id, 409, "conflict", f"Cannot claim task {task.id}: it is cancelled")
    assert queue.get_task(task.id).status.value == "cancelled"


def test_worker_protocol_peek_and_claim_return_the_cli_json(
    api: httpx.Client, stream: dict[str, Any], sparkq: RunSparkq
) -> None:
    assert api.get("/api/streams/auth/peek").status_code == 204
    assert api.post("/api/streams/auth/claim").status_code == 204
    task = enqueue(api)
    peeked = api.get("/api/streams/auth/peek").json()
    cli_peek = json.loads(sparkq("peek", "--stream", "auth").stdout)
    assert peeked == cli_peek
    assert peeked["id"] == task["id"] and peeked["status"] == "queued"
    claimed = api.post(f"/api/streams/{stream['id']}/claim").json()
    assert claimed["id"] == task["id"] and claimed["status"] == "running" and claimed["attempts"] == 1
    assert claimed["stream"] == {"id": stream["id"], "name": "auth", "instructions": "Add login"}
    shown = json.loads(sparkq("task", task["id"], "--json").stdout)
    assert {k: shown[k] for k in claimed if k != "stream"} == {k: v for k, v in claimed.items() if k != "stream"}


def test_task_lifecycle_complete_fail_requeue(api: httpx.Client, stream: dict[str, Any]) -> None:
    first = enqueue(api, timeout=120, task_class="LLM_LITE")
    assert (first["timeout"], first["task_class"], first["status"]) == (120, "LLM_LITE", "queued")
    api.post("/api/streams/auth/claim").raise_for_status()
    assert_error(api.post(f"/api/tasks/{first['id']}/complete", json={"result": {}}), 422, "invalid_input", "summary")
    assert api.get(f"/api/tasks/{first['id']}").json()["task"]["status"] == "running"
    done = api.post(
        f"/api/tasks/{first['id']}/complete", json={"result": {"summary": "done", "n": 1}, "stdout": "out"}
    ).json()["task"]
    assert (done["status"], done["result"], done["stdout"]) == ("succeeded", {"summary": "done", "n": 1}, "out")
    assert_error(
        api.post(f"/api/tasks/{first['id']}/fail", json={"error_message": "x"}), 409, "conflict", "it is succeeded"
    )

    second = enqueue(api)
    claimed = api.post(f"/api/tasks/{second['id']}/claim").json()["task"]
    assert claimed["status"] == "running" and claimed["stream"]["name"] == "auth"
    failed = api.post(
        f"/api/tasks/{second['id']}/fail", json={"error_message": "tests fail", "error_type": "TestFailure"}
    ).json()["task"]
    # the type is stored apart from the message, which is kept as given (issue 14: facts as data)
    assert (failed["status"], failed["error"], failed["error_type"]) == ("failed", "tests fail", "TestFailure")
    assert (failed["failure_kind"], failed["auto_failed"]) == ("error", False)

    clone = api.post(f"/api/tasks/{second['id']}/requeue")
    assert clone.status_code == 201
    assert clone.json()["task"]["status"] == "queued" and clone.json()["task"]["id"] != second["id"]
    assert api.get(f"/api/tasks/{second['id']}").json()["task"]["status"] == "failed"


def test_complete_accepts_result_summary_and_result_data(api: httpx.Client, stream: dict[str, Any]) -> None:
    task = enqueue(api)
    api.post("/api/streams/auth/claim").raise_for_status()
    done = api.post(
        f"/api/tasks/{task['id']}/complete", json={"result_summary": "ok", "result_data": {"files": 3}}
    ).json()["task"]
    assert done["result"] == {"files": 3, "summary": "ok"}


def test_task_list_is_paginated_light_and_newest_first(api: httpx.Client, stream: dict[str, Any]) -> None:
    ids = [enqueue(api, payload={"n": n})["id"] for n in range(5)]
    page = api.get("/api/tasks", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 5 and (page["limit"], page["offset"]) == (2, 1)
    assert [t["id"] for t in page["tasks"]] == [ids[3], ids[2]]
    assert not {"payload", "stdout", "stderr", "result"} & set(page["tasks"][0])
    full = api.get("/api/tasks", params={"limit": 1, "full": "true"}).json()["tasks"][0]
    assert full["payload"] == {"n": 4}
    oldest = api.get("/api/tasks", params={"order": "oldest", "limit": 1}).json()["tasks"]
    assert oldest[0]["id"] == ids[0]
    assert api.get("/api/tasks", params={"status": "running"}).json()["total"] == 0
    assert api.get("/api/tasks", params={"stream_id": "auth", "stale": "true"}).json()["tasks"] == []
    assert_error(api.get("/api/tasks", params={"limit": 0}), 400, "bad_request", "limit")
    assert_error(api.get("/api/tasks", params={"status": "done"}), 422, "invalid_input", "Unknown task status")


def test_status_counts_tasks_and_lists_active_sessions(
    api: httpx.Client, stream: dict[str, Any], server: Server
) -> None:
    enqueue(api)
    body = api.get("/api/status").json()
    assert body["server"]["status"] == "running" and body["server"]["pid"] == server.pid
    assert body["server"]["port"] == server.port
    assert body["counts"] == {"queued": 1, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 0}
    [session] = body["sessions"]
    assert session["name"] == "api-v2" and [s["name"] for s in session["streams"]] == ["auth"]


def test_tools_scripts_and_reload(server: Server, api: httpx.Client) -> None:
    tools = api.get("/api/tools").json()["tools"]
    migrations = next(t for t in tools if t["name"] == "run-migrations")
    assert (migrations["task_class"], migrations["timeout"]) == ("MEDIUM_SCRIPT", 1800)
    assert api.get("/api/scripts").json() == {"scripts": []}
    assert_error(api.post("/api/reload"), 422, "invalid_config", "sparkq.yml not found")


def test_reload_picks_up_new_tools_and_scripts(workdir: Any) -> None:
    from tests.integration.conftest import Server, free_port

    (workdir / "scripts").mkdir()
    (workdir / "sparkq.yml").write_text("script_dirs: [scripts]\ntools:\n  lint: {task_class: FAST_SCRIPT}\n")
    srv = Server(workdir, free_port())
    try:
        with srv.client() as api:
            assert [t["name"] for t in api.get("/api/tools").json()["tools"]] == ["lint"]
            (workdir / "scripts" / "deploy.sh").write_text("#!/bin/sh\n# name: deploy\n# description: Ship it\necho\n")
            (workdir / "sparkq.yml").write_text(
                "script_dirs: [scripts]\ntools:\n"
                "  lint: {task_class: FAST_SCRIPT}\n  test: {task_class: MEDIUM_SCRIPT}\n"
            )
            reloaded = api.post("/api/reload").json()
            assert (reloaded["tools"], reloaded["scripts"]) == (2, 1)
            assert [t["name"] for t in api.get("/api/tools").json()["tools"]] == ["lint", "test"]
            assert [s["name"] for s in api.get("/api/scripts").json()["scripts"]] == ["deploy"]
            api.post("/api/sessions", json={"name": "s"}).raise_for_status()
            api.post("/api/streams", json={"name": "st", "session_id": "s"}).raise_for_status()
            created = api.post("/api/tasks", json={"stream_id": "st", "tool_name": "test", "payload": {}})
            assert created.status_code == 201, created.text
    finally:
        srv.stop()


def test_stats_count_finished_tasks_per_hour_and_tool_durations(api: httpx.Client, stream: dict[str, Any]) -> None:
    for _ in range(2):
        task = enqueue(api)
        api.post("/api/streams/auth/claim").raise_for_status()
        api.post(f"/api/tasks/{task['id']}/complete", json={"result": {"summary": "ok"}}).raise_for_status()
    stats = api.get("/api/stats").json()
    assert len(stats["finished_per_hour"]) == 24
    assert stats["finished_per_hour"][-1]["succeeded"] == 2
    assert stats["finished_per_hour"][-1]["hour"].endswith(":00:00Z")
    [tool] = stats["tools"]
    assert (tool["tool_name"], tool["count"]) == ("run-bash", 2)
    assert 0 <= tool["median_seconds"] <= tool["p90_seconds"]


def test_unknown_routes_and_methods_use_the_error_shape(api: httpx.Client) -> None:
    assert_error(api.get("/api/nope"), 404, "not_found")
    assert_error(api.get("/api/tasks/tsk_000000000000"), 404, "not_found", "tsk_000000000000")
    assert_error(api.delete("/api/tasks"), 405, "method_not_allowed")


def test_openapi_schema_is_served(api: httpx.Client) -> None:
    schema = api.get("/schema/openapi.json").json()
    assert api.get("/schema").json() == schema
    assert schema["info"]["title"] == "SparkQ"
    for path in ("/api/tasks", "/api/streams/{stream_ref}/claim", "/api/sessions/{session_ref}/end", "/api/health"):
        assert path in schema["paths"]


def test_an_unexpected_error_is_a_500_whose_traceback_is_in_the_server_log(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue = open_queue(workdir / "sparkq.db")
    queue.create_session("api-v2")
    queue.create_stream("auth", "api-v2")
    task = queue.enqueue("auth", "run-bash", {})
    # another program wrote a payload that is not JSON: reading the task fails in a way no rule foresaw
    conn = sqlite3.connect(workdir / "sparkq.db")
    with conn:
        conn.execute("UPDATE tasks SET payload = '{not json' WHERE id = ?", (task.id,))
    conn.close()
    with local_api(workdir) as api, server_log(caplog):
        response = api.get(f"/api/tasks/{task.id}")
    assert_error(response, 500, "internal_error", "Unexpected JSONDecodeError; the server log has details")
    [record] = [r for r in caplog.records if r.name == "sparkq.server" and r.levelno >= logging.ERROR]
    assert record.getMessage() == f"Unexpected JSONDecodeError answering GET /api/tasks/{task.id}"
    assert record.exc_info is not None and record.exc_info[0] is json.JSONDecodeError
    assert "Traceback (most recent call last)" in caplog.text and "json.decoder.JSONDecodeError" in caplog.text
