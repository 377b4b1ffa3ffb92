"""`sparkq mcp`: the MCP server over stdio, for agents that speak the Model Context Protocol."""

from __future__ import annotations

from typing import Annotated

from cyclopts import Parameter

from .injected import Ctx


def mcp(
    *,
    stream: Annotated[
        str | None, Parameter(help="The default stream of claim and enqueue (a call may still name another).")
    ] = None,
    ctx: Ctx,
) -> None:
    """Serve SparkQ's worker protocol to an AI agent as MCP tools, over stdin/stdout.

    The agent's MCP client starts this command itself; it serves until the client
    closes the connection. Eight tools: streams, claim (optionally waiting), complete,
    fail, heartbeat, enqueue, tasks and task, each the same call as the CLI command.
    Needs the MCP SDK: pip install 'sparkq[mcp]'.

        Examples:
          claude mcp add sparkq -- sparkq mcp --stream auth
          sparkq mcp --config /path/to/project/sparkq.yml
    """
    try:
        from ..mcp.server import serve_stdio
    except ImportError as exc:
        from ..mcp import sdk_missing

        raise sdk_missing(exc, "`sparkq mcp`") from None
    # opened before serving: a broken sparkq.yml or database is one line on stderr, not a failed handshake
    queue = ctx.queue()
    serve_stdio(queue, ctx.change_feed(), default_stream=stream)
