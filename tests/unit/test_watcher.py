"""The watcher's files and one look at a time: lockfile, FIFO, done-flag (real files, fake timing)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sparkq_adapters import watcher
from sparkq_adapters.cli.worker import WAIT_FOREVER, bare_wait, fast_path
from sparkq_adapters.watcher import Watcher, WatcherFiles, WatcherRunning


@pytest.fixture
def files(tmp_path: Path) -> WatcherFiles:
    return WatcherFiles.for_stream(tmp_path, "auth")


def test_files_are_named_after_the_stream(tmp_path: Path) -> None:
    f = WatcherFiles.for_stream(tmp_path, "auth")
    assert (f.lock.name, f.pipe.name, f.done.name) == ("sparkq-auth.lock", "sparkq-auth-pipe", "sparkq-auth-done")


def test_ensure_fifo_creates_it_and_replaces_a_plain_file(files: WatcherFiles) -> None:
    watcher.ensure_fifo(files.pipe)
    assert stat.S_ISFIFO(os.lstat(files.pipe).st_mode)
    files.pipe.unlink()
    files.pipe.write_text("not a fifo")
    watcher.ensure_fifo(files.pipe)
    assert stat.S_ISFIFO(os.lstat(files.pipe).st_mode)


def test_a_look_while_busy_or_without_work_wakes_nobody(files: WatcherFiles) -> None:
    work = [False]
    w = Watcher(files, has_work=lambda: work[0])
    assert not w.look()  # busy: no flag
    files.done.touch()
    assert not w.look()  # idle but nothing queued
    assert files.done.exists()
    work[0] = True
    files.done.unlink()
    assert not w.look()  # work, but the worker is busy


def test_an_idle_worker_with_work_is_woken_once_and_its_cat_ends(files: WatcherFiles) -> None:
    w = Watcher(files, has_work=lambda: True)
    files.done.touch()
    assert w.look()
    assert not files.done.exists()
    assert not w.look()  # the flag is gone: no second wake
    # the worker's cat starts only after the wake was written: it still gets it, then end of file
    cat = subprocess.Popen(["cat", str(files.pipe)], stdout=subprocess.PIPE)
    try:
        assert _settle_until_exit(w, cat) == b"wake\n"
        assert w.wakes == 1
    finally:
        _kill(cat)


def _settle_until_exit(w: Watcher, reader: subprocess.Popen[bytes]) -> bytes:
    for _ in range(200):  # a look closes our end of the FIFO once the reader took the bytes
        w.look()
        if reader.poll() is not None:
            break
        time.sleep(0.05)
    return reader.communicate(timeout=10)[0]


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_a_worker_already_waiting_is_woken(files: WatcherFiles) -> None:
    w = Watcher(files, has_work=lambda: True)
    watcher.ensure_fifo(files.pipe)
    reader = subprocess.Popen(["cat", str(files.pipe)], stdout=subprocess.PIPE)
    try:
        files.done.touch()
        assert _settle_until_exit(w, reader) == b"wake\n"
    finally:
        _kill(reader)


def test_run_returns_when_stopped_and_wakes_when_flag_appears(files: WatcherFiles) -> None:
    now = [0.0]
    looks: list[float] = []
    work = [True]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        if now[0] >= 5 and not files.done.exists() and not looks:
            files.done.touch()  # the worker becomes idle at t=5

    def has_work() -> bool:
        looks.append(now[0])
        return work[0]

    w = Watcher(files, has_work=has_work, idle_poll=60, busy_poll=120, clock=lambda: now[0], sleep=sleep)
    w.run(lambda: w.wakes > 0 or now[0] > 1000)
    assert w.wakes == 1
    assert 5 <= looks[0] < 6  # looked as soon as the flag appeared, not after 120 s


def test_a_change_in_the_database_triggers_a_look_before_the_idle_poll(files: WatcherFiles) -> None:
    now = [0.0]
    files.done.touch()
    work = [False]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        if now[0] >= 2:
            work[0] = True  # a task queued at t=2 by another process

    w = Watcher(
        files,
        has_work=lambda: work[0],
        data_version=lambda: 1 if now[0] < 2 else 2,
        idle_poll=60,
        clock=lambda: now[0],
        sleep=sleep,
    )
    w.run(lambda: w.wakes > 0 or now[0] > 1000)
    assert w.wakes == 1 and now[0] < 3


def test_without_changes_the_poll_intervals_bound_the_looks(files: WatcherFiles) -> None:
    now = [0.0]
    looks: list[float] = []
    files.done.touch()

    def has_work() -> bool:
        looks.append(now[0])
        return False

    def sleep(seconds: float) -> None:
        now[0] += seconds

    w = Watcher(files, has_work=has_work, idle_poll=60, busy_poll=120, clock=lambda: now[0], sleep=sleep)
    w.run(lambda: now[0] >= 200)
    assert looks == pytest.approx([0, 60, 120, 180])


def test_a_second_watcher_is_refused_and_a_dead_ones_lock_replaced(files: WatcherFiles) -> None:
    # a live SparkQ-looking process holds the lock
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "sparkq-watch"])
    try:
        files.lock.write_text(f"{holder.pid}\n")
        with pytest.raises(WatcherRunning, match=rf"Watcher for stream auth already running \(PID {holder.pid}\)"):
            watcher.acquire(files, "auth")
    finally:
        holder.kill()
        holder.wait()
    watcher.acquire(files, "auth")  # the holder is dead now: its lockfile is replaced
    assert files.lock.read_text().split()[0] == str(os.getpid())
    watcher.release(files)
    assert not files.lock.exists()


def test_bare_wait_means_forever_and_never_takes_the_fast_path() -> None:
    assert bare_wait(["claim", "--stream", "s", "--wait"]) == ["claim", "--stream", "s", f"--wait={WAIT_FOREVER}"]
    assert bare_wait(["claim", "--wait", "--stream", "s"])[1] == f"--wait={WAIT_FOREVER}"
    assert bare_wait(["claim", "--stream", "s", "--wait", "30"]) == ["claim", "--stream", "s", "--wait", "30"]
    assert bare_wait(["peek", "--wait"]) == ["peek", "--wait"]
    assert fast_path(bare_wait(["claim", "--stream", "s", "--wait"])) is None
    assert fast_path(["claim", "--stream", "s", "--wait", "5"]) is None
    assert fast_path(["claim", "--stream", "s"]) is not None
