"""Lockfiles holding a PID (the server's `sparkq.lock`, each watcher's `<tmp>/sparkq-<stream>.lock`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def read_pid(lock_path: str | os.PathLike[str]) -> int | None:
    """The PID written in the lockfile (its first word), or None if there is no readable PID."""
    try:
        text = Path(lock_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    words = text.split(maxsplit=1)
    if not words or not words[0].isdigit():
        return None
    pid = int(words[0])
    return pid if pid > 0 else None


def read_port(lock_path: str | os.PathLike[str]) -> int | None:
    """The port the server wrote as the lockfile's second word, or None."""
    try:
        words = Path(lock_path).read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return None
    return int(words[1]) if len(words) > 1 and words[1].isdigit() and 0 < int(words[1]) < 65536 else None


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


def live_pid(lock_path: str | os.PathLike[str]) -> int | None:
    """The PID of the process holding the lockfile, or None when there is none or it has died."""
    pid = read_pid(lock_path)
    return pid if pid is not None and pid_alive(pid) else None


class LockHeld(Exception):
    """A live process holds the lockfile."""

    def __init__(self, pid: int) -> None:
        super().__init__(pid)
        self.pid = pid


def acquire_lockfile(lock_path: Path, content: str, *, is_holder: Callable[[int], bool] | None = None) -> bool:
    """Create `lock_path` holding `content` (our PID first); replace one left by a dead process.

    Raises `LockHeld` when a live process (that `is_holder` recognises, by default a SparkQ one)
    holds it, and `OSError` when the file cannot be created. Returns False when other starters
    kept replacing a stale file at the same time.
    """
    check = is_holder or is_sparkq
    for _ in range(5):
        try:
            fd = os.open(lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            pid = read_pid(lock_path)
            if pid is not None and pid != os.getpid() and pid_alive(pid) and check(pid):
                raise LockHeld(pid) from None
            remove_if_unchanged(lock_path, pid)
            continue
        try:
            os.write(fd, content.encode())
        finally:
            os.close(fd)
        return True
    return False


def release_lockfile(lock_path: Path) -> None:
    """Remove the lockfile if it is still ours."""
    if read_pid(lock_path) == os.getpid():
        try:
            lock_path.unlink()
        except FileNotFoundError:
            pass


def remove_if_unchanged(lock_path: Path, seen_pid: int | None) -> None:
    """Remove a lockfile judged stale, unless another starter replaced it meanwhile."""
    if read_pid(lock_path) == seen_pid:
        try:
            lock_path.unlink()
        except FileNotFoundError:
            pass


def is_sparkq(pid: int) -> bool:
    """Guard against a reused PID: on Linux, check that the process is a SparkQ one."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc at all (macOS): cannot tell, assume it is
    except OSError:
        return True
    return b"sparkq" in cmdline.lower()
