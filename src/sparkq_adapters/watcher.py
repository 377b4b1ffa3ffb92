"""The watcher of one stream (SPEC §7): wakes an idle worker through a FIFO when work is queued.

Files in the watcher folder `<tmp>` (watcher.tmp_dir):

- `sparkq-<stream>.lock` holds the watcher's PID (one line), and the watcher holds an exclusive
  flock on it for its whole life (`process.hold_lock`): a second watcher for the stream is
  refused, a file nobody holds is stale whatever PID it names and is taken over. Removed when
  the watcher exits.
- `sparkq-<stream>.database` records the database the stream's files serve (one line: a SQLite
  file's resolved path, or a PostgreSQL database as `database_id.postgres_id` spells it, without
  its password). `<tmp>` is shared by every project that keeps the default `/tmp`, so this is how
  a watcher, `sparkq stop` and `teardown.sh` tell their own stream's files from another
  project's of the same name. It stays with the FIFO when the watcher exits.
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
whether the database changed (`PRAGMA data_version`, or PostgreSQL's NOTIFY of a commit on any
machine) or the flag appeared, and looks at once
when one did. The intervals are therefore upper bounds, and a queued task wakes an idle
worker within about `tick` seconds.
"""

from __future__ import annotations

import array
import errno
import fcntl
import os
import stat
import termios
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from sparkq_domain.errors import Conflict, SparkQError

from .database_id import is_postgres_url
from .process import HeldLock, LockHeld, hold_lock, lock_holder

TICK_SECONDS = 0.25
WAKE = b"wake\n"

#: the database a stream's files serve: a SQLite file, or a PostgreSQL database's id (`database_id`)
Database = Path | str


class WatcherError(SparkQError):
    """The watcher could not set up its files."""


class WatcherRunning(Conflict):
    def __init__(self, stream: str, pid: int) -> None:
        self.pid = pid
        super().__init__(f"Watcher for stream {stream} already running (PID {pid})")


SEPARATE = (
    "Two projects need separate watcher folders: set watcher.tmp_dir in this project's sparkq.yml,"
    " e.g. `watcher: {tmp_dir: .sparkq-tmp}` (relative to sparkq.yml; create the folder)"
)


class OtherDatabase(Conflict):
    """The stream's files in the watcher folder serve another project's database."""

    def __init__(self, files: WatcherFiles, database: Database, pid: int | None) -> None:
        self.database = database
        self.pid = pid
        if pid is not None:
            what = (
                f"Watcher for stream {files.stream} in {files.folder} already running (PID {pid})"
                f" for another database, {database}"
            )
            after = ""
        else:
            what = (
                f"The watcher files of stream {files.stream} in {files.folder} belong to another database,"
                f" {database} (its watcher stopped; its worker may still wait on the FIFO)"
            )
            after = "; or, if that project is done with them, run its teardown.sh"
        super().__init__(f"{what}. {SEPARATE}{after}")


@attrs.frozen(kw_only=True)
class WatcherFiles:
    stream: str
    lock: Path
    pipe: Path
    done: Path
    database: Path

    @classmethod
    def for_stream(cls, tmp_dir: Path, stream: str) -> WatcherFiles:
        return cls(
            stream=stream,
            lock=tmp_dir / f"sparkq-{stream}.lock",
            pipe=tmp_dir / f"sparkq-{stream}-pipe",
            done=tmp_dir / f"sparkq-{stream}-done",
            database=tmp_dir / f"sparkq-{stream}.database",
        )

    @property
    def folder(self) -> Path:
        return self.lock.parent


def serving(tmp_dir: Path, database: Database) -> list[WatcherFiles]:
    """The streams in `tmp_dir` whose files serve `database`, by name."""
    found = []
    for record in sorted(tmp_dir.glob("sparkq-*.database")):
        files = WatcherFiles.for_stream(tmp_dir, record.name.removeprefix("sparkq-").removesuffix(".database"))
        if serves(files, database):
            found.append(files)
    return found


def recorded_database(files: WatcherFiles) -> Database | None:
    """The database the stream's files serve, as their watcher recorded it; None if none did."""
    try:
        # O_NOFOLLOW|O_NONBLOCK: a symlink or FIFO planted in a shared /tmp is not a record
        fd = os.open(files.database, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        line = os.read(fd, 8192).decode("utf-8", errors="surrogateescape").partition("\n")[0]
    except OSError:
        return None
    finally:
        os.close(fd)
    if is_postgres_url(line):  # a SQLite file's record is an absolute path
        return line
    return Path(line) if line.startswith("/") else None


def same_database(recorded: Database, database: Database) -> bool:
    """Whether two records name one database: files by device and inode (resolved path once gone), URLs by id."""
    if isinstance(recorded, str) or isinstance(database, str):
        return recorded == database
    try:
        return os.path.samefile(recorded, database)
    except OSError:
        return os.path.realpath(recorded) == os.path.realpath(database)


def serves(files: WatcherFiles, database: Database) -> bool:
    """Whether the stream's files are recorded as serving `database`."""
    recorded = recorded_database(files)
    return recorded is not None and same_database(recorded, database)


def acquire(files: WatcherFiles, database: Database) -> HeldLock:
    """Take the stream's lockfile for `database` and record that database beside it.

    Refused (`WatcherRunning`) while a watcher for the stream runs, and (`OtherDatabase`) while
    the stream's files serve another database that still exists, even with no watcher running:
    that project's worker may still wait on the FIFO, and would be woken for our work. A record
    of a database file that no longer exists (a deleted project) is taken over; a PostgreSQL
    database is never known to be gone from here, so its record stays. Returns the held lock; its
    `release()` at exit removes the lockfile.
    """
    try:
        lock = hold_lock(files.lock)
    except LockHeld as held:
        other = recorded_database(files)
        if other is not None and not same_database(other, database):
            raise OtherDatabase(files, other, held.pid) from None
        raise WatcherRunning(files.stream, held.pid) from None
    except OSError as exc:
        raise WatcherError(f"Cannot take the lockfile {files.lock}: {exc.strerror}") from None
    other = recorded_database(files)
    if other is not None and not same_database(other, database) and (isinstance(other, str) or other.exists()):
        lock.release()
        raise OtherDatabase(files, other, None)
    try:
        _record(files.database, database)
    except OSError as exc:
        lock.release()
        raise WatcherError(f"Cannot write {files.database}: {exc.strerror}") from None
    return lock


def _record(path: Path, database: Database) -> None:
    """Write the database (a file's resolved path, a URL's id) into the record; only the lock holder calls this."""
    line = database if isinstance(database, str) else os.path.realpath(database)
    data = f"{line}\n".encode("utf-8", errors="surrogateescape")
    try:
        mode: int | None = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        path.unlink()  # a symlink or FIFO planted there is no record of ours
        mode = None
    # never through a symlink planted meanwhile; an existing file is opened without O_CREAT,
    # which a sticky /tmp may refuse on a file of another user even where opening works
    flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(path, flags) if mode is not None else os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.ftruncate(fd, 0)
        if os.write(fd, data) != len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    finally:
        os.close(fd)


def running(files: WatcherFiles) -> int | None:
    """The PID of the stream's live watcher: the process that holds its lockfile and is named in it."""
    return lock_holder(files.lock)


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

    @property
    def waking(self) -> bool:
        """Whether a wake is still waiting in the FIFO for the worker to read it."""
        return self._wake.pending

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
