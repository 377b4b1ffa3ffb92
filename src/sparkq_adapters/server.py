"""Running the HTTP server as a process: the lockfile, the loopback socket, uvicorn, stopping it."""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sparkq_domain.errors import Conflict, SparkQError

from .process import LockHeld, acquire_lockfile, is_sparkq, pid_alive, read_pid, release_lockfile, remove_if_unchanged

if TYPE_CHECKING:
    import uvicorn

STOP_GRACE_SECONDS = 5.0


class ServerError(SparkQError):
    """The server could not be started or stopped."""


class _Terminated(Exception):
    """SIGTERM or SIGINT arrived: unwind so the lockfile is removed."""


def _on_stop_signal(signum: int, frame: object) -> None:
    raise _Terminated


class AlreadyRunning(Conflict):
    def __init__(self, pid: int) -> None:
        self.pid = pid
        super().__init__(f"SparkQ server already running (PID {pid})\nStop it first with: sparkq stop")


def acquire_lock(lock_path: Path, port: int) -> None:
    """Create the lockfile with our PID; replace one left by a dead process; refuse a live one."""
    try:
        taken = acquire_lockfile(lock_path, f"{os.getpid()}\n{port}\n")
    except LockHeld as held:
        raise AlreadyRunning(held.pid) from None
    except OSError as exc:
        raise ServerError(f"Cannot create the lockfile {lock_path}: {exc.strerror}") from None
    if not taken:
        raise ServerError(f"Could not take the lockfile {lock_path}; another SparkQ is starting at the same time")


release_lock = release_lockfile
_remove_if_unchanged = remove_if_unchanged
_is_sparkq = is_sparkq


def bind_loopback(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves, so a taken port is a clear error, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it every keep-alive response after the first waits ~40 ms for a delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServerError(
                f"Port {port} on {host} is already in use by another program; "
                "choose another with `sparkq run --port N` or server.port in sparkq.yml"
            ) from None
        raise ServerError(f"Cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def server_config(app: Callable[..., object]) -> uvicorn.Config:
    """How uvicorn runs SparkQ: uvloop and httptools (dependencies of SparkQ), quiet, lifespan on.

    Named rather than left to uvicorn's "auto", so that a missing fast extra is an import error at
    start instead of a silent fall-back to asyncio's loop and h11 (about half the requests per second).
    """
    import uvicorn

    # open event streams never end by themselves: give them 2 s to close at shutdown
    return uvicorn.Config(
        app,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )


def serve(
    build_app: Callable[[], Callable[..., object]],
    *,
    host: str,
    port: int,
    lock_path: Path,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve the app `build_app` makes, in the foreground until SIGINT/SIGTERM.

    The lockfile is taken first (a second server is refused before anything is built or opened)
    and exists exactly while this server runs.
    """
    import uvicorn

    acquire_lock(lock_path, port)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler
    # that was there before it: ours turns it into an exception, so `finally` still runs.
    # SIGINT too: otherwise asyncio's own SIGINT handler cancels the lifespan with a traceback.
    previous = {sig: signal.signal(sig, _on_stop_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        sock = bind_loopback(host, port)
        server = uvicorn.Server(server_config(build_app()))
        if on_ready is not None:
            on_ready()
        server.run(sockets=[sock])
    except (_Terminated, KeyboardInterrupt):
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        release_lock(lock_path)


def stop(lock_path: Path, *, grace: float = STOP_GRACE_SECONDS) -> int:
    """Stop the server named in the lockfile: SIGTERM, then SIGKILL after `grace` seconds.

    Returns the PID stopped. Raises ServerError when no server runs (removing a stale lockfile).
    """
    pid = read_pid(lock_path)
    if pid is None or not pid_alive(pid) or not _is_sparkq(pid):
        stale = lock_path.exists()
        if stale:
            _remove_if_unchanged(lock_path, pid)
        raise ServerError("Server not running" + (" (removed a stale lockfile)" if stale else ""))
    terminate(pid, grace=grace)
    _remove_if_unchanged(lock_path, pid)
    return pid


def terminate(pid: int, *, grace: float = STOP_GRACE_SECONDS) -> bool:
    """SIGTERM `pid`, wait up to `grace` seconds, then SIGKILL; True if it had to be killed."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return False
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    while pid_alive(pid) and time.monotonic() < deadline + 5:
        time.sleep(0.05)
    return True
