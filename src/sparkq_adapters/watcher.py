"""The watcher of one stream (SPEC §7): wakes an idle worker through a FIFO when work is queued.

Files in the watcher folder `<tmp>` (watcher.tmp_dir):

- `sparkq-<stream>.lock` holds the watcher's PID; a second watcher for the stream is refused,
  a lockfile left by a dead process is replaced. Removed when the watcher exits.
- `sparkq-<stream>-done` is touched by the worker when it is idle.
- `sparkq-<stream>-pipe` is the FIFO the worker `cat`s. It stays when the watcher exits: a
  worker may be blocked reading it, and a restarted watcher wakes that same reader.

When the done-flag exists and the stream has a queued task, the watcher removes the flag and
writes `wake` into the FIFO. It opens the FIFO with O_RDWR|O_NONBLOCK, so the write never
blocks even when no worker reads yet, and keeps it open until a reader has taken the bytes:
a FIFO drops unread data when its last descriptor closes, and the reader's `cat` only ends
(end of file) once no writer holds it open.

It looks every `idle_poll` seconds while the worker is idle (flag present) and every
`busy_poll` seconds while it is busy; between looks it checks every `tick` seconds, cheaply,
whether the database changed (`PRAGMA data_version`) or the flag appeared, and looks at once
when one did. The intervals are therefore upper bounds, and a queued task wakes an idle
worker within about `tick` seconds.
"""

from __future__ import annotations

import array
import fcntl
import os
import stat
import termios
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from sparkq_domain.errors import Conflict, SparkQError

from .process import LockHeld, acquire_lockfile, release_lockfile

TICK_SECONDS = 0.25
WAKE = b"wake\n"


class WatcherError(SparkQError):
    """The watcher could not set up its files."""


class WatcherRunning(Conflict):
    def __init__(self, stream: str, pid: int) -> None:
        self.pid = pid
        super().__init__(f"Watcher for stream {stream} already running (PID {pid})")


@attrs.frozen(kw_only=True)
class WatcherFiles:
    lock: Path
    pipe: Path
    done: Path

    @classmethod
    def for_stream(cls, tmp_dir: Path, stream: str) -> WatcherFiles:
        return cls(
            lock=tmp_dir / f"sparkq-{stream}.lock",
            pipe=tmp_dir / f"sparkq-{stream}-pipe",
            done=tmp_dir / f"sparkq-{stream}-done",
        )


def acquire(files: WatcherFiles, stream: str) -> None:
    """Take the stream's lockfile, or raise `WatcherRunning` naming the live watcher's PID."""
    try:
        taken = acquire_lockfile(files.lock, f"{os.getpid()}\n")
    except LockHeld as held:
        raise WatcherRunning(stream, held.pid) from None
    except OSError as exc:
        raise WatcherError(f"Cannot create the lockfile {files.lock}: {exc.strerror}") from None
    if not taken:
        raise WatcherError(f"Could not take the lockfile {files.lock}; another watcher is starting at the same time")


def release(files: WatcherFiles) -> None:
    release_lockfile(files.lock)


def ensure_fifo(path: Path) -> None:
    """Create the FIFO, replacing whatever else (a plain file, say) has its name."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise WatcherError(f"Cannot check the FIFO {path}: {exc.strerror}") from None
    if mode is not None and stat.S_ISFIFO(mode):
        return
    try:
        if mode is not None:
            if stat.S_ISDIR(mode):
                raise WatcherError(f"{path} is a folder; remove it so the watcher can create its FIFO there")
            path.unlink()
        os.mkfifo(path, 0o600)
    except FileExistsError:
        pass  # created at the same moment by someone else; checked again on the next look
    except OSError as exc:
        raise WatcherError(f"Cannot create the FIFO {path}: {exc.strerror}") from None


class Wake:
    """A `wake` written into the FIFO, held open until a reader has taken it."""

    def __init__(self, pipe: Path) -> None:
        self._pipe = pipe
        self._fd: int | None = None

    @property
    def pending(self) -> bool:
        return self._fd is not None

    def send(self) -> None:
        if self._fd is None:
            # O_RDWR: opening never waits for a reader, and never fails for want of one
            self._fd = os.open(self._pipe, os.O_RDWR | os.O_NONBLOCK)
        try:
            os.write(self._fd, WAKE)
        except BlockingIOError:
            pass  # the pipe is full of unread wakes: the reader will find plenty

    def settle(self) -> None:
        """Close the FIFO once its bytes are read, so the reader's `cat` sees end of file."""
        if self._fd is not None and _unread(self._fd) == 0:
            self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _unread(fd: int) -> int:
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return buf[0]


class Watcher:
    """One stream's watch loop; every dependency is a parameter so tests drive it step by step."""

    def __init__(
        self,
        files: WatcherFiles,
        *,
        has_work: Callable[[], bool],
        data_version: Callable[[], int] | None = None,
        idle_poll: float = 60,
        busy_poll: float = 120,
        tick: float = TICK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.files = files
        self._has_work = has_work
        self._version = data_version
        self._idle_poll = idle_poll
        self._busy_poll = busy_poll
        self._tick = tick
        self._clock = clock
        self._sleep = sleep
        self._log = log or (lambda _: None)
        self._wake = Wake(files.pipe)
        self.wakes = 0

    def idle(self) -> bool:
        """Whether the worker said it is idle (the done-flag exists)."""
        return self.files.done.exists()

    def look(self) -> bool:
        """One look: wake the worker if it is idle and work is queued. True if it was woken."""
        ensure_fifo(self.files.pipe)
        self._wake.settle()
        if not self.idle() or not self._has_work():
            return False
        try:
            self.files.done.unlink()
        except FileNotFoundError:
            return False  # the worker took the flag back meanwhile
        self._wake.send()
        self.wakes += 1
        self._log("wake")
        return True

    def run(self, stopped: Callable[[], bool]) -> None:
        """Look, then wait for the next look, until `stopped()` says so."""
        try:
            while not stopped():
                self.look()
                self._wait(stopped)
        finally:
            self._wake.close()

    def _wait(self, stopped: Callable[[], bool]) -> None:
        was_idle = self.idle()
        deadline = self._clock() + (self._idle_poll if was_idle else self._busy_poll)
        version = self._version() if self._version is not None else None
        while not stopped():
            left = deadline - self._clock()
            if left <= 0:
                return
            self._sleep(min(self._tick, left))
            if self._wake.pending:
                self._wake.settle()
            if self.idle() and not was_idle:
                return  # the worker just became idle: look now, work may be waiting
            if self._version is not None and self._version() != version:
                return  # something was committed: perhaps a task queued
