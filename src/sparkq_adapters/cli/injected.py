"""The parameter through which the meta app hands each command the run's `Context`."""

from __future__ import annotations

from typing import Annotated

from cyclopts import Parameter

from .common import Context

#: `ctx: Ctx` on a command: never parsed from the command line nor shown in help; the meta app
#: (`app.build_cli`) passes the `Context` it built for the global `--config`
Ctx = Annotated[Context, Parameter(parse=False)]
