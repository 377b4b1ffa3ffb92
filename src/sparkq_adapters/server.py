"""Running the HTTP server as a process: the lockfile, the loopback socket, uvicorn, stopping it.

The server holds an exclusive flock on `sparkq.lock` (beside the database's real path) for its
whole life; the file holds its PID and nothing else. The port it serves is in `sparkq.port`
beside it, written and removed by the lock's holder only, and believed only while the lock is held.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sparkq_domain.errors import Conflict, SparkQError

from .process import HeldLock, LockHeld, Process, clear_stale_lock, hold_lock, lock_holder, lock_is_held

if TYPE_CHECKING:
    import uvicorn

STOP_GRACE_SECONDS = 5.0
PORT_FILE = "sparkq.port"
#: how long the server waits for a request's head (its request line and headers), counted from the
#: connection's opening or the end of the previous answer on it; an idle connection is closed then too
HEAD_TIMEOUT_SECONDS = 5


class ServerError(SparkQError):
    """The server could not be started or stopped."""


class _Terminated(Exception):
    """SIGTERM or SIGINT arrived: unwind so the lockfile is removed."""


class AlreadyRunning(Conflict):
    def __init__(self, pid: int) -> None:
        self.pid = pid
        super().__init__(f"SparkQ server already running (PID {pid})\nStop it first with: sparkq stop")


def port_path(lock_path: Path) -> Path:
    """The file beside the lockfile that names the port the running server listens on."""
    return lock_path.with_name(PORT_FILE)


def acquire_lock(lock_path: Path, port: int) -> HeldLock:
    """Hold the lockfile (our PID) and record our port beside it; refuse when a server holds it."""
    try:
        held = hold_lock(lock_path)
    except LockHeld as exc:
        raise AlreadyRunning(exc.pid) from None
    except OSError as exc:
        raise ServerError(f"Cannot create the lockfile {lock_path}: {exc.strerror}") from None
    try:
        _write_port(port_path(lock_path), port)
    except OSError as exc:
        held.release()
        raise ServerError(f"Cannot write {port_path(lock_path)}: {exc.strerror}") from None
    return held


def release_lock(held: HeldLock) -> None:
    """Remove the port file and the lockfile, in that order, while the lock is still ours."""
    if held.held:
        try:
            port_path(held.path).unlink()
        except OSError:
            pass  # gone already, or a read-only folder: not believed without the lock anyway
    held.release()


def running_port(lock_path: Path) -> int | None:
    """The port the server holding `lock_path` recorded; None when unreadable."""
    try:
        text = port_path(lock_path).read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else None


def _write_port(target: Path, port: int) -> None:
    """Write the port file whole or not at all (a temp file renamed over it)."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".sparkq-port-")
    try:
        data = f"{port}\n".encode()
        if os.write(fd, data) != len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        os.fchmod(fd, 0o644)
        os.close(fd)
        fd = -1
        os.replace(tmp, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        os.unlink(tmp)
        raise


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


def server_config(app: Callable[..., object], *, head_timeout_seconds: int = HEAD_TIMEOUT_SECONDS) -> uvicorn.Config:
    """How uvicorn runs SparkQ: uvloop and httptools (dependencies of SparkQ), quiet, lifespan on.

    Named rather than left to uvicorn's "auto", so that a missing fast extra is an import error at
    start instead of a silent fall-back to asyncio's loop and h11 (about half the requests per second).
    """
    import uvicorn

    from .http.protocol import BoundedHeadProtocol

    return uvicorn.Config(
        app,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http=BoundedHeadProtocol,
        timeout_keep_alive=head_timeout_seconds,  # BoundedHeadProtocol's deadline for each head, too
        log_level="warning",
        access_log=False,
        # a loopback server has no proxy in front: X-Forwarded-* headers are a client's word, not read
        proxy_headers=False,
        lifespan="on",
        # open event streams never end by themselves: give them 2 s to close at shutdown
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

    held = acquire_lock(lock_path, port)
    running: list[uvicorn.Server] = []

    def on_stop_signal(signum: int, frame: object) -> None:
        if running:
            # the event loop runs: uvloop swallows an exception raised in a signal handler there
            # (it would be logged and the server would go on), so ask uvicorn to shut down instead
            running[0].should_exit = True
        else:
            raise _Terminated  # not serving yet: unwind at once

    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler
    # that was there before it (ours), so `finally` still runs and removes the lockfile.
    # SIGINT too: otherwise asyncio's own SIGINT handler cancels the lifespan with a traceback.
    previous = {sig: signal.signal(sig, on_stop_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        sock = bind_loopback(host, port)
        server = uvicorn.Server(server_config(build_app()))
        if on_ready is not None:
            on_ready()
        running.append(server)
        server.run(sockets=[sock])
    except (_Terminated, KeyboardInterrupt):
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        release_lock(held)


def stop(lock_path: Path, *, grace: float = STOP_GRACE_SECONDS) -> int:
    """Stop the server holding the lockfile: SIGTERM, then SIGKILL after `grace` seconds.

    Only the process that holds the lockfile's flock and is named in it is signalled (through a
    pidfd, so not even a PID reused meanwhile can be hit). Returns the PID stopped. Raises
    ServerError when no server runs, removing a lockfile that nobody holds.
    """
    pid = lock_holder(lock_path)
    if pid is not None:
        try:
            with Process(pid) as process:
                # the handle is on the process that held the lock when we looked: make sure it still does
                if lock_holder(lock_path) == pid:
                    terminate(process, grace=grace)
                    # after a SIGKILL the file stays behind, unlocked
                    clear_stale_lock(lock_path)
                    return pid
        except ProcessLookupError:
            pass
        except PermissionError:
            raise ServerError(
                f"The server (PID {pid}) belongs to another user; stop it as that user, or with: kill {pid}"
            ) from None
    if lock_is_held(lock_path):
        raise ServerError(
            f"{lock_path} is locked by a process other than the one it names, so nothing was signalled; "
            f"`lsof {lock_path}` shows which process holds it"
        )
    stale = clear_stale_lock(lock_path)
    raise ServerError("Server not running" + (" (removed a stale lockfile)" if stale else ""))


def terminate(target: int | Process, *, grace: float = STOP_GRACE_SECONDS) -> bool:
    """SIGTERM the process, wait up to `grace` seconds, then SIGKILL; True if it had to be killed."""
    if isinstance(target, int):
        try:
            process = Process(target)
        except ProcessLookupError:
            return False
        with process:
            return terminate(process, grace=grace)
    try:
        target.send(signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not target.alive():
            return False
        time.sleep(0.05)
    try:
        target.send(signal.SIGKILL)
    except ProcessLookupError:
        return False
    while target.alive() and time.monotonic() < deadline + 5:
        time.sleep(0.05)
    return True
