"""Failure facts over HTTP: `error_type` stored apart, `failure_kind` in task JSON, the feed's kinds.

In-process: Litestar's test client over the real app on a SQLite file in a tmp folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from sparkq_adapters.event_kinds import EventKind
from sparkq_domain import AUTO_FAIL_MESSAGE, MAX_ERROR_TYPE_CHARS
from sparkq_entry.wiring import open_queue
from tests.fakes import FakeClock

from .http_support import event_kinds, local_api

#: a worker's error in the sweep's own words
LOOKALIKE = AUTO_FAIL_MESSAGE.format(timeout=300)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient[Any]]:
    with local_api(tmp_path) as client:
        client.post("/api/sessions", json={"name": "s"}).raise_for_status()
        client.post("/api/streams", json={"name": "auth", "session_id": "s"}).raise_for_status()
        yield client


def running(api: TestClient[Any]) -> str:
    task = api.post("/api/tasks", json={"stream_id": "auth", "tool_name": "run-bash", "payload": {}}).json()["task"]
    api.post(f"/api/tasks/{task['id']}/claim", json={}).raise_for_status()
    return str(task["id"])


def test_a_worker_s_failure_in_the_sweep_s_words_is_a_reported_failure_everywhere(
    api: TestClient[Any], tmp_path: Path
) -> None:
    task_id = running(api)
    answer = api.post(f"/api/tasks/{task_id}/fail", json={"error_message": LOOKALIKE, "error_type": "Copycat"})
    assert answer.status_code == 200, answer.text
    expected = {"error": LOOKALIKE, "error_type": "Copycat", "failure_kind": "error", "auto_failed": False}
    for task in (
        answer.json()["task"],
        api.get(f"/api/tasks/{task_id}").json()["task"],
        api.get("/api/tasks", params={"status": "failed"}).json()["tasks"][0],
    ):
        assert {key: task[key] for key in expected} == expected
    assert event_kinds(tmp_path, task_id) == [EventKind.TASK_ENQUEUED, EventKind.TASK_CLAIMED, EventKind.TASK_FAILED]
    # the stats count it among the failed, as any failure (they have no auto-failed count)
    assert sum(hour["failed"] for hour in api.get("/api/stats").json()["finished_per_hour"]) == 1


def test_a_task_the_sweep_fails_is_of_kind_auto_in_task_json_and_in_the_feed(
    api: TestClient[Any], tmp_path: Path
) -> None:
    # claimed an hour ago (by the library, on the same file) with a one-second timeout: long dead
    clock = FakeClock(start=open_queue(tmp_path / "sparkq.db").now() - timedelta(hours=1))
    past = open_queue(tmp_path / "sparkq.db", clock=clock)
    task_id = past.enqueue("auth", "run-bash", {}, timeout=1).id
    past.claim_task(task_id)

    task = api.get(f"/api/tasks/{task_id}").json()["task"]  # a read sweeps first
    assert (task["status"], task["failure_kind"], task["auto_failed"]) == ("failed", "auto", True)
    assert (task["error"], task["error_type"]) == (AUTO_FAIL_MESSAGE.format(timeout=1), None)
    assert event_kinds(tmp_path, task_id)[-1] == EventKind.TASK_AUTO_FAILED


def test_the_error_message_is_stored_as_given_and_a_blank_type_is_none(api: TestClient[Any]) -> None:
    task_id = running(api)
    task = api.post(f"/api/tasks/{task_id}/fail", json={"error_message": "  3 tests fail ", "error_type": " "}).json()
    assert (task["task"]["error"], task["task"]["error_type"]) == ("  3 tests fail ", None)


def test_an_error_type_past_its_limit_is_a_422_that_says_so_and_the_schema_states_the_limit(
    api: TestClient[Any],
) -> None:
    task_id = running(api)
    answer = api.post(
        f"/api/tasks/{task_id}/fail", json={"error_message": "x", "error_type": "T" * (MAX_ERROR_TYPE_CHARS + 1)}
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    assert f"at most {MAX_ERROR_TYPE_CHARS} characters" in error["message"]
    assert api.get(f"/api/tasks/{task_id}").json()["task"]["status"] == "running"

    schemas = api.get("/schema/openapi.json").json()["components"]["schemas"]
    error_type = schemas["TaskFail"]["properties"]["error_type"]
    assert {"type": "string", "maxLength": MAX_ERROR_TYPE_CHARS} in error_type["oneOf"]
    for model in ("TaskOut", "TaskRow"):
        kinds = schemas[model]["properties"]["failure_kind"]["oneOf"]
        assert {"type": "string", "enum": ["error", "auto", "cancelled"]} in kinds


def test_the_openapi_document_lists_every_event_kind(api: TestClient[Any]) -> None:
    described = api.get("/schema/openapi.json").json()["paths"]["/api/events"]["get"]["description"]
    assert all(kind.value in described for kind in EventKind)
