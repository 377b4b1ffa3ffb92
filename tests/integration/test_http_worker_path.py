"""The worker protocol's requests run in their own task: none spawns another task on the event loop.

A task per request was the largest cost left around `Queue.claim` (bench/http_api.py): the body
read wrapped in `asyncio.wait_for` (a task per read) and a claim's two dependencies, which
Litestar resolves in an anyio task group. The app `sparkq run` builds is called here as uvicorn
calls it (one ASGI call per request, over a real SQLite file), with a task factory that records
every task created meanwhile.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from sparkq_adapters import config
from sparkq_entry.asgi import build_app

PORT = 8420


class Answer:
    def __init__(self, status: int, headers: dict[bytes, bytes], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


async def call(app: Any, method: str, path: str, body: dict[str, Any] | None = None) -> Answer:
    """One request, as uvicorn hands it to the app: the whole body already received."""
    raw = b"" if body is None else json.dumps(body).encode()
    headers = [(b"host", f"127.0.0.1:{PORT}".encode())]
    if method == "POST":
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", PORT),
        "state": {},
    }
    messages = [{"type": "http.request", "body": raw, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        assert messages, "the app read past the body"
        return messages.pop()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start, *bodies = sent
    return Answer(start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in bodies))


def test_enqueue_claim_report_peek_and_read_create_no_task_of_their_own(tmp_path: Path) -> None:
    app = build_app(config.defaults(tmp_path), PORT)

    async def main() -> list[str]:
        assert (await call(app, "POST", "/api/sessions", {"name": "s"})).status == 201
        assert (await call(app, "POST", "/api/streams", {"name": "st", "session_id": "s"})).status == 201
        created: list[str] = []

        def record(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any) -> asyncio.Task[Any]:
            created.append(getattr(coro, "__qualname__", repr(coro)))
            return asyncio.Task(coro, loop=loop, **kwargs)

        asyncio.get_running_loop().set_task_factory(record)
        task = {"stream_id": "st", "tool_name": "run-bash", "payload": {"script": "a.sh"}}
        enqueued = await call(app, "POST", "/api/tasks", task)
        assert enqueued.status == 201, enqueued.body
        peeked = await call(app, "GET", "/api/streams/st/peek")
        assert peeked.status == 200 and peeked.json()["id"] == enqueued.json()["task"]["id"]
        claimed = await call(app, "POST", "/api/streams/st/claim", {})
        assert claimed.status == 200 and claimed.json()["stream"]["name"] == "st"
        done = await call(app, "POST", f"/api/tasks/{claimed.json()['id']}/complete", {"result": {"summary": "ok"}})
        assert done.status == 200 and done.json()["task"]["status"] == "succeeded"
        assert (await call(app, "POST", "/api/tasks", task)).status == 201
        second = (await call(app, "POST", "/api/streams/st/claim", {})).json()["id"]
        failed = await call(app, "POST", f"/api/tasks/{second}/fail", {"error_message": "no"})
        assert failed.status == 200 and failed.json()["task"]["status"] == "failed"
        assert (await call(app, "GET", f"/api/tasks/{second}")).json()["task"]["stream"]["name"] == "st"
        assert (await call(app, "GET", "/api/tasks?limit=50")).json()["total"] == 2
        none_left = await call(app, "POST", "/api/streams/st/claim", {})
        assert (none_left.status, none_left.body) == (204, b"")
        # the answers say what they are, as Litestar's own responses do; a 204 says nothing of a body
        assert enqueued.headers[b"content-type"] == b"application/json"
        assert enqueued.headers[b"content-length"] == str(len(enqueued.body)).encode()
        assert b"content-type" not in none_left.headers and b"content-length" not in none_left.headers
        assert none_left.headers[b"x-content-type-options"] == b"nosniff"  # the guard's headers on every answer
        asyncio.get_running_loop().set_task_factory(None)
        return created

    assert asyncio.run(main()) == []
