"""The guard's watch for a client that went away (`security.client_departure`), at the ASGI level.

A long-poll claim waits on it (tests/integration/test_watch_cli.py and test_mcp_http.py show the
claims over real sockets); here, what the watch itself promises: nothing while the body still
arrives, the client's `http.disconnect` once it has, the app's own later reads still answered, and
no task left behind when the answer is sent first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sparkq_adapters.http.security import LocalOnly, client_departure

PORT = 8420
SCOPE = {
    "type": "http",
    "method": "POST",
    "path": "/api/streams/a/claim",
    "query_string": b"wait=30",
    "headers": [(b"host", b"127.0.0.1:8420"), (b"content-type", b"application/json"), (b"content-length", b"2")],
}


class Client:
    """The server side of one connection: the body, then `http.disconnect` once `leave()` is called."""

    def __init__(self) -> None:
        self.left = asyncio.Event()
        self.reads = 0

    async def receive(self) -> dict[str, Any]:
        self.reads += 1
        if self.reads == 1:
            return {"type": "http.request", "body": b"{}", "more_body": False}
        await self.left.wait()
        return {"type": "http.disconnect"}

    def leave(self) -> None:
        self.left.set()


async def _sent(message: dict[str, Any]) -> None:
    pass


def test_the_departure_is_watched_once_the_body_has_arrived_and_the_app_still_reads_the_disconnect() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen["before the body"] = client_departure()
        assert (await receive())["body"] == b"{}"
        departure = client_departure()
        assert departure is not None and departure is client_departure()  # one watch per request
        seen["gone before leaving"] = departure.done()
        client.leave()
        await asyncio.wait_for(asyncio.shield(departure), 10)
        seen["then"] = (await receive())["type"]  # the app's own read, answered by the watch

    client = Client()
    asyncio.run(LocalOnly(app, port=PORT, max_body_bytes=1024)(SCOPE, client.receive, _sent))
    assert seen == {"before the body": None, "gone before leaving": False, "then": "http.disconnect"}
    assert client.reads == 2  # the connection was read by the watch alone, once
    assert client_departure() is None  # outside a request


def test_an_answer_sent_before_the_client_leaves_stops_the_watch() -> None:
    watched: list[asyncio.Future[Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        departure = client_departure()
        assert departure is not None
        watched.append(departure)

    async def serve() -> None:
        await LocalOnly(app, port=PORT, max_body_bytes=1024)(SCOPE, Client().receive, _sent)
        await asyncio.sleep(0)
        assert watched[0].cancelled()  # no task outlives its request

    asyncio.run(serve())
