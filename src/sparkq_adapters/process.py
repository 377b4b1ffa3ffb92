"""The server's lockfile (`sparkq.lock` beside the database, holding its PID) and process checks."""

from __future__ import annotations

import os
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
