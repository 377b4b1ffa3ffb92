"""`BoundedHeadProtocol`: the HTTP protocol `sparkq run` serves with (uvicorn's httptools one, bounded)."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .errors import error_bytes
from .security import SECURITY_HEADERS


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with each request's head bounded in time (408, then the connection closes).

    uvicorn closes a keep-alive connection after `timeout_keep_alive` seconds without a byte, but a
    new connection gets no such clock, and any byte stops it: a client that sent nothing, or a
    header line a minute, held its connection forever. Here the whole head must arrive within that
    time of the connection's opening or of the previous answer. The body has a deadline of its own
    (`http.security`); a request being answered (a long-poll claim, an event stream) has none.
    """

    _head_deadline: asyncio.TimerHandle | None = None
    #: a request's head has begun to arrive and is not complete
    _in_head = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_waiting()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_head()

    def _await_head(self) -> None:
        self._stop_waiting()
        self._head_deadline = self.loop.call_later(self.timeout_keep_alive, self._head_overdue)

    def _stop_waiting(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_overdue(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing():
            return
        if self._in_head:
            message = (
                f"The request's headers did not arrive within {self.timeout_keep_alive:g} seconds; "
                "send the request line and all headers at once"
            )
            body = error_bytes(408, message, "request_timeout")
            head = [
                b"HTTP/1.1 408 Request Timeout",
                *(name + b": " + value for name, value in self.server_state.default_headers),
                b"content-type: application/json",
                b"content-length: %d" % len(body),
                *(name + b": " + value for name, value in SECURITY_HEADERS),
                b"connection: close",
            ]
            self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
            self.transport.close()
        elif self.cycle is None or self.cycle.response_complete:
            self.transport.close()  # idle: no request began
