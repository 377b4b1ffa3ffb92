"""The MCP SDK's own client, driven from synchronous tests: connected once, its calls made through a portal.

`McpClient(server)` starts an event loop in a thread (anyio's blocking portal), connects the
SDK's `Client` there (to `sparkq mcp` over stdio, or to a URL over streamable HTTP) and keeps it
connected until `close()`, so a module's tests share one server process.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import Future
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult

from tests.conftest import SPARKQ, _clean_env, run_in_process

#: what the tools are called, in the order `tools/list` gives them
TOOL_NAMES = ["streams", "claim", "complete", "fail", "heartbeat", "enqueue", "tasks", "task"]


def stdio_server(folder: Path, *args: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    """`sparkq mcp ARGS` run by the client as its subprocess, in `folder` (the real console script)."""
    return StdioServerParameters(command=SPARKQ, args=["mcp", *args], cwd=str(folder), env=_clean_env(env))


class McpClient:
    """One connected SDK client (`mode="legacy"`: the initialize handshake today's agents use)."""

    def __init__(self, server: StdioServerParameters | str, *, mode: str = "legacy") -> None:
        self._portal_cm: AbstractContextManager[BlockingPortal] = start_blocking_portal()
        self.portal = self._portal_cm.__enter__()
        try:
            self._client_cm = self.portal.wrap_async_context_manager(Client(server, mode=mode))
            self.client: Client = self._client_cm.__enter__()
        except BaseException:
            self._portal_cm.__exit__(*sys.exc_info())
            raise

    def list_tools(self) -> Any:
        return self.portal.call(lambda: self.client.list_tools(cache_mode="refresh"))

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> CallToolResult:
        return self.portal.call(self.client.call_tool, name, arguments)

    def start(self, name: str, arguments: dict[str, Any]) -> Future[CallToolResult]:
        """Call a tool without waiting for its answer (a blocking claim): the future of its result."""
        return self.portal.start_task_soon(self.client.call_tool, name, arguments)

    def ok(self, name: str, **arguments: Any) -> Any:
        """The answer of a call that must succeed: its JSON, or its sentence."""
        return answer(self.call(name, arguments))

    def refused(self, name: str, **arguments: Any) -> str:
        """The words of a call that must be refused as a tool error."""
        return refusal(self.call(name, arguments))

    def close(self) -> None:
        try:
            self._client_cm.__exit__(None, None, None)
        finally:
            self._portal_cm.__exit__(None, None, None)


def text_of(result: CallToolResult) -> str:
    [content] = result.content
    assert content.type == "text"
    return content.text


def answer(result: CallToolResult) -> Any:
    text = text_of(result)
    assert not result.is_error, text
    try:
        return json.loads(text)
    except ValueError:
        return text  # a sentence ("No task was queued …")


def refusal(result: CallToolResult) -> str:
    text = text_of(result)
    assert result.is_error, f"expected a tool error, got: {text}"
    assert "Traceback" not in text
    return text


def tools_list_json(listing: Any) -> str:
    """The `tools/list` result as it travels: compact JSON, by its wire names."""
    return json.dumps(listing.model_dump(by_alias=True, mode="json", exclude_none=True), separators=(",", ":"))


def listed_tools(mcp: McpClient, over: str) -> Any:
    """`tools/list` of `mcp`: the eight tools, in under 8 KB of JSON (its size printed; `over`: the transport)."""
    listing = mcp.list_tools()
    size = len(tools_list_json(listing).encode())
    print(f"\ntools/list over {over}: {len(listing.tools)} tools, {size:,} bytes of JSON")
    assert [t.name for t in listing.tools] == TOOL_NAMES
    assert size < 8 * 1024
    return listing


def cli_error(folder: Path, *args: str) -> str:
    """What `sparkq ARGS` (run in this process, in `folder`) says after `Error: `; it must fail."""
    result = run_in_process(args, cwd=folder)
    assert result.returncode != 0, result.stdout
    assert result.stderr.startswith("Error: "), result.stderr
    return result.stderr.removeprefix("Error: ").strip()
