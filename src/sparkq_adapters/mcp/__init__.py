"""The MCP server: SparkQ's worker protocol as eight tools for agents (`sparkq mcp`, and `/mcp` on the server).

`tools` holds the tools (their descriptions, schemas and calls into `Queue`) and imports no SDK;
`server` wraps them in the official `mcp` SDK (the `sparkq[mcp]` extra), imported only by the
commands that serve them.
"""

from __future__ import annotations

from sparkq_domain.errors import SparkQError

#: how to install what the MCP server needs
INSTALL = "pip install 'sparkq[mcp]'"


class SdkMissing(SparkQError):
    """The MCP SDK is not installed."""


def sdk_missing(exc: ImportError, what: str) -> SdkMissing:
    """The error for `what` (e.g. "`sparkq mcp`") when importing the SDK raised `exc`: one line naming the extra."""
    return SdkMissing(f"{what} needs the MCP SDK, which is not installed ({exc.name or 'mcp'} is missing): {INSTALL}")
