"""The Cyclopts app, built by `build_cli`. It imports only cyclopts: each command module is imported when it runs.

That keeps `sparkq complete` from paying for the HTTP server, YAML or cattrs on every call.
`sparkq --help` lists each command with the summary given here, so listing imports none of
them either; a command's own `--help` page is its whole docstring. Each summary is the first
line of that docstring: `tests/integration/test_cli_app.py` checks they agree, and resolves
every import string so a typo fails in CI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import App, Parameter
from cyclopts.command_spec import CommandSpec

if TYPE_CHECKING:
    from .common import Context

HELP = """SparkQ: a local task queue. Queue work, walk away, review results later.

Workers claim tasks from a stream, do the work, and report a result or an error.
Global option: --config PATH (or $SPARKQ_CONFIG; default ./sparkq.yml, else built-in defaults).

Examples:
  sparkq session create api-v2
  sparkq stream create auth --session api-v2 -i "Add login; done when tests pass"
  sparkq enqueue run-bash '{"script": "scripts/test.sh"}' --stream auth
  sparkq claim --stream auth
"""


def _version() -> str:
    """SparkQ's version (`sparkq --version`), from the package metadata, looked up only when asked."""
    from ..version import version

    return version()


_C = "sparkq_adapters.cli."


class _Lazy(CommandSpec):
    """A command imported when it runs: listed by its summary, its own help page the whole docstring."""

    def resolve(self, parent_app: App) -> App:
        first = not self.is_resolved
        resolved = super().resolve(parent_app)
        if first:
            # Cyclopts puts the registration's help (our summary) over the docstring; the page wants it all
            resolved.help = None
        return resolved


def _command(parent: App, name: str, target: str, summary: str) -> None:
    """Register `sparkq_adapters.cli.<target>` as `name`, imported only when it runs."""
    if name in parent:
        raise ValueError(f"Command {name!r} is registered twice")
    # what App.command(import_string, name=..., help=...) stores, with the page keeping the docstring
    parent._commands[name] = _Lazy(import_path=_C + target, name=name, help=summary)


def build_cli(open_context: Callable[[str | None], Context]) -> App:
    """Build the `sparkq` app; its meta app takes the global `--config` and hands each command its `Context`."""
    # Flags are plain switches (`--json`), without generated `--no-json` twins.
    app = App(name="sparkq", help=HELP, version=_version, default_parameter=Parameter(negative=()))

    # the server
    _command(app, "run", "server:run", "Start the SparkQ server (API and web UI) on 127.0.0.1 in the foreground.")
    _command(app, "stop", "server:stop", "Stop the server and every watcher (SIGTERM, then SIGKILL after 5 s).")

    # set-up and configuration
    _command(app, "setup", "setup:setup", "Set SparkQ up for this project: write sparkq.yml and create the database.")
    _command(
        app,
        "status",
        "status:status",
        "Show whether the server runs, the active sessions and streams, and task counts per status.",
    )
    _command(
        app,
        "migrate",
        "migrate:migrate",
        "Copy this project's database into an empty database: SQLite to PostgreSQL, or back.",
    )
    _command(app, "reload", "registry:reload", "Re-read sparkq.yml and rebuild the script index, checking both.")
    _command(
        app, "tools", "registry:tools", "List the tools a task can be queued for, with each tool's class and timeout."
    )
    _command(
        app,
        "scripts",
        "registry:scripts",
        "List the scripts found in the script folders (`script_dirs:` in sparkq.yml).",
    )

    # sessions and streams
    session = App(name="session", help="Create, list, edit and end sessions (bounded periods of work).")
    _command(
        session, "create", "sessions:session_create", "Start a session: a bounded period of work that holds streams."
    )
    _command(session, "list", "sessions:session_list", "List sessions, oldest first, with how many streams each holds.")
    _command(session, "end", "sessions:session_end", "End a session and every active stream in it.")
    _command(session, "edit", "sessions:session_edit", "Replace a session's description (an ended session's too).")
    app.command(session)

    stream = App(name="stream", help="Create, list, edit and end streams (feature lanes with instructions).")
    _command(stream, "create", "sessions:stream_create", "Create a stream (a feature lane) in a session.")
    _command(
        stream, "list", "sessions:stream_list", "List streams with their session, status, task counts and instructions."
    )
    _command(stream, "end", "sessions:stream_end", "End a stream: it accepts no new tasks.")
    _command(
        stream,
        "edit",
        "sessions:stream_edit",
        "Replace a stream's instructions: the next task claimed from it carries them.",
    )
    app.command(stream)

    # the worker protocol
    _command(app, "enqueue", "tasks:enqueue", "Queue a task at the back of a stream and print its id.")
    _command(app, "peek", "tasks:peek", "Print the next queued task of a stream as one line of JSON, changing nothing.")
    _command(
        app,
        "claim",
        "tasks:claim",
        "Claim the oldest queued task of a stream: print it, with the stream's instructions, as one line of JSON.",
    )
    _command(
        app, "complete", "tasks:complete", "Report a running task as succeeded, with its result and captured output."
    )
    _command(app, "fail", "tasks:fail", "Report a running task as failed, with the error and captured output.")
    _command(
        app,
        "heartbeat",
        "tasks:heartbeat",
        "Tell SparkQ a running task's worker is alive, optionally with a progress note; prints nothing.",
    )
    _command(
        app,
        "requeue",
        "tasks:requeue",
        "Queue a fresh copy of a finished task and print the new id (or, with --failed, of every failed task).",
    )
    _command(app, "cancel", "tasks:cancel", "Cancel a queued task (or every queued task of a stream): it will not run.")
    _command(
        app, "watch", "watch:watch", "Watch a stream and wake its idle worker through a FIFO when a task is queued."
    )
    _command(
        app, "mcp", "mcp_command:mcp", "Serve SparkQ's worker protocol to an AI agent as MCP tools, over stdin/stdout."
    )

    # reviewing
    _command(app, "tasks", "tasks:list_tasks", "List tasks, newest first; stale and auto-failed tasks are marked.")
    _command(app, "task", "tasks:show_task", "Show everything about one task.")
    _command(
        app, "purge", "tasks:purge", "Delete succeeded and failed tasks that finished longer ago than the given age."
    )

    @app.meta.default
    def _launch(
        *tokens: Annotated[str, Parameter(show=False, allow_leading_hyphen=True)],
        # given twice, the last one counts (as for the options of most CLIs)
        config: Annotated[str | None, Parameter(show=False, allow_repeating=True)] = None,
    ) -> Any:
        command, bound, injected = app.parse_args(tokens)
        # every `parse=False` parameter of a command is its `ctx: Ctx`; building one opens nothing yet
        context = dict.fromkeys(injected, open_context(config)) if injected else {}
        return command(*bound.args, **bound.kwargs, **context)

    return app
