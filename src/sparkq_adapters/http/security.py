"""The local-origin guard: one ASGI middleware around the whole app (API, UI, events, 404s).

Agents execute what is queued, so a web page able to enqueue a task would be remote code
execution. Without authentication, the defence is to accept only what a local client sends:

- `Host` must be `127.0.0.1:PORT`, `localhost:PORT` or `[::1]:PORT` (defeats DNS rebinding);
- a state-changing request (POST, PUT, PATCH, DELETE) must not come from another origin (`Origin` other than ours, or
  `null`, or `Sec-Fetch-Site: cross-site`/`same-site`), and must be `Content-Type:
  application/json`, which a form or a "simple" cross-origin request cannot send (that one is
  checked by the app, where the route is known: `NotJSON`);
- bodies are capped (413: here by Content-Length, in Litestar for streamed bodies), and must
  arrive within `body_timeout_seconds` of the request (408, and the connection is closed): a
  client trickling a byte a minute would otherwise hold a connection, and its handler, forever;
- responses carry a strict CSP and `nosniff`; no CORS headers.

The MCP endpoint (/mcp) sits behind the same guard; as an ASGI endpoint that reads its own body,
it gets the JSON content-type check from `json_posts_only`, and the SDK checks Host and Origin
once more with its own transport-security settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from contextvars import ContextVar
from typing import Any

from litestar.exceptions import HTTPException

from sparkq_domain.limits import quoted

from .errors import error_bytes, too_large_message

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]

#: the methods that could change something: only these must come from our origin and say JSON
STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


#: how long a request body may take to arrive, by default (8 MiB over loopback takes milliseconds)
BODY_TIMEOUT_SECONDS = 30.0


class BodyTimeout(HTTPException):
    """The request body did not arrive in time (408); the connection is closed after the answer."""

    status_code = 408

    def __init__(self, seconds: float) -> None:
        super().__init__(
            detail=f"The request body did not arrive within {seconds:g} seconds; send the whole body at once",
            headers={"Connection": "close"},
        )


def loopback_hosts(port: int) -> frozenset[str]:
    """The `Host` values the server answers to on `port`: its loopback names, nothing a DNS name could rebind."""
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"})


class LocalOnly:
    """Wrap an ASGI app so that it answers only local, same-origin, JSON state changes."""

    def __init__(
        self, app: ASGIApp, *, port: int, max_body_bytes: int, body_timeout_seconds: float = BODY_TIMEOUT_SECONDS
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_seconds = body_timeout_seconds
        self.hosts = loopback_hosts(port)
        self.origins = frozenset(f"http://{host}" for host in self.hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        headers = _headers(scope)
        problem = self.check(scope.get("method", "GET"), headers)
        if problem is not None:
            status, code, message = problem
            await reply_error(send, status, code, message, close=_has_body(headers))  # its body is never read
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, _with_security_headers(send))
            return
        body = _TimedBody(receive, self.body_timeout_seconds, expected=_has_body(headers))
        started = False

        async def send_guarded(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                answer = _secured(message.get("headers", []))
                if not body.complete and all(name.lower() != b"connection" for name, _ in answer):
                    # answered before the body arrived (a route that reads none): close rather than wait for it
                    answer.append((b"connection", b"close"))
                message["headers"] = answer
            await send(message)

        serving = _serving.set(body)
        try:
            await self.app(scope, body.receive, send_guarded)
        except BodyTimeout as exc:
            # the app's error mapping answers it where the body is read; this is for a reader outside it
            if started:
                raise
            await reply_error(send, 408, "request_timeout", exc.detail, close=True)
        finally:
            _serving.reset(serving)
            body.close()

    def check(self, method: str, headers: dict[bytes, bytes]) -> tuple[int, str, str] | None:
        """Return (status, code, message) when the request must be refused, else None."""
        host = headers.get(b"host", b"").decode("latin-1")
        if host not in self.hosts:
            shown = host or "(none)"
            return (
                403,
                "forbidden_host",
                f"Host {quoted(shown)} is not served here; use http://127.0.0.1:PORT/ (or localhost)",
            )
        if method.upper() not in STATE_CHANGING_METHODS:
            return None  # GET/HEAD/OPTIONS, and methods no route takes: the app answers those 405
        origin = headers.get(b"origin")
        if origin is not None and origin.decode("latin-1") not in self.origins:
            return (
                403,
                "forbidden_origin",
                "Cross-origin requests may not change SparkQ; use the CLI, or the UI served by this server",
            )
        if headers.get(b"sec-fetch-site", b"").lower() in (b"cross-site", b"same-site"):
            return 403, "forbidden_origin", "Cross-site requests may not change SparkQ"
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return 400, "bad_request", "Content-Length is not a number"
            if int(length) > self.max_body_bytes:
                return 413, "too_large", self._too_large()
        return None

    def _too_large(self) -> str:
        return too_large_message(self.max_body_bytes)


class NotJSON(HTTPException):
    """A state change that does not say `Content-Type: application/json` (415).

    Refused by the app once the route is known (`bodies.read_body`, before the body is read), so a
    method no route takes is answered 405 first; no handler runs either way.
    """

    status_code = 415
    code = "unsupported_media_type"

    def __init__(self) -> None:
        super().__init__(
            detail="Requests that change SparkQ must send 'Content-Type: application/json' (with a body of {} if empty)"
        )


def json_posts_only(app: ASGIApp) -> ASGIApp:
    """Wrap an ASGI endpoint that reads its own body (/mcp): a POST must say JSON, as for the REST API (415).

    `LocalOnly` has already checked Host, Origin and size; the REST routes get this check from
    the app's body reader, which an ASGI endpoint does not run.
    """

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") == "POST" and not says_json(_headers(scope).get(b"content-type", b"").decode("latin-1")):
            await reply_error(send, 415, NotJSON.code, NotJSON().detail, secured=False)
            return
        await app(scope, receive, send)

    return guarded


def says_json(content_type: str | None) -> bool:
    """Whether a `Content-Type` header value is JSON (parameters such as charset aside)."""
    return (content_type or "").split(";")[0].strip().lower() == "application/json"


def _headers(scope: Scope) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    for name, value in scope.get("headers", []):
        key = name.lower()
        if key == b"host" and key in found:
            found[key] = b"\x00duplicate"  # two Host headers: refuse rather than guess
        else:
            found[key] = value
    return found


def _has_body(headers: dict[bytes, bytes]) -> bool:
    return headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers


class _TimedBody:
    """The app's `receive`, bounded while the request body arrives: all of it within `seconds` of the first read.

    Once the body has arrived, `departure()` watches for the client to go away: from then on one
    task of its own reads `receive` (the app's later reads are answered from it).
    """

    def __init__(self, receive: Receive, seconds: float, *, expected: bool) -> None:
        self._receive = receive
        self._seconds = seconds
        self._deadline: float | None = None
        #: the whole body has arrived (or none was announced)
        self.complete = not expected
        self._departed: asyncio.Future[Message] | None = None

    async def receive(self) -> Message:
        if self.complete:  # then receive() waits for the client to go away (event streams): unbounded
            if self._departed is not None:
                return await asyncio.shield(self._departed)
            return await self._receive()
        if self._deadline is None:
            self._deadline = asyncio.get_running_loop().time() + self._seconds
        try:
            # a timer, not `wait_for`: that wraps every read in a task of its own
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            raise BodyTimeout(self._seconds) from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.complete = True
        return message

    def departure(self) -> asyncio.Future[Message] | None:
        """Done once the client has gone (or the answer is complete); None while the body still arrives."""
        if not self.complete:
            return None  # the app is reading it: a second reader would take its messages
        if self._departed is None:
            self._departed = asyncio.ensure_future(self._until_disconnect())
        return self._departed

    async def _until_disconnect(self) -> Message:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                return message

    def close(self) -> None:
        departed = self._departed
        if departed is not None:
            departed.cancel()
            if departed.done() and not departed.cancelled():
                departed.exception()  # seen: a connection's error at its end is no news


#: the request being served, in its task (and in the tasks it starts: /mcp's tool calls)
_serving: ContextVar[_TimedBody | None] = ContextVar("sparkq_serving", default=None)


def client_departure() -> asyncio.Future[Message] | None:
    """A future that is done once the client of the request being served has gone away.

    A long-poll claim waits on it beside the queue: a client that gave up (a timeout, a killed
    agent) is not handed a task it will never see. None outside a request, or while its body
    still arrives.
    """
    body = _serving.get()
    return None if body is None else body.departure()


def _secured(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Response `headers` without CORS headers, with our security headers."""
    return [*((k, v) for k, v in headers if not k.lower().startswith(b"access-control-")), *SECURITY_HEADERS]


def _with_security_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = _secured(message.get("headers", []))
        await send(message)

    return wrapped


async def reply_error(
    send: Send, status: int, code: str, message: str, *, close: bool = False, secured: bool = True
) -> None:
    """Answer with SparkQ's error shape without running the app (`secured=False` inside it: `LocalOnly` adds them)."""
    body = error_bytes(status, message, code)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(SECURITY_HEADERS if secured else ()),
                *([(b"connection", b"close")] if close else []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
