"""`sparkq watch STREAM`: the watcher of one stream in the foreground (SPEC §7)."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from cyclopts import Parameter

from sparkq_domain import Status, TaskStatus
from sparkq_domain.errors import Conflict, StreamEnded

from .. import watcher
from ..config import CONFIG_NAME
from ..database_id import database_id
from . import output
from .injected import Ctx

if TYPE_CHECKING:
    from sparkq_domain import Queue, StreamCounts

    from ..config import Settings


def watch(stream: Annotated[str, Parameter(help="The stream to watch (its name or id).")], /, *, ctx: Ctx) -> int:
    """Watch a stream and wake its idle worker through a FIFO when a task is queued.

    The worker waits with `touch <tmp>/sparkq-S-done && cat <tmp>/sparkq-S-pipe
    >/dev/null && sparkq claim --stream S` (printed on start, paths filled in); when
    the done-flag exists and the stream has a queued task, the watcher removes the
    flag and writes `wake` into the FIFO. One watcher per stream (lockfile
    `<tmp>/sparkq-S.lock`); `<tmp>` is watcher.tmp_dir, /tmp by default. The files
    serve one database (`<tmp>/sparkq-S.database`): another project's stream of the
    same name needs its own watcher.tmp_dir. Stops on Ctrl-C, SIGTERM or
    `sparkq stop --stream S`; when the stream ends, it wakes the idle worker (whose
    claim then says so) and stops.

        Examples:
          sparkq watch auth
          sparkq --config ~/proj/sparkq.yml watch auth
    """
    settings = ctx.settings()
    queue = ctx.queue()
    counts = watchable(queue, stream)
    name = counts.stream.name
    folder = settings.watcher_dir
    if not folder.is_dir():
        raise watcher.WatcherError(f"The watcher folder {folder} does not exist; create it or set watcher.tmp_dir")
    files = watcher.WatcherFiles.for_stream(folder, name)
    config = settings.file.watcher
    stop = threading.Event()
    ended = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    # the handlers first: a `sparkq stop` that finds this PID in the lockfile finds it ready to stop cleanly
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        lock = watcher.acquire(files, database_id(settings))
        try:
            watcher.ensure_fifo(files.pipe)
            output.print_lines(stream_intro(counts, settings))
            output.emit(f"Watching (PID {os.getpid()}): FIFO {files.pipe}, done-flag {files.done}. Stop with Ctrl-C.")
            sys.stdout.flush()

            def has_work() -> bool:
                try:
                    return queue.peek(counts.stream.id) is not None
                except StreamEnded:
                    # wake the idle worker anyway: its claim reports the end and its loop stops,
                    # where a worker left waiting on the FIFO would wait for ever
                    ended.set()
                    return True

            loop = watcher.Watcher(
                files,
                has_work=has_work,
                data_version=ctx.data_version(),
                idle_poll=config.idle_poll_seconds,
                busy_poll=config.busy_poll_seconds,
            )
            # once the stream has ended, stop as soon as the worker has read its last wake
            loop.run(lambda: stop.is_set() or (ended.is_set() and not loop.waking))
        finally:
            lock.release()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(
        f"Stream {name} has ended; watcher stopped" if ended.is_set() else f"Watcher for stream {name} stopped",
        file=sys.stderr,
    )
    return 0


def watchable(queue: Queue, ref: str) -> StreamCounts:
    """The stream's counts, or an error when it does not exist or has ended."""
    counts = queue.stream_counts(ref)
    if counts.stream.status is not Status.ACTIVE:
        raise Conflict(f"Stream {counts.stream.name!r} has ended (or its session has); there is nothing to watch")
    return counts


def stream_intro(counts: StreamCounts, settings: Settings) -> list[str]:
    """What `watch` and `run --session` print per stream: name, queued count, instructions, wait command."""
    queued = counts.counts.get(TaskStatus.QUEUED, 0)
    instructions = counts.stream.instructions or "(no instructions)"
    lines = [f"Stream {counts.stream.name} (session {counts.session_name}): {queued} queued"]
    lines += ["  " + line for line in instructions.splitlines() or [""]]
    lines.append(f"Worker wait command: {wait_command(settings, counts.stream.name)}")
    return lines


def wait_command(settings: Settings, stream: str) -> str:
    """The exact command a worker of `stream` waits with (SPEC §7), with this project's paths."""
    folder = Path(os.path.abspath(settings.watcher_dir))
    files = watcher.WatcherFiles.for_stream(folder, stream)
    claim = f"sparkq claim --stream {shlex.quote(stream)}"
    if settings.source is not None and settings.source != (Path.cwd() / CONFIG_NAME).resolve():
        # a worker in another folder would not find this config by itself
        claim = f"sparkq --config {shlex.quote(str(settings.source))} claim --stream {shlex.quote(stream)}"
    return f"touch {shlex.quote(str(files.done))} && cat {shlex.quote(str(files.pipe))} >/dev/null && {claim}"
