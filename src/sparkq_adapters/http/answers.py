"""`Answer`: what the worker protocol's routes return, JSON encoded once and sent as it is.

A route that returns a dict has Litestar build a `Response`, then an ASGI response with a mutable
header collection, encoding the dict on the way; for the routes a worker calls in a loop that was
a tenth of a request. An `Answer` is the encoded body and the status: Litestar passes it through
as the ASGI app that answers. The OpenAPI document describes each answer by the typed model in
its route's `responses` (contract.answers), as for any route that builds its JSON itself.
"""

from __future__ import annotations

from typing import Any

from litestar.serialization import encode_json
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from .security import Receive, Scope, Send

JSON = b"application/json"


class Answer:
    """An ASGI response: `content` as JSON (Litestar's encoder), or no body at all for 204."""

    __slots__ = ("body", "status")

    def __init__(self, content: Any, status: int = HTTP_200_OK) -> None:
        self.status = status
        self.body = b"" if status == HTTP_204_NO_CONTENT else encode_json(content)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # a 204 says nothing about a body it does not have, as Litestar's own responses do
        headers = (
            []
            if self.status == HTTP_204_NO_CONTENT
            else [(b"content-type", JSON), (b"content-length", b"%d" % len(self.body))]
        )
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


#: the answer of a peek or claim that finds no task
NO_TASK = Answer(None, HTTP_204_NO_CONTENT)
