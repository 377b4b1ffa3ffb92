"""`sparkq status`: is the server up, what is active, how much work is waiting."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from cyclopts import Parameter

from sparkq_domain.overview import active_work

from ..local_api import healthy, server_url
from ..process import lock_holder
from ..serialization import counts_to_dict, session_to_dict, stream_counts_to_dict
from . import output
from .injected import Ctx


def status(
    *,
    json: Annotated[bool, Parameter(help="Print JSON instead of text.", show_default=False)] = False,
    ctx: Ctx,
) -> None:
    """Show whether the server runs, the active sessions and streams, and task counts per status.

    The first line is one of `SparkQ server: running (PID X, URL)`,
    `SparkQ server: running but API unreachable (PID X)` or `SparkQ server: not running`.
    When sparkq.yml does not load, that line is still shown (the server is looked for
    beside the database the file names), then the config error.

        Examples:
          sparkq status
          sparkq status --json | jq .task_counts.queued
    """
    lock, ignored = ctx.server_lock()
    if ignored is not None:
        from ..config import ConfigError, ServerConfig

        default = ServerConfig()
        server = server_state(lock, default.host, default.port)
        if not json:
            output.emit(server_line(server))
        stop_hint = "`sparkq stop` still stops it" if server["pid"] is not None else "no server holds " + str(lock)
        raise ConfigError(f"{ignored.message}\n(the server was looked for at {lock}: {stop_hint})")
    settings = ctx.settings()
    server = server_state(lock, settings.file.server.host, settings.file.server.port)
    if not json:
        # said before the database is opened, so a broken database does not hide the server's state
        output.emit(server_line(server))
    queue = ctx.queue()
    work = active_work(queue)
    if json:
        output.print_json(
            {
                "server": server,
                "database": settings.database_name,
                "sessions": [session_to_dict(s) for s in work.sessions],
                "streams": [stream_counts_to_dict(s) for s in work.streams],
                "task_counts": counts_to_dict(work.counts),
                "stale": work.stale,
            }
        )
        return
    lines = output.status_report(
        settings.database_name, work, width=output.terminal_width(), color=output.color_enabled()
    )
    output.print_lines(lines)


def server_state(lock_path: Path, host: str, port: int) -> dict[str, Any]:
    """`{"state": "running" | "unreachable" | "not running", "pid", "url"}` from the lockfile and /api/health."""
    from ..server import running_port

    pid = lock_holder(lock_path)
    if pid is None:
        return {"state": "not running", "pid": None, "url": None}
    port = running_port(lock_path) or port  # `sparkq run --port N` records the port it really uses
    url = server_url(host, port)
    state = "running" if healthy(url) else "unreachable"
    return {"state": state, "pid": pid, "url": url}


def server_line(server: dict[str, Any]) -> str:
    if server["state"] == "running":
        return f"SparkQ server: running (PID {server['pid']}, {server['url']})"
    if server["state"] == "unreachable":
        return f"SparkQ server: running but API unreachable (PID {server['pid']})"
    return "SparkQ server: not running"
