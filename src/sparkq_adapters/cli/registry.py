"""`sparkq tools`, `sparkq scripts`, `sparkq reload`: the tool registry and the script index."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import Parameter

from sparkq_domain.errors import SparkQError

from .. import serialization
from ..serialization import dumps
from . import output
from .injected import Ctx

if TYPE_CHECKING:
    from ..config import Settings
    from ..scripts import ScriptIndex

JsonFlag = Annotated[bool, Parameter(help="Print a JSON array of objects instead of a table.", show_default=False)]

TOOL_COLUMNS = (
    output.Column("NAME", flex=True, max_width=24),
    output.Column("CLASS"),
    output.Column("TIMEOUT", align=">"),
    output.Column("DESCRIPTION", flex=True, min_width=11),
)
SCRIPT_COLUMNS = (
    output.Column("NAME", flex=True, max_width=24),
    output.Column("PATH", flex=True, max_width=36),
    output.Column("DESCRIPTION", flex=True, min_width=11),
)


def tools(*, json: JsonFlag = False, ctx: Ctx) -> int:
    """List the tools a task can be queued for, with each tool's class and timeout.

    The timeout shown is the one a task gets when `sparkq enqueue` has no --timeout:
    the tool's own timeout, else its task class's. Tools come from `tools:` in sparkq.yml,
    or the built-in ones without a config.

        Examples:
          sparkq tools
          sparkq tools --json | jq -r '.[].name'
    """
    items = tool_dicts(ctx.settings())
    if json:
        output.print_json(items)
        return 0
    if not items:
        output.emit("No tools configured. Add some under `tools:` in sparkq.yml.")
        return 0
    width = output.terminal_width()
    rows = [[t["name"], t["task_class"], f"{t['timeout']}s", t["description"]] for t in items]
    lines = output.table(TOOL_COLUMNS, rows, width=width, color=output.color_enabled())
    # templates are shown under their row: a JSON object does not fit a column at 80 columns
    body = [lines[0]]
    for line, item in zip(lines[1:], items, strict=True):
        body.append(line)
        if item["payload_template"] is not None:
            template = output.clean_line(dumps(item["payload_template"]))
            body.append(output.truncate(f"    payload template: {template}", width))
    output.emit(*body)
    return 0


def tool_dicts(settings: Settings) -> list[dict[str, Any]]:
    """The registry as JSON objects, in the order of sparkq.yml."""
    return serialization.tool_dicts(settings.registry())


def scripts(*, json: JsonFlag = False, ctx: Ctx) -> int:
    """List the scripts found in the script folders (`script_dirs:` in sparkq.yml).

    A script describes itself in its top comment block:

          #!/usr/bin/env bash
          # name: build-docs
          # description: Build the HTML docs into site/
          # inputs: none
          # outputs: site/index.html
          # tags: docs, build

    Scripts without such a header are listed under their file name. Paths are relative to
    the project folder, ready for a payload such as {"script": "scripts/build.sh"}.
    Folders or files that cannot be read are reported as warnings on stderr.

        Examples:
          sparkq scripts
          sparkq scripts --json | jq -r '.[].path'
    """
    from ..scripts import build_index_for

    settings = ctx.settings()
    index = build_index_for(settings)
    _warn(index)
    if json:
        output.print_json(index.to_list())
        return 0
    if not index.scripts:
        if settings.file.script_dirs:
            output.emit(f"No scripts found in {', '.join(settings.file.script_dirs)}.")
        else:
            output.emit("No script folders configured. List them under `script_dirs:` in sparkq.yml.")
        return 0
    width = output.terminal_width()
    rows = [[s.name, s.path, s.description or "(no header)"] for s in index.scripts]
    lines = output.table(SCRIPT_COLUMNS, rows, width=width, color=output.color_enabled())
    body = [lines[0]]
    for line, script in zip(lines[1:], index.scripts, strict=True):
        body.append(line)
        details = [
            f"{label}: {value}"
            for label, value in (
                ("inputs", script.inputs),
                ("outputs", script.outputs),
                ("tags", ", ".join(script.tags)),
            )
            if value
        ]
        if details:
            text = output.clean_line(" · ".join(details))
            body += textwrap.wrap(text, width=width, initial_indent="    ", subsequent_indent="    ")
    output.emit(*body)
    return 0


def reload(*, ctx: Ctx) -> int:
    """Re-read sparkq.yml and rebuild the script index, checking both.

    Prints how many tools and scripts the file now gives. A mistake in the file is
    reported with the key (or the line and column) to fix; nothing is changed then.

        Examples:
          sparkq reload
          sparkq --config ~/work/app/sparkq.yml reload
    """
    from .. import config

    settings, index = config.reload(ctx.config_path)
    path = settings.source
    assert path is not None  # reload reads a file, never the built-in defaults
    _warn(index)
    n_tools, n_scripts = len(settings.file.tools), len(index.scripts)
    output.emit(f"Reloaded {path.name}: {output.plural(n_tools, 'tool')}, {output.plural(n_scripts, 'script')}")
    return _reload_server(settings, index)


def _reload_server(settings: Settings, index: ScriptIndex) -> int:
    """Tell a running server to reload too (it serves the tools and scripts to the UI)."""
    from ..local_api import post_json
    from .status import server_state

    server = server_state(settings.lock_path, settings.file.server.host, settings.file.server.port)
    if server["state"] == "not running":
        return 0
    if server["state"] == "unreachable":
        output.emit_error(
            f"Warning: the server (PID {server['pid']}) did not answer; it keeps its old tools until restarted"
        )
        return 0
    try:
        status, body = post_json(server["url"], "/api/reload", {})
    except OSError as exc:
        raise ServerUnreachable(f"the server at {server['url']} did not take the reload: {exc}") from None
    if status != 200:
        message = body.get("error", {}).get("message", f"HTTP {status}")
        raise ServerUnreachable(f"the server at {server['url']} refused the reload: {message}")
    output.emit(
        f"Server reloaded (PID {server['pid']}): {output.plural(body.get('tools', 0), 'tool')}, "
        f"{output.plural(body.get('scripts', 0), 'script')}"
    )
    # what only the server sees: a file other than ours, a database it cannot switch to while running
    read = body.get("config")
    if read is not None and settings.source is not None and Path(read) != settings.source:
        output.emit_error(
            f"Warning: the server read {read}, not {settings.source}; restart it with this file to use it"
        )
    output.emit_error(*(f"Warning: {w}" for w in body.get("warnings", []) if w not in index.warnings))
    return 0


class ServerUnreachable(SparkQError):
    """The running server could not be told about the change."""


def _warn(index: ScriptIndex) -> None:
    output.emit_error(*(f"Warning: {w}" for w in index.warnings))
