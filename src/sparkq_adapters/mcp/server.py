"""The tools served with the official MCP SDK (`mcp`, the `sparkq[mcp]` extra): over stdio, and over HTTP.

`sparkq mcp` runs `serve_stdio`; `sparkq run` mounts an `HttpEndpoint` at /mcp, behind the same
local-origin guard as the REST API and with the SDK's own DNS-rebinding protection set to the
same hosts and origins. The SDK's low-level `Server` is used rather than its decorator layer so
that the schemas the client sees are exactly the compact ones in `tools.py`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from sparkq_domain.errors import SparkQError

from ..serialization import dumps
from ..version import version
from ..waiting import POLL_SECONDS, claim_waiting_async, claimer
from .tools import INSTRUCTIONS, ClaimWaiter, Toolbox

if TYPE_CHECKING:
    from sparkq_domain import Claimed, Queue

    from ..waiting import ChangeSignal

log = logging.getLogger("sparkq.mcp")

Scope = Any
Receive = Any
Send = Any


def build_server(toolbox: Toolbox) -> Server[Any]:
    """An SDK `Server` that lists `toolbox`'s tools and answers each call with JSON text, or an error result."""
    listing = types.ListToolsResult(
        tools=[
            types.Tool(
                name=tool.name,
                description=tool.description,
                input_schema=tool.schema(),
                annotations=types.ToolAnnotations(read_only_hint=True) if tool.read_only else None,
            )
            for tool in toolbox.tools.values()
        ]
    )

    async def list_tools(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None) -> Any:
        return listing

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> Any:
        try:
            value = await toolbox.call(params.name, params.arguments)
        except SparkQError as exc:
            return error_result(exc.message)  # the CLI's words, as a tool error the model can read and act on
        except Exception as exc:  # the last line of defence: the agent gets a sentence, the log the traceback
            log.exception("MCP tool %s failed", params.name)
            return error_result(f"unexpected {type(exc).__name__}: {exc}. The server's log has the details")
        text = value if isinstance(value, str) else dumps(value)
        return types.CallToolResult(content=[types.TextContent(text=text)])

    return Server(
        "sparkq", version=version(), instructions=INSTRUCTIONS, on_list_tools=list_tools, on_call_tool=call_tool
    )


def error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


# -- stdio: `sparkq mcp` ------------------------------------------------------------------------------


class PolledChanges:
    """`AsyncChanges` over a change feed: woken by its socket (PostgreSQL's LISTEN), or polling its counter.

    Reading the counter is a cheap, non-blocking look, done on the event loop; so is watching the socket.
    """

    def __init__(
        self,
        data_version: Callable[[], int],
        poll: float | None = None,
        *,
        wake_fd: Callable[[], int | None] | None = None,
    ) -> None:
        self._version = data_version
        self._poll = POLL_SECONDS if poll is None else poll
        self._wake_fd = wake_fd

    def mark(self) -> int:
        return self._version()

    async def wait(self, mark: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self._version() == mark:  # the look drains the socket: the next wait is for something new
            left = deadline - time.monotonic()
            if left <= 0:
                return
            fd = None if self._wake_fd is None else self._wake_fd()
            if fd is not None:
                try:
                    with anyio.move_on_after(left):
                        await anyio.wait_readable(fd)
                    continue
                except (anyio.BusyResourceError, anyio.ClosedResourceError, OSError, ValueError):
                    pass  # another claim already watches it, or it closed meanwhile: poll this once
            await anyio.sleep(min(self._poll, left))


def polled_waiter(queue: Queue, feed: ChangeSignal) -> ClaimWaiter:
    """Blocking claims that see another process's enqueue through the database's change feed."""
    changes = PolledChanges(feed.data_version, wake_fd=feed.wake_fd)

    async def wait_claim(stream: str, seconds: float) -> Claimed | None:
        claim = claimer(queue, stream)
        return await claim_waiting_async(lambda: anyio.to_thread.run_sync(claim), changes, seconds)

    return wait_claim


def serve_stdio(queue: Queue, feed: ChangeSignal, *, default_stream: str | None = None) -> None:
    """Serve the tools over this process's stdin/stdout until the client closes them."""
    server = build_server(Toolbox(queue, polled_waiter(queue, feed), default_stream=default_stream))

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)


# -- streamable HTTP: /mcp on `sparkq run` ------------------------------------------------------------


def local_security(hosts: Iterable[str]) -> TransportSecuritySettings:
    """The SDK's DNS-rebinding protection, allowing the `hosts` the `LocalOnly` guard allows (and their origins)."""
    allowed = sorted(hosts)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=allowed,
        allowed_origins=[f"http://{host}" for host in allowed],
    )


class HttpEndpoint:
    """The /mcp endpoint: the SDK's streamable HTTP transport over the server's queue.

    Stateless, answering in JSON: every POST stands alone, so a restarted `sparkq run` strands
    no client session and the server keeps no per-client state; no tool sends anything but its
    answer. Output files are not read over HTTP (only `sparkq mcp` reads them, as its own user).
    """

    def __init__(self, queue: Queue, wait_claim: ClaimWaiter, *, hosts: Iterable[str], max_body_bytes: int) -> None:
        # the SDK logs every stateless request at INFO ("Terminating session: None"): keep the server log for news
        logging.getLogger("mcp").setLevel(logging.WARNING)
        self.manager = StreamableHTTPSessionManager(
            app=build_server(Toolbox(queue, wait_claim, files=False)),
            json_response=True,
            stateless=True,
            security_settings=local_security(hosts),
            max_request_body_size=max_body_bytes,
        )

    def lifespan(self, _: object = None) -> AbstractAsyncContextManager[None]:
        """The SDK's task group, run inside the Litestar app's lifespan."""
        return self.manager.run()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.manager.handle_request(scope, receive, send)
