"""`sparkq run` and `sparkq stop`: the HTTP server (API + web UI) as a foreground process, with watchers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from cyclopts import Parameter

from sparkq_domain import Status, TaskStatus
from sparkq_domain.errors import Conflict, NotFound

from .. import config, server, watcher
from ..database_id import database_id
from ..local_api import server_url
from ..process import Process, clear_stale_lock, lock_holder
from . import output
from .common import UsageError
from .injected import Ctx
from .watch import stream_intro, watchable

if TYPE_CHECKING:
    from sparkq_domain import Queue, StreamCounts

    from ..config import Settings
    from .common import Context


def run(
    *,
    port: Annotated[int | None, Parameter(help="Port on 127.0.0.1 (default: server.port, 8420)")] = None,
    session: Annotated[
        str | None, Parameter(help="Also start a watcher for every active stream of this session.")
    ] = None,
    ctx: Ctx,
) -> int:
    """Start the SparkQ server (API and web UI) on 127.0.0.1 in the foreground.

    With --session it also starts a watcher (`sparkq watch`) for every active stream
    of that session and stops them with the server. Without it, on a terminal, it
    offers the active sessions and the streams with queued work to pick from.
    Stops on Ctrl-C, SIGTERM, or `sparkq stop`. Only one server runs per database,
    whatever path reaches it: the server holds a lock on `sparkq.lock` beside the
    database's real file for as long as it runs. That file holds the server's PID and
    nothing else (`kill $(cat sparkq.lock)` stops it too); the port it serves is in
    `sparkq.port` beside it.

        Examples:
          sparkq run
          sparkq run --session api-v2
          sparkq run --port 8421
    """
    settings = ctx.settings()
    chosen = settings.file.server.port if port is None else port
    if not config.PORT.holds(chosen):
        raise UsageError(f"Invalid port {chosen}: use a number from 1 to 65535")
    host = settings.file.server.host
    url = server_url(host, chosen)

    if session is not None:
        streams = watched_streams(ctx.queue(), session)
    elif _interactive() and lock_holder(settings.lock_path) is None:  # a running server: refused below
        streams = pick_streams(ctx.queue())
    else:
        streams = []
    children: list[subprocess.Popen[bytes]] = []

    def ready() -> None:
        print(f"SparkQ server running at {url} (PID {os.getpid()}); UI at {url}/", flush=True)
        print(f"Database: {settings.database_name}. Stop with Ctrl-C or `sparkq stop`.", flush=True)
        for counts in streams:
            output.print_lines(stream_intro(counts, settings))
            children.append(start_watcher(settings, counts.stream.name))
        if children:
            print(f"Watchers started for {len(children)} stream(s) in {settings.watcher_dir}", flush=True)

    try:
        server.serve(
            lambda: ctx.server_app(settings, chosen),
            host=host,
            port=chosen,
            lock_path=settings.lock_path,
            on_ready=ready,
        )
    finally:
        for child in children:
            stop_child(child)
    print("SparkQ server stopped", file=sys.stderr)
    return 0


def stop(
    *,
    stream: Annotated[str | None, Parameter(help="Stop only this stream's watcher (the server keeps running).")] = None,
    ctx: Ctx,
) -> int:
    """Stop the server and every watcher (SIGTERM, then SIGKILL after 5 s).

    With --stream, stop only that stream's watcher. Running tasks stay running and
    queued tasks stay queued. Only the process that holds this database's lockfile
    is signalled, never one that merely has the PID written in it. When sparkq.yml
    no longer loads, the server is still found beside the database it names (the
    error is shown); fix the file and run `sparkq stop` again for the watchers.

        Examples:
          sparkq stop
          sparkq stop --stream auth
    """
    if stream is not None:
        pid = stop_watcher(_watcher_lock(ctx, stream), database_id(ctx.settings()))
        if pid is None:
            raise NotFound(f"No watcher running for stream {stream}")
        print(f"Watcher for stream {stream} stopped (PID {pid})")
        return 0
    lock, ignored = ctx.server_lock()
    if ignored is not None:
        output.emit_error(f"Warning: the config does not load, so watchers are left alone: {ignored.message}")
        output.emit_error(f"Warning: looking for the server at {lock}")
        try:
            server.stop(lock)
        except server.ServerError as exc:
            raise server.ServerError(
                f"{exc.message}.\nIf a server runs on another database, stop it with: "
                "kill $(cat /its/folder/sparkq.lock)"
            ) from None
        print("SparkQ server stopped")
        return 0
    try:
        server.stop(lock)
    except server.ServerError:
        stopped = stop_all_watchers(ctx.settings())
        if not stopped:
            raise
        print("SparkQ server was not running")
    else:
        stop_all_watchers(ctx.settings())
        print("SparkQ server stopped")
    return 0


# -- watchers --------------------------------------------------------------------------------------


def watched_streams(queue: Queue, session: str) -> list[StreamCounts]:
    """The active streams of an active session (an error for an unknown or ended session)."""
    found = queue.get_session(session)
    if found.status is not Status.ACTIVE:
        raise Conflict(f"Session {found.name!r} has ended; start `sparkq run` with an active one")
    streams = list(queue.list_streams(found.id, "active"))
    if not streams:
        print(f"Session {found.name} has no active streams; no watcher started", file=sys.stderr)
    return streams


def pick_streams(queue: Queue) -> list[StreamCounts]:
    """On a terminal: offer active sessions, then streams with queued work; Enter = none."""
    sessions = list(queue.list_sessions("active"))
    waiting = [s for s in queue.queued_by_stream() if s.counts.get(TaskStatus.QUEUED, 0) > 0]
    if not sessions and not waiting:
        return []
    choices: list[tuple[str, str]] = []
    print("Start watchers too? Pick one:")
    if sessions:
        print("Active sessions (a watcher for each of their active streams):")
        for item in sessions:
            choices.append(("session", item.id))
            print(f"  {len(choices)}) {item.name}")
    if waiting:
        print("Streams with queued work:")
        for counts in waiting:
            choices.append(("stream", counts.stream.id))
            print(f"  {len(choices)}) {counts.stream.name} ({counts.counts.get(TaskStatus.QUEUED, 0)} queued)")
    while True:
        try:
            answer = input(f"Number (1-{len(choices)}, Enter = just serve): ").strip()
        except EOFError:
            print()
            return []
        if not answer:
            return []
        if answer.isdigit() and 1 <= int(answer) <= len(choices):
            kind, ref = choices[int(answer) - 1]
            return watched_streams(queue, ref) if kind == "session" else [watchable(queue, ref)]
        print(f"Please answer a number from 1 to {len(choices)}, or press Enter.")


def start_watcher(settings: Settings, stream: str) -> subprocess.Popen[bytes]:
    """`sparkq watch STREAM` as a child process, on the same config (via SPARKQ_CONFIG)."""
    env = dict(os.environ)
    source = settings.source
    if source is not None:
        env["SPARKQ_CONFIG"] = str(source.resolve())
    # the watcher's greeting was printed by `run` already; its errors still reach stderr
    return subprocess.Popen([*_sparkq_command(), "watch", stream], env=env, stdout=subprocess.DEVNULL)


def stop_child(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        server.terminate(child.pid)
    try:
        child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def stop_watcher(files: watcher.WatcherFiles, database: watcher.Database) -> int | None:
    """Stop the stream's watcher if it serves this database; its PID, or None when none runs.

    The watcher is the process that holds the flock on its lockfile and is named in it (never a
    process that merely reuses a PID), and it is this database's when the stream's record names
    this database. Another project's watcher in a shared folder is refused with an error naming
    its database, and its files are left as they are.
    """
    pid = watcher.running(files)
    if not watcher.serves(files, database):
        if pid is not None:
            other = watcher.recorded_database(files)
            serves = f"serves {other}" if other is not None else "records no database"
            raise NotFound(
                f"No watcher for stream {files.stream} serves this database ({database}); the one"
                f" running in {files.folder} (PID {pid}) {serves}, so it is left alone"
            )
        return None
    if pid is None:
        clear_stale_lock(files.lock)
        return None
    try:
        with Process(pid) as process:
            # the handle is on the process that held the lock when we looked: make sure it still does
            if watcher.running(files) != pid:
                return None
            server.terminate(process)
    except ProcessLookupError:
        return None
    clear_stale_lock(files.lock)  # after a SIGKILL the file stays behind, unlocked
    return pid


def stop_all_watchers(settings: Settings) -> list[int]:
    """Stop every watcher that serves this database (never another project's in a shared folder)."""
    stopped = []
    database = database_id(settings)
    for files in watcher.serving(settings.watcher_dir, database):
        pid = stop_watcher(files, database)
        if pid is not None:
            print(f"Watcher for stream {files.stream} stopped (PID {pid})")
            stopped.append(pid)
    return stopped


def _watcher_lock(ctx: Context, stream: str) -> watcher.WatcherFiles:
    """The files of the stream's watcher; `stream` is its name or id."""
    folder = ctx.settings().watcher_dir
    files = watcher.WatcherFiles.for_stream(folder, stream)
    if not files.lock.exists() and not files.database.exists() and stream.startswith("str_"):
        # an id: the files are named after the stream's name
        files = watcher.WatcherFiles.for_stream(folder, ctx.queue().get_stream(stream).name)
    return files


def _sparkq_command() -> list[str]:
    script = Path(sys.argv[0])
    if script.name.startswith("sparkq") and script.is_file():
        return [sys.executable, str(script)]
    return [sys.executable, "-m", "sparkq_entry.cli"]


def _interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty()
