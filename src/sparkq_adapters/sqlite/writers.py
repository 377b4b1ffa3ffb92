"""The queue of writers: one at a time per file, in turn, without polling."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

try:
    import fcntl
except ImportError:  # not on POSIX: threads still queue; processes fall back on SQLite's busy handler
    fcntl = None  # type: ignore[assignment]


class WriterLock:
    """Held by a write transaction from before `BEGIN IMMEDIATE` until after its end.

    Threads of this process queue on a lock (a blocked thread sleeps until it is released, no
    polling); processes queue on an advisory `flock` of a small file beside the database, looked
    at again within 0.5 ms of its release. SQLite's own write lock is then free
    whenever a SparkQ writer asks for it, so nobody sleeps in its busy handler, whose retries
    back off to 100 ms and gave the longest claims under contention a tail of seconds. Other
    programs writing the file are still covered by SQLite's lock and its busy timeout.

    `flock` is released by the kernel when a process dies, so a crash never leaves it held. If
    the file cannot be created (a read-only folder), only threads queue.
    """

    def __init__(self, path: Path, *, timeout: float, busy: Callable[[], Exception]) -> None:
        self._path = path
        self._timeout = timeout
        self._busy = busy
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._opened = False

    def acquire(self) -> None:
        """Wait for our turn: at most `timeout` seconds in all, then the `busy` error."""
        deadline = time.monotonic() + self._timeout
        if not self._threads.acquire(timeout=self._timeout):
            raise self._busy()
        try:
            fd = self._file()
            if fd is not None:
                self._lock_file(fd, deadline)
        except BaseException:
            self._threads.release()
            raise

    def _lock_file(self, fd: int, deadline: float) -> None:
        # Bounded, like SQLite's own wait: a writer that is stopped (Ctrl-Z) or stuck mid-transaction
        # must cost the others a "busy" error after the timeout, never a hang. The kernel has no
        # flock with a timeout, so a waiter looks again after a pause that grows to 0.5 ms: a released
        # lock is taken within 0.5 ms, where SQLite's busy handler backs off to 100 ms. (Blocking
        # flock handed over faster under 16 contending processes, ~5,000 against ~3,400 claims/s,
        # with the same longest wait, but it cannot be bounded: see docs/benchmarks.md.)
        pause = 0.0002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise self._busy() from None
                time.sleep(pause)
                pause = min(pause * 2, 0.0005)

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)
            self._fd = None
            self._opened = False

    def _file(self) -> int | None:
        if not self._opened:
            self._opened = True
            if fcntl is not None:
                try:
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                except OSError:
                    self._fd = None  # e.g. a read-only folder: SQLite's busy handler still applies
        return self._fd
