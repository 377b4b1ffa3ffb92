"""Lockfiles holding a PID (the server's `sparkq.lock`, each watcher's `<tmp>/sparkq-<stream>.lock`).

`hold_lock` / `lock_holder` / `clear_stale_lock` are the mechanism: the owner keeps an exclusive
`flock` on the file for its whole life, so the kernel, not the PID text, says who holds it. A
lockfile nobody holds is stale whatever PID it names (its owner died, and the PID may belong to
anyone by now). The file holds the owner's PID and nothing else, so `kill $(cat FILE)` is safe.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import stat
import time
from pathlib import Path
from types import TracebackType


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists (and is not a zombie waiting to be reaped)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    except OSError:
        return False
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False  # no /proc (macOS): os.kill's answer stands
    # the state follows the parenthesised command name, which may itself contain spaces or ')'
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


class LockHeld(Exception):
    """A live process holds the lockfile."""

    def __init__(self, pid: int) -> None:
        super().__init__(pid)
        self.pid = pid


# -- flock-held lockfiles --------------------------------------------------------------------------

#: how often a starter looks again while another process is between opening and locking a file
#: (or a `lock_holder` probe holds it for a moment), and for how long at most
_RETRY_SECONDS = 0.01
_ATTEMPTS = 300


class HeldLock:
    """An exclusive `flock` on a lockfile that names our PID, held until `release()` (or our death).

    The descriptor is close-on-exec, so programs we start do not inherit the lock.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Remove the lockfile (if it is still the file we lock) and let go of the lock; idempotent."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            # only the holder changes what the name points to, so nobody can swap it in between
            if _names(self.path, fd):
                self.path.unlink()
        except OSError:
            pass  # a folder turned read-only: the file stays, unlocked, so it is stale to everyone
        finally:
            os.close(fd)

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def hold_lock(lock_path: str | os.PathLike[str]) -> HeldLock:
    """Take the lockfile for this process: an exclusive flock, then our PID as its only content.

    A file nobody holds (left by a dead process, empty, or naming any PID at all) is taken over
    in place. Raises `LockHeld` naming the holder when a live process holds it, and `OSError`
    (with a readable `strerror`) when the file cannot be made: then no file of ours is left
    behind, not even an empty one (say, on a full disk). Race-free: of any number of processes
    calling this at once, exactly one gets the lock; the others get `LockHeld`.
    """
    path = Path(lock_path)
    for _ in range(_ATTEMPTS):
        fd = _open_lockfile(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_to_name(fd)
            os.close(fd)
            if holder is not None:
                raise LockHeld(holder) from None
            # locked, but by no process that names itself yet: another starter is between its
            # open and its write, or `lock_holder` probes the file; look again in a moment
            time.sleep(_RETRY_SECONDS)
            continue
        except BaseException:
            os.close(fd)
            raise
        if not _names(path, fd):
            # between our open and our lock its holder removed it: that file is gone, start over
            os.close(fd)
            continue
        try:
            _write_pid(fd)
        except BaseException:
            # never leave an empty or half-written lockfile (a full disk): remove it while locked
            try:
                path.unlink()
            except OSError:
                pass
            os.close(fd)
            raise
        return HeldLock(path, fd)
    raise OSError(errno.EBUSY, "other processes kept locking it without naming themselves; try again")


def lock_holder(lock_path: str | os.PathLike[str]) -> int | None:
    """The PID of the live process that holds the lockfile and is the one named in it, or None.

    Never trusts the PID text alone: the file must be locked (a probe with a shared non-blocking
    flock fails), and where Linux shows its locks (/proc/locks) the named PID must be the one
    holding that lock. A file nobody holds, a reused PID, or a PID someone wrote into a held file
    by hand all give None.
    """
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not _locked(fd):
            return None
        pid = _pid_in(fd)
        if pid is None:
            return None
        writers = _flock_writers(fd)
        if writers is None:  # no /proc/locks (macOS): the lock is held and the PID is alive
            return pid if pid_alive(pid) else None
        return pid if pid in writers else None
    finally:
        os.close(fd)


def lock_is_held(lock_path: str | os.PathLike[str]) -> bool:
    """Whether any process holds the lockfile, whatever PID it names."""
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return _locked(fd)
    finally:
        os.close(fd)


def clear_stale_lock(lock_path: str | os.PathLike[str]) -> bool:
    """Remove the lockfile if no process holds it; True if it was removed."""
    path = Path(lock_path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if _names(path, fd):  # held by us now: nobody can start on it while we remove it
            path.unlink()
            return True
        return False
    except OSError:  # held (BlockingIOError), or the folder is read-only
        return False
    finally:
        os.close(fd)


def _open_lockfile(path: Path) -> int:
    """Open the existing lockfile, or create it; never through a symlink, only a plain file."""
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    for _ in range(_ATTEMPTS):
        try:
            # an existing file is opened without O_CREAT: in a sticky /tmp, O_CREAT on another
            # user's file fails (protected_regular) even where plain opening works
            fd = os.open(path, flags)
        except FileNotFoundError:
            try:
                fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue  # created at the same moment by another starter: open that one
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                # a symlink could point a truncate at any file of ours (think of /tmp)
                raise OSError(errno.ELOOP, "it is a symbolic link; remove it") from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EEXIST, "it is not a plain file; remove it")
        return fd
    raise OSError(errno.EBUSY, "it kept appearing and disappearing; try again")


def _write_pid(fd: int) -> None:
    data = f"{os.getpid()}\n".encode()
    os.ftruncate(fd, 0)
    if os.pwrite(fd, data, 0) != len(data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _names(path: Path, fd: int) -> bool:
    """Whether `path` still names the file open as `fd`."""
    try:
        named = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _locked(fd: int) -> bool:
    """Whether some process holds an exclusive flock on the file (probed with a shared one)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False  # a file system without flock (ENOLCK): nobody can hold it either
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def _pid_in(fd: int) -> int | None:
    try:
        words = os.pread(fd, 64, 0).split()
    except OSError:
        return None
    if len(words) != 1 or not words[0].isdigit():
        return None
    pid = int(words[0])
    return pid if pid > 0 else None


def _holder_to_name(fd: int) -> int | None:
    """Who holds the exclusive lock on `fd`'s file, for a refusal; None when nobody can be named yet."""
    pid = _pid_in(fd)
    writers = _flock_writers(fd)
    if writers is None:
        return pid if pid is not None and pid_alive(pid) else None
    if pid in writers:
        return pid
    return writers[0] if writers else None  # a starter that has locked but not yet written


def _flock_writers(fd: int) -> list[int] | None:
    """PIDs holding an exclusive flock on `fd`'s file as /proc/locks shows them; None without it."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    info = os.fstat(fd)
    device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    exact: list[int] = []
    same_inode: list[int] = []
    for line in text.splitlines():
        # "12: FLOCK  ADVISORY  WRITE 4242 fe:00:2147458 0 EOF"; a waiter's line has "->" after
        # the number (non-blocking locks never wait, but other programs' may)
        fields = line.split()
        if len(fields) < 6 or fields[1:4] != ["FLOCK", "ADVISORY", "WRITE"] or not fields[4].isdigit():
            continue
        if fields[5] == device:
            exact.append(int(fields[4]))
        elif fields[5].rpartition(":")[2] == str(info.st_ino):
            same_inode.append(int(fields[4]))
    # overlayfs reports the lock under the device of the layer below, which stat() does not show
    return exact or same_inode


# -- signalling a process ----------------------------------------------------------------------------


class Process:
    """One process, held by a pidfd where Linux has them, so a reused PID is never signalled."""

    def __init__(self, pid: int) -> None:
        """Raises ProcessLookupError when there is no such process."""
        self.pid = pid
        self._fd: int | None = None
        pidfd_open = getattr(os, "pidfd_open", None)
        if pidfd_open is not None:
            try:
                self._fd = pidfd_open(pid)
            except ProcessLookupError:
                raise
            except OSError:
                pass  # an older kernel (ENOSYS): the PID it is
        elif not pid_alive(pid):
            raise ProcessLookupError(pid)

    def alive(self) -> bool:
        if self._fd is None:
            return pid_alive(self.pid)
        # a pidfd turns readable when the process exits (zombies included)
        return not select.select([self._fd], [], [], 0)[0]

    def send(self, sig: int) -> None:
        """Send `sig`; ProcessLookupError once it has exited."""
        if self._fd is None:
            os.kill(self.pid, sig)
        else:
            signal.pidfd_send_signal(self._fd, sig)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> Process:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
