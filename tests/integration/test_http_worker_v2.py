"""Heartbeats, cancel, bulk requeue and lineage over HTTP (SPEC §11).

In-process: Litestar's test client over the real app on a SQLite file in a tmp folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from sparkq_adapters.event_kinds import EventKind

from .http_support import event_kinds, local_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient[Any]]:
    with local_api(tmp_path) as client:
        client.post("/api/sessions", json={"name": "s"}).raise_for_status()
        for name in ("auth", "docs"):
            client.post("/api/streams", json={"name": name, "session_id": "s"}).raise_for_status()
        yield client


def queued(api: TestClient[Any], stream: str = "auth") -> str:
    answer = api.post("/api/tasks", json={"stream_id": stream, "tool_name": "run-bash", "payload": {}})
    answer.raise_for_status()
    return str(answer.json()["task"]["id"])


def running(api: TestClient[Any], stream: str = "auth") -> str:
    task_id = queued(api, stream)
    api.post(f"/api/tasks/{task_id}/claim", json={}).raise_for_status()
    return task_id


def failed(api: TestClient[Any], stream: str = "auth") -> str:
    task_id = running(api, stream)
    api.post(f"/api/tasks/{task_id}/fail", json={"error_message": "broke"}).raise_for_status()
    return task_id


def test_a_heartbeat_answers_the_task_with_its_time_and_note_and_the_feed_records_it(
    api: TestClient[Any], tmp_path: Path
) -> None:
    task_id = running(api)
    answer = api.post(f"/api/tasks/{task_id}/heartbeat", json={"note": "tests written"})
    assert answer.status_code == 200, answer.text
    task = answer.json()["task"]
    assert task["status"] == "running" and task["progress"] == "tests written"
    assert task["heartbeat_at"] is not None and task["heartbeat_at"] >= task["started_at"]
    again = api.post(f"/api/tasks/{task_id}/heartbeat", json={}).json()["task"]
    assert again["progress"] == "tests written" and again["heartbeat_at"] >= task["heartbeat_at"]
    shown = api.get(f"/api/tasks/{task_id}").json()["task"]
    assert (shown["heartbeat_at"], shown["progress"]) == (again["heartbeat_at"], "tests written")
    listed = api.get("/api/tasks", params={"status": "running"}).json()["tasks"]
    assert [(t["id"], t["progress"]) for t in listed] == [(task_id, "tests written")]
    assert event_kinds(tmp_path, task_id).count(EventKind.TASK_HEARTBEAT.value) == 2


def test_a_heartbeat_for_a_task_that_is_not_running_is_409_naming_its_status(api: TestClient[Any]) -> None:
    task_id = queued(api)
    answer = api.post(f"/api/tasks/{task_id}/heartbeat", json={"note": "alive?"})
    assert answer.status_code == 409
    assert answer.json()["error"]["message"] == f"Cannot heartbeat task {task_id}: it is queued"
    assert api.post("/api/tasks/tsk_000000000bad/heartbeat", json={}).status_code == 404


def test_a_progress_note_over_1_kib_is_413_and_an_unknown_key_400(api: TestClient[Any]) -> None:
    task_id = running(api)
    answer = api.post(f"/api/tasks/{task_id}/heartbeat", json={"note": "x" * 1025})
    assert answer.status_code == 413 and "at most 1,024 bytes" in answer.json()["error"]["message"]
    answer = api.post(f"/api/tasks/{task_id}/heartbeat", json={"progress": "x"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "unknown_key"
    assert "accepted: note" in answer.json()["error"]["message"]
    assert api.get(f"/api/tasks/{task_id}").json()["task"]["heartbeat_at"] is None


def test_cancel_a_queued_task_with_a_reason_and_not_a_running_one(api: TestClient[Any], tmp_path: Path) -> None:
    task_id = queued(api)
    answer = api.post(f"/api/tasks/{task_id}/cancel", json={"reason": "superseded"})
    assert answer.status_code == 200, answer.text
    task = answer.json()["task"]
    assert (task["status"], task["error"], task["failure_kind"]) == ("cancelled", "superseded", "cancelled")
    assert task["finished_at"] is not None
    assert EventKind.TASK_CANCELLED.value in event_kinds(tmp_path, task_id)
    busy = running(api)
    refused = api.post(f"/api/tasks/{busy}/cancel", json={})
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == f"Cannot cancel task {busy}: it is running"
    assert api.get("/api/tasks", params={"status": "cancelled"}).json()["total"] == 1
    counts = api.get("/api/streams/auth").json()["stream"]["task_counts"]
    assert counts == {"queued": 0, "running": 1, "succeeded": 0, "failed": 0, "cancelled": 1}


def test_ending_a_stream_cancels_its_queued_tasks_as_stream_ended(api: TestClient[Any]) -> None:
    task_id = queued(api)
    api.put("/api/streams/auth/end", json={}).raise_for_status()
    task = api.get(f"/api/tasks/{task_id}").json()["task"]
    assert (task["status"], task["error"]) == ("cancelled", "stream ended")


def test_bulk_requeue_copies_each_failed_task_once_in_fifo_order_and_links_both_ways(api: TestClient[Any]) -> None:
    first, second = failed(api, "auth"), failed(api, "docs")
    dry = api.post("/api/tasks/requeue", json={"status": "failed", "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert dry.json() == {"tasks": [], "originals": [first, second], "skipped": [], "dry_run": True}
    answer = api.post("/api/tasks/requeue", json={"status": "failed"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["originals"] == [first, second] and body["dry_run"] is False
    copies = body["tasks"]
    assert [c["requeued_from"] for c in copies] == [first, second]
    assert all(c["status"] == "queued" and c["requeued_to"] is None for c in copies)
    for original, copy in zip((first, second), copies, strict=True):
        shown = api.get(f"/api/tasks/{original}").json()["task"]
        assert (shown["status"], shown["requeued_to"]) == ("failed", copy["id"])
    assert api.post("/api/tasks/requeue", json={"status": "failed"}).json()["tasks"] == []
    # requeuing one that has its copy is refused naming the copy
    refused = api.post(f"/api/tasks/{first}/requeue", json={})
    assert refused.status_code == 409
    assert f"already requeued as {copies[0]['id']}" in refused.json()["error"]["message"]


def test_bulk_requeue_narrows_by_stream_and_age_and_skips_ended_streams(api: TestClient[Any]) -> None:
    auth, docs = failed(api, "auth"), failed(api, "docs")
    api.put("/api/streams/docs/end", json={}).raise_for_status()
    body = api.post("/api/tasks/requeue", json={"status": "failed", "stream_id": "docs", "since": "2h"}).json()
    assert (body["tasks"], body["originals"], body["skipped"]) == ([], [], [docs])
    body = api.post("/api/tasks/requeue", json={"status": "failed", "since": "1w"}).json()
    assert (body["originals"], body["skipped"]) == ([auth], [docs])


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"status": "succeeded"}, 422, "only failed tasks are requeued in bulk"),
        ({"status": "failed", "since": "2 hours"}, 422, "use a whole number (at most 5 digits) followed by h, d or w"),
        ({"status": "failed", "since": "990332d"}, 422, "at most 5 digits"),
        ({"status": "failed", "stream_id": "nope"}, 404, "Stream 'nope' not found"),
        ({}, 400, "status is required"),
        ({"status": "failed", "stream": "auth"}, 400, "Unknown key 'stream'"),
    ],
)
def test_bulk_requeue_refuses_bad_bodies_saying_what_to_send(
    api: TestClient[Any], body: dict[str, Any], status: int, words: str
) -> None:
    answer = api.post("/api/tasks/requeue", json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]["message"]


def test_the_openapi_document_lists_the_new_routes_with_every_status(api: TestClient[Any]) -> None:
    paths = api.get("/schema/openapi.json").json()["paths"]
    assert set(paths["/api/tasks/{task_id}/heartbeat"]["post"]["responses"]) >= {"200", "404", "409", "413", "422"}
    assert set(paths["/api/tasks/{task_id}/cancel"]["post"]["responses"]) >= {"200", "404", "409"}
    assert set(paths["/api/tasks/requeue"]["post"]["responses"]) >= {"200", "400", "404", "422"}
    schemas = api.get("/schema/openapi.json").json()["components"]["schemas"]
    for name in ("TaskRow", "TaskOut"):
        assert {"heartbeat_at", "progress", "requeued_from", "requeued_to"} <= set(schemas[name]["properties"])
    assert "cancelled" in schemas["TaskCounts"]["properties"]
    assert schemas["TasksRequeue"]["additionalProperties"] is False
