"""`sparkq run` and `sparkq stop`: the HTTP server (API + web UI) as a foreground process."""

from __future__ import annotations

import os
import sys
from typing import Annotated

from cyclopts import Parameter

from .. import server
from . import common
from .common import UsageError


def run(*, port: Annotated[int | None, Parameter(help="Port on 127.0.0.1 (default: server.port, 8420)")] = None) -> int:
    """Start the SparkQ server (API and web UI) on 127.0.0.1 in the foreground.

    Stops on Ctrl-C, SIGTERM, or `sparkq stop`. Only one server runs per database
    (a lockfile `sparkq.lock` beside it holds the PID).

    Examples:
      sparkq run
      sparkq run --port 8421
    """
    settings = common.settings()
    chosen = settings.file.server.port if port is None else port
    if not 1 <= chosen <= 65535:
        raise UsageError(f"Invalid port {chosen}: use a number from 1 to 65535")
    host = settings.file.server.host
    shown_host = "127.0.0.1" if host == "localhost" else host
    url = f"http://{shown_host}:{chosen}" if ":" not in host else f"http://[{host}]:{chosen}"

    def ready() -> None:
        print(f"SparkQ server running at {url} (PID {os.getpid()}); UI at {url}/", flush=True)
        print(f"Database: {settings.db_path}. Stop with Ctrl-C or `sparkq stop`.", flush=True)

    server.serve(
        lambda: common.app_factory()(settings, chosen),
        host=host,
        port=chosen,
        lock_path=settings.lock_path,
        on_ready=ready,
    )
    print("SparkQ server stopped", file=sys.stderr)
    return 0


def stop() -> int:
    """Stop the running SparkQ server (SIGTERM, then SIGKILL after 5 s).

    Running tasks stay running and queued tasks stay queued.

    Examples:
      sparkq stop
    """
    server.stop(common.settings().lock_path)
    print("SparkQ server stopped")
    return 0
