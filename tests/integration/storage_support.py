"""Helpers for the storage-fault tests: a small disk to fill, databases built and damaged in
other processes, and file snapshots taken without ever opening a database in the test process.

Why other processes: closing any descriptor of a SQLite file drops every POSIX lock the process
holds on it (docs/decisions.md), and a read-write connection that closes last checkpoints the WAL
into the main file. So the test process neither opens database files nor keeps connections;
scripts run by `python_script` do, and the snapshots are hashed by one too.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import SPARKQ, _clean_env

#: the tmpfs size: the database and its WAL take ~0.3 MiB of it before the filler takes the rest
DISK_SIZE = "2m"
#: SPARKQ_TEST_SMALL_DISK=rlimit uses the fallback even where tmpfs can be mounted (to test it)
FORCE_ENV = "SPARKQ_TEST_SMALL_DISK"

Preexec = Callable[[], None]


def run_sparkq(
    *args: str, cwd: Path, preexec: Preexec | None = None, timeout: float = 60, input: str = ""
) -> subprocess.CompletedProcess[str]:
    """The real console script, as the `sparkq` fixture runs it, optionally under a file-size limit."""
    return subprocess.run(
        [SPARKQ, *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=timeout,
        preexec_fn=preexec,
    )


def python_script(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter of this environment; fail the test on a non-zero exit."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"helper script failed ({result.returncode}): {result.stderr}"
    return result


# -- building databases --------------------------------------------------------------------------

BUILD = """
    import os, sys
    from sparkq_entry.wiring import open_queue

    db, count, claim, keep_wal = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "keep-wal"
    queue = open_queue(db, project="faults")
    if not queue.list_sessions():
        queue.create_session("s")
        queue.create_stream("auth", "s")
    for n in range(count):
        queue.enqueue("auth", "run-bash", {"n": n, "pad": "x" * 400})
    for _ in range(claim):
        queue.claim("auth")
    if keep_wal:
        os._exit(0)  # as the console script leaves: the commits stay in the WAL
    queue._store.close()  # the last connection closes: SQLite checkpoints and deletes the WAL
"""

COMMIT_AND_DIE = """
    import os, signal, sys
    from sparkq_entry.wiring import open_queue

    db, count, checkpoint = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "checkpoint"
    queue = open_queue(db, project="faults")
    conn = queue._store.connection()
    conn.execute("PRAGMA wal_autocheckpoint = 0")  # the commits stay in the WAL only
    for n in range(count):
        queue.enqueue("auth", "run-bash", {"late": n, "pad": "y" * 400})
    if checkpoint:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # copied back, but the WAL is not reset
    os.kill(os.getpid(), signal.SIGKILL)  # a crash: no checkpoint on close
"""


def build_db(db: Path, tasks: int, *, claim: int = 0, keep_wal: bool = False) -> None:
    """A SparkQ database with stream `auth`, `tasks` tasks and `claim` of them claimed.

    Closed cleanly (checkpointed, no WAL left), or with `keep_wal` left as the CLI leaves it:
    everything committed, all of it still in the WAL.
    """
    python_script(BUILD, str(db), str(tasks), str(claim), "keep-wal" if keep_wal else "close")


def commit_in_wal_and_crash(db: Path, tasks: int, *, checkpointed: bool = False) -> None:
    """Enqueue `tasks` more in a process that is SIGKILLed before any checkpoint (they stay in the WAL)."""
    mode = "checkpoint" if checkpointed else "crash"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(COMMIT_AND_DIE), str(db), str(tasks), mode],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr


FACTS = """
    import json, sqlite3, sys
    from pathlib import Path

    # read-only: it never checkpoints on close, so looking changes nothing
    conn = sqlite3.connect(Path(sys.argv[1]).absolute().as_uri() + "?mode=ro", uri=True)
    statuses = dict(conn.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status").fetchall())
    print(json.dumps({
        "tasks": conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0],
        "events": conn.execute("SELECT COUNT(*) FROM events").fetchone()[0],
        "statuses": statuses,
        "integrity": conn.execute("PRAGMA integrity_check").fetchone()[0],
    }))
