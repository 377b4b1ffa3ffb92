"""`GET /api/events`: one Server-Sent Event per change, made by any process (CLI, library, server)."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sparkq_entry import open_queue
from tests.integration.conftest import TLS, Server

from ..conftest import RunSparkq

WAIT = 15.0  # generous: the feed is polled every 0.2 s; bench/events_latency.py measures the real delay


class EventReader:
    """Reads an SSE stream on a thread; `next_event` returns parsed events in order."""

    def __init__(self, server: Server, headers: dict[str, str] | None = None, params: str = "") -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.opened = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5.0, read=None), verify=TLS)
        self._response = self._client.send(
            self._client.build_request("GET", server.url + "/api/events" + params, headers=headers), stream=True
        )
        assert self._response.status_code == 200
        assert self._response.headers["content-type"].startswith("text/event-stream")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self.opened.wait(WAIT), "the stream sent nothing"

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            for line in self._response.iter_lines():
                if line.startswith(":") or line.startswith("retry:"):
                    self.opened.set()
                    continue
                if not line:
                    if "data" in fields:
                        self.events.put(
                            {**json.loads(fields["data"]), "_id": fields.get("id"), "_event": fields.get("event")}
                        )
                    fields = {}
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.lstrip()
        except httpx.HTTPError:
            pass

    def next_event(self, kind: str | None = None, subject: str | None = None) -> dict[str, Any]:
        """The next event (of `kind`, about `subject`), skipping others."""
        while True:
            event = self.events.get(timeout=WAIT)
            if (kind is None or event["kind"] == kind) and (subject is None or event["id"] == subject):
                return event

    def close(self) -> None:
        self._response.close()
        self._client.close()


@pytest.fixture
def reader(server: Server) -> Iterator[EventReader]:
    events = EventReader(server)
    try:
        yield events
    finally:
        events.close()


def test_cli_changes_arrive_as_events_in_order(server: Server, reader: EventReader, sparkq: RunSparkq) -> None:
    assert sparkq("session", "create", "s").returncode == 0
    session = reader.next_event("session.created")
    assert session["status"] == "active"
    sparkq("stream", "create", "auth", "--session", "s")
    stream = reader.next_event("stream.created")
    task_id = sparkq("enqueue", "run-bash", "{}", "--stream", "auth").stdout.strip()
    enqueued = reader.next_event("task.enqueued", task_id)
    assert (enqueued["stream_id"], enqueued["status"]) == (stream["id"], "queued")
    assert enqueued["_event"] == "task.enqueued" and int(enqueued["_id"]) == enqueued["seq"]
    sparkq("claim", "--stream", "auth")
    assert reader.next_event("task.claimed", task_id)["status"] == "running"
    sparkq("complete", task_id, "--result", '{"summary": "ok"}')
    assert reader.next_event("task.completed", task_id)["status"] == "succeeded"
    clone_id = sparkq("requeue", task_id).stdout.strip()
    assert reader.next_event("task.requeued", clone_id)["status"] == "queued"
    sparkq("stream", "end", "auth")
    assert reader.next_event("stream.ended", stream["id"])["status"] == "ended"
    sparkq("session", "end", "s")
    assert reader.next_event("session.ended", session["id"])["status"] == "ended"


def test_library_and_api_changes_and_auto_fail_arrive_too(server: Server, reader: EventReader) -> None:
    lib = open_queue(server.folder / "sparkq.db")
    lib.create_session("s")
    lib.create_stream("st", "s")
    failing = lib.enqueue("st", "run-bash", {}, timeout=1)
    lib.claim("st")
    reader.next_event("task.claimed", failing.id)
    # the server's own sweep auto-fails it after 2 s; nobody else touches the queue
    assert reader.next_event("task.auto_failed", failing.id)["status"] == "failed"
    with server.client() as api:
        created = api.post("/api/tasks", json={"stream_id": "st", "tool_name": "run-bash", "payload": {}}).json()
        task_id = created["task"]["id"]
        reader.next_event("task.enqueued", task_id)
        api.post(f"/api/tasks/{task_id}/claim").raise_for_status()
        api.post(f"/api/tasks/{task_id}/fail", json={"error_message": "no"}).raise_for_status()
    assert reader.next_event("task.failed", task_id)["status"] == "failed"


def test_a_reconnecting_client_gets_what_it_missed(server: Server, reader: EventReader, sparkq: RunSparkq) -> None:
    sparkq("session", "create", "s")
    last_seen = reader.next_event("session.created")["seq"]
    reader.close()
    sparkq("stream", "create", "auth", "--session", "s")
    sparkq("enqueue", "run-bash", "{}", "--stream", "auth")
    resumed = EventReader(server, headers={"last-event-id": str(last_seen)})
    try:
        assert resumed.next_event()["kind"] == "stream.created"
        assert resumed.next_event()["kind"] == "task.enqueued"
    finally:
        resumed.close()
    by_param = EventReader(server, params=f"?after={last_seen}")
    try:
        assert by_param.next_event()["kind"] == "stream.created"
    finally:
        by_param.close()


def test_the_event_stream_is_behind_the_host_check(server: Server) -> None:
    response = httpx.get(server.url + "/api/events", headers={"host": "evil.example"}, verify=TLS)
    assert response.status_code == 403
