"""The Cyclopts app. It imports only cyclopts: each command module is imported when it runs.

That keeps `sparkq peek` from paying for the HTTP server, YAML or cattrs on every call;
`tests/integration/test_cli_app.py` resolves every import string so a typo fails in CI.
"""

from __future__ import annotations

from cyclopts import App, Parameter

HELP = """SparkQ: a local task queue. Queue work, walk away, review results later.

Workers claim tasks from a stream, do the work, and report a result or an error.
Global option: --config PATH (or $SPARKQ_CONFIG; default ./sparkq.yml, else built-in defaults).

Examples:
  sparkq session create api-v2
  sparkq stream create auth --session api-v2 -i "Add login; done when tests pass"
  sparkq enqueue run-bash '{"script": "scripts/test.sh"}' --stream auth
  sparkq claim --stream auth
"""

VERSION = "0.1.0"

# Flags are plain switches (`--json`), without generated `--no-json` twins.
app = App(name="sparkq", help=HELP, version=VERSION, default_parameter=Parameter(negative=()))

_C = "sparkq_adapters.cli."

# the server
app.command(_C + "server:run", name="run")
app.command(_C + "server:stop", name="stop")

# set-up and configuration
app.command(_C + "setup:setup", name="setup")
app.command(_C + "status:status", name="status")
app.command(_C + "registry:reload", name="reload")
app.command(_C + "registry:tools", name="tools")
app.command(_C + "registry:scripts", name="scripts")

# sessions and streams
session = App(name="session", help="Create, list and end sessions (bounded periods of work).")
session.command(_C + "sessions:session_create", name="create")
session.command(_C + "sessions:session_list", name="list")
session.command(_C + "sessions:session_end", name="end")
app.command(session)

stream = App(name="stream", help="Create, list and end streams (feature lanes with instructions).")
stream.command(_C + "sessions:stream_create", name="create")
stream.command(_C + "sessions:stream_list", name="list")
stream.command(_C + "sessions:stream_end", name="end")
app.command(stream)

# the worker protocol
app.command(_C + "tasks:enqueue", name="enqueue")
app.command(_C + "tasks:peek", name="peek")
app.command(_C + "tasks:claim", name="claim")
app.command(_C + "tasks:complete", name="complete")
app.command(_C + "tasks:fail", name="fail")
app.command(_C + "tasks:requeue", name="requeue")
app.command(_C + "watch:watch", name="watch")

# reviewing
app.command(_C + "tasks:list_tasks", name="tasks")
app.command(_C + "tasks:show_task", name="task")
app.command(_C + "tasks:purge", name="purge")