"""


def db_facts(db: Path) -> dict[str, Any]:
    """Row counts and `PRAGMA integrity_check` of a database, read by another process."""
    return dict(json.loads(python_script(FACTS, str(db)).stdout))


SNAPSHOT = """
    import hashlib, json, os, sys

    folder, prefix = sys.argv[1], sys.argv[2]
    files = {}
    for name in sorted(os.listdir(folder)):
        if name.startswith(prefix):
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            st = os.stat(path)
            files[name] = {"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    print(json.dumps(files))
"""


def snapshot(db: Path) -> dict[str, dict[str, Any]]:
    """sha256, size and mtime of the database and its `-wal` / `-shm` files, hashed by another process."""
    return dict(json.loads(python_script(SNAPSHOT, str(db.parent), db.name).stdout))


HOLD_LOCK = """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    time.sleep(120)  # killed by the test long before; bounded even if the test dies
"""


@contextmanager
def write_lock_held(db: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the database's write lock (`BEGIN IMMEDIATE`) until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLD_LOCK), str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


# -- a small disk ----------------------------------------------------------------------------------


class SmallDisk:
    """A folder whose files cannot grow once `fill()` is called, until `free()`.

    Where we may mount (root, as in CI): a 2 MiB tmpfs, filled by a filler file. Elsewhere: the
    file-size limit (RLIMIT_FSIZE) of the processes SparkQ runs in, set at the size their files
    have when `fill()` is called: on Linux a write past it fails with EFBIG, which SQLite reports
    as an I/O error (SQLITE_IOERR_WRITE) or, for a short write, as SQLITE_FULL.
    """

    def __init__(self, folder: Path, *, tmpfs: bool) -> None:
        self.folder = folder
        self.tmpfs = tmpfs
        self.limit: int | None = None
        self._filler = folder / "filler.bin"
        self._limited: list[int] = []

    @property
    def full_words(self) -> str:
        """What the error message says the problem is."""
        return "is full" if self.tmpfs else "file-size limit"

    def preexec(self) -> Preexec:
        """For `subprocess`: ignore SIGXFSZ (EFBIG instead of death) and apply the current limit."""
        limit = self.limit

        def apply() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

        return apply

    def limit_process(self, pid: int) -> None:
        """A running process (the server) shares the fate of the disk: limited by `fill()`, freed by `free()`."""
        self._limited.append(pid)
        if self.limit is not None:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (self.limit, resource.RLIM_INFINITY))

    def fill(self) -> None:
        if self.tmpfs:
            chunk = b"\0" * (64 * 1024)
            with open(self._filler, "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
            assert os.statvfs(self.folder).f_bavail == 0
        else:
            # the WAL is the file that grows; it must stay above the 32 KiB that SQLite writes
            # into the -shm at every start, or reads would fail too
            self.limit = max(p.stat().st_size for p in self.folder.glob("*-wal"))
            assert self.limit > 64 * 1024, "build the database with keep_wal=True before filling"
            for pid in self._limited:
                resource.prlimit(pid, resource.RLIMIT_FSIZE, (self.limit, resource.RLIM_INFINITY))

    def free(self) -> None:
        if self.tmpfs:
            self._filler.unlink(missing_ok=True)
        else:
            self.limit = None
            for pid in self._limited:
                resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _mount_tmpfs(folder: Path) -> str | None:
    """Mount a small tmpfs on `folder`; None on success, else why not."""
    try:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0755", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if result.returncode == 0 else (result.stderr.strip() or f"mount exited {result.returncode}")


def _unmount(folder: Path) -> None:
    """Unmount, retrying while a process we stopped lets go of its files; lazily as the last resort."""
    for _ in range(50):
        if subprocess.run(["umount", str(folder)], capture_output=True, timeout=30).returncode == 0:
            return
        time.sleep(0.1)
    subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30, check=True)


@contextmanager
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A `SmallDisk` under `tmp_path`: tmpfs when we can mount (always as root), else RLIMIT_FSIZE."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    forced = os.environ.get(FORCE_ENV) == "rlimit"
    why = "forced by " + FORCE_ENV if forced else _mount_tmpfs(folder)
    if why is not None and os.geteuid() == 0 and not forced:
        # CI runs as root: the real full disk must be what runs there, never the fallback
        raise AssertionError(f"cannot mount a tmpfs as root ({why}); set {FORCE_ENV}=rlimit to use the fallback")
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited by the servers we start
    try:
        yield SmallDisk(folder, tmpfs=why is None)
    finally:
        signal.signal(signal.SIGXFSZ, previous)
        if why is None:
            _unmount(folder)


# -- a read-only file -------------------------------------------------------------------------------


@contextmanager
def read_only(db: Path) -> Iterator[None]:
    """The database file read-only until the block ends; its folder stays writable (for -wal, -shm).

    As root (CI), permissions stop no writes: a read-only bind mount of the file onto itself does.
    Otherwise, the file's mode.
    """
    if os.geteuid() != 0:
        mode = db.stat().st_mode
        db.chmod(0o444)
        try:
            yield
        finally:
            db.chmod(mode)
        return
    subprocess.run(["mount", "--bind", str(db), str(db)], check=True, capture_output=True, timeout=30)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(db)], check=True, capture_output=True, timeout=30)
        yield
    finally:
        # lazily if connections of the test process still hold it: it is gone from the folder at once
        if subprocess.run(["umount", str(db)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(db)], check=True, capture_output=True, timeout=30)


# -- damaging databases (in other processes, none of which holds a connection) -----------------------

PAGE_ONE_FROM_WAL = """
    import struct, sys

    db = sys.argv[1]
    with open(db + "-wal", "rb") as f:
        wal = f.read()
    page_size, salts = struct.unpack_from(">I", wal, 8)[0], wal[16:24]
    offset, page_one = 32, None
    while offset + 24 + page_size <= len(wal) and wal[offset + 8 : offset + 16] == salts:
        if struct.unpack_from(">I", wal, offset)[0] == 1:
            page_one = wal[offset + 24 : offset + 24 + page_size]
        offset += 24 + page_size
    assert page_one is not None, "page 1 is not in the WAL"
    with open(db, "r+b") as f:
        f.write(page_one)
    print(struct.unpack_from(">I", page_one, 28)[0])
"""


def copy_page_one_from_wal(db: Path) -> int:
    """Do what a checkpoint does first (write the newest page 1 from the WAL into the main file) and stop.

    The main file's header then counts pages that only the WAL holds: the state while a checkpoint
    is under way, or after a crash in one. Returns the page count the header now gives.
    """
    return int(python_script(PAGE_ONE_FROM_WAL, str(db)).stdout)


OVERWRITE_ROOT_PAGES = """
    import random, sqlite3, sys
    from pathlib import Path

    db, where = sys.argv[1], sys.argv[2]
    # the main file alone: no -wal or -shm is made, looked at or left behind (its schema is all in it)
    conn = sqlite3.connect(Path(db).absolute().as_uri() + "?immutable=1", uri=True)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = [row[0] for row in conn.execute("SELECT rootpage FROM sqlite_master WHERE " + where)]
    conn.close()
    assert pages, "no table or index matches"
    noise = random.Random(12).randbytes(page_size)  # the same noise every run
    with open(db, "r+b") as f:
        for page in pages:
            f.seek((page - 1) * page_size)
            f.write(noise)
    print(" ".join(map(str, pages)))
"""


def overwrite_root_pages(db: Path, where: str) -> list[int]:
    """Write random bytes over the root page of each table or index that `where` picks from sqlite_master.

    Done in the main file by another process, as a stray program or a failing disk would; returns
    the page numbers. Nothing else about the file changes: its size, its header, the other pages.
    """
    return [int(page) for page in python_script(OVERWRITE_ROOT_PAGES, str(db), where).stdout.split()]
