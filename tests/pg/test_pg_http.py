"""The server's app on PostgreSQL, in this process (Litestar's test client): the worker cycle, long polls, events."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from sparkq_adapters import config
from sparkq_entry.asgi import build_app

PORT = 8420


@pytest.fixture
def api(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:  # type: ignore[type-arg]
    monkeypatch.setenv(config.DATABASE_URL_ENV, pg_url)
    app = build_app(config.defaults(tmp_path), PORT)
    with TestClient(app, base_url=f"http://127.0.0.1:{PORT}") as client:
        client.headers["content-type"] = "application/json"
        yield client


def _stream(api: TestClient) -> dict[str, Any]:  # type: ignore[type-arg]
    api.post("/api/sessions", json={"name": "api-v2"}).raise_for_status()
    created = api.post("/api/streams", json={"name": "auth", "session_id": "api-v2", "instructions": "Add login"})
    assert created.status_code == 201, created.text
    return dict(created.json()["stream"])


def _enqueue(api: TestClient, n: int) -> str:  # type: ignore[type-arg]
    body = {"stream_id": "auth", "tool_name": "run-bash", "payload": {"n": n}}
    response = api.post("/api/tasks", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["task"]["id"])


def test_enqueue_claim_complete_through_the_api_on_postgresql(api: TestClient) -> None:  # type: ignore[type-arg]
    stream = _stream(api)
    first, second = _enqueue(api, 1), _enqueue(api, 2)
    claimed = api.post("/api/streams/auth/claim").json()
    assert (claimed["id"], claimed["status"], claimed["attempts"]) == (first, "running", 1)
    assert claimed["stream"] == {"id": stream["id"], "name": "auth", "instructions": "Add login"}
    done = api.post(f"/api/tasks/{first}/complete", json={"result": {"summary": "done"}}).json()["task"]
    assert (done["status"], done["result"]) == ("succeeded", {"summary": "done"})
    again = api.post(f"/api/tasks/{first}/complete", json={"result": {"summary": "again"}})
    assert again.status_code == 409 and "it is succeeded" in again.json()["error"]["message"]
    assert api.post("/api/streams/auth/claim").json()["id"] == second
    assert api.post("/api/streams/auth/claim").status_code == 204
    counts = {s["name"]: s for s in api.get("/api/streams").json()["streams"]}["auth"]
    assert counts["task_counts"]["succeeded"] == 1 and counts["task_counts"]["running"] == 1


def test_a_long_poll_claim_wakes_when_a_task_is_enqueued(api: TestClient) -> None:  # type: ignore[type-arg]
    _stream(api)
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(api.post("/api/streams/auth/claim", params={"wait": 30})))
    waiter.start()
    task = _enqueue(api, 1)
    waiter.join(timeout=60)
    assert not waiter.is_alive()
    assert got[0].status_code == 200 and got[0].json()["id"] == task
