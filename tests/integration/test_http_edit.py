"""Editing over HTTP: `PUT /api/streams/{ref}` and `PUT /api/sessions/{ref}`, and the events they make.

In-process: Litestar's test client over the real app on a SQLite file in a tmp folder.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from .http_support import get_scope, local_api

#: an event stream never ends by itself: reading one gives up after this long
BOUND = 20.0


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient[Any]]:
    with local_api(tmp_path) as client:
        client.post("/api/sessions", json={"name": "s"}).raise_for_status()
        client.post("/api/streams", json={"name": "auth", "session_id": "s", "instructions": "v1"}).raise_for_status()
        yield client


def test_the_next_claim_after_a_put_carries_the_new_instructions(api: TestClient[Any]) -> None:
    for n in range(2):
        api.post("/api/tasks", json={"stream_id": "auth", "tool_name": "run-bash", "payload": {"n": n}})
    first = api.post("/api/streams/auth/claim", json={}).json()
    assert first["stream"]["instructions"] == "v1"

    answer = api.put("/api/streams/auth", json={"instructions": "v2: use OAuth"})
    assert answer.status_code == 200, answer.text
    stream = answer.json()["stream"]
    assert (stream["name"], stream["instructions"]) == ("auth", "v2: use OAuth")
    assert stream["task_counts"]["running"] == 1 and stream["task_counts"]["queued"] == 1
    second = api.post("/api/streams/auth/claim", json={}).json()
    assert second["payload"] == {"n": 1} and second["stream"]["instructions"] == "v2: use OAuth"
    # the task detail shows the stream's instructions as they are now
    assert api.get(f"/api/tasks/{first['id']}").json()["task"]["stream"]["instructions"] == "v2: use OAuth"


def test_a_put_on_an_ended_stream_is_a_409_that_says_why_and_changes_nothing(api: TestClient[Any]) -> None:
    api.put("/api/streams/auth/end", json={}).raise_for_status()
    answer = api.put("/api/streams/auth", json={"instructions": "too late"})
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "stream_ended"
    assert error["message"].startswith("Stream 'auth' has ended") and "no worker will claim from it" in error["message"]
    assert api.get("/api/streams/auth").json()["stream"]["instructions"] == "v1"
    # and the OpenAPI document says the route can answer it
    put = api.get("/schema/openapi.json").json()["paths"]["/api/streams/{stream_ref}"]["put"]
    assert "409" in put["responses"]


def test_an_ended_session_s_description_can_still_be_changed(api: TestClient[Any]) -> None:
    api.put("/api/sessions/s/end", json={}).raise_for_status()
    answer = api.put("/api/sessions/s", json={"description": "Shipped in 2.1"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["session"]["description"] == "Shipped in 2.1"
    assert answer.json()["session"]["status"] == "ended"


def events_after(api: TestClient[Any], after: int, wanted: set[str]) -> list[dict[str, Any]]:
    """The events after `after`, read from `GET /api/events` until one of each kind in `wanted` is in.

    The stream is requested from the app directly, on the test client's own event loop (where the
    app's event hub runs): the test client would wait for the end of a response that never ends.
    """
    scope = get_scope("/api/events", f"after={after}")
    seen: list[dict[str, Any]] = []

    async def read() -> None:
        done = asyncio.Event()
        buffer = b""

        async def receive() -> dict[str, Any]:
            await done.wait()  # the client stays until the test has what it wants
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal buffer
            if message["type"] != "http.response.body":
                return
            buffer += message.get("body", b"").replace(b"\r\n", b"\n")  # Litestar ends lines with CRLF
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                for line in block.decode().splitlines():
                    if line.startswith("data:"):
                        seen.append(json.loads(line[5:]))
            if wanted <= {e["kind"] for e in seen}:
                done.set()

        call = asyncio.create_task(api.app(scope, receive, send))
        try:
            await asyncio.wait_for(done.wait(), timeout=BOUND)
        finally:
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)

    api.blocking_portal.call(read)
    return seen


def test_the_event_feed_announces_each_edit_with_its_kind_and_subject(api: TestClient[Any]) -> None:
    stream = api.get("/api/streams/auth").json()["stream"]
    session = api.get("/api/sessions/s").json()["session"]
    newest = max(e["seq"] for e in events_after(api, 0, {"session.created", "stream.created"}))

    api.put("/api/streams/auth", json={"instructions": "v2"}).raise_for_status()
    api.put("/api/sessions/s", json={"description": "about auth"}).raise_for_status()

    events = events_after(api, newest, {"stream.updated", "session.updated"})
    assert [(e["kind"], e["id"], e["status"]) for e in events] == [
        ("stream.updated", stream["id"], "active"),
        ("session.updated", session["id"], "active"),
    ]
    assert events[0]["stream_id"] == stream["id"]
