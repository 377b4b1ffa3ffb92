"""The test cluster's own upkeep: a cluster whose test process was SIGKILLed is reaped by the next run, nothing else."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.postgres_support import OWNER, PREFIX, _started, reap_leftovers, serves

ROOT = Path(__file__).resolve().parents[2]

#: a test process that makes a cluster, says where, and waits to be killed
LEAKER = (
    "import sys, time\n"
    "from tests.postgres_support import Cluster\n"
    "c = Cluster()\n"
    "print(c.folder, c.pid, flush=True)\n"
    "time.sleep(600)\n"
)


def test_a_cluster_left_by_a_killed_test_process_is_reaped_and_nothing_else(tmp_path: Path) -> None:
    leaker = subprocess.Popen(
        [sys.executable, "-c", LEAKER], cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert leaker.stdout is not None
        folder_text, pid_text = leaker.stdout.readline().split()
    finally:
        leaker.kill()  # SIGKILL: no atexit, the cluster stays up as after a killed pytest
        leaker.wait(timeout=10)
    folder, postmaster = Path(folder_text), int(pid_text)
    assert _started(postmaster) is not None, "the killed process's cluster should still run"

    base = Path(tempfile.gettempdir())
    # what must never be touched: a folder of the same name without an owner file, and one whose owner runs
    stranger = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
    (stranger / "data").mkdir()
    mine = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
    (mine / OWNER).write_text(f"{os.getpid()} {_started(os.getpid())}\n")
    # a dead owner whose postmaster.pid names a PID that is now another program: the folder goes, the program stays
    bystander = subprocess.Popen(["sleep", "600"])
    reused = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
    (reused / "data").mkdir()
    (reused / "data" / "postmaster.pid").write_text(f"{bystander.pid}\n{reused / 'data'}\n")
    (reused / OWNER).write_text(f"{_dead_pid()} 1\n")
    try:
        reaped = reap_leftovers(base)  # another test run starting a cluster now may have reaped it first
        assert stranger not in reaped and mine not in reaped
        assert stranger.exists() and mine.exists()
        assert not folder.exists() and not reused.exists()
        assert _started(postmaster) is None or _is_zombie(postmaster)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait(timeout=10)
        for kept in (stranger, mine):
            shutil.rmtree(kept)
        if serves(postmaster, folder / "data"):  # only that postmaster, never a process given its PID since
            os.kill(postmaster, signal.SIGKILL)  # the reaper failed: leave no server behind


def _dead_pid() -> int:
    """The PID of a process that has exited (and been waited for)."""
    proc = subprocess.Popen(["true"])
    proc.wait(timeout=10)
    return proc.pid


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
