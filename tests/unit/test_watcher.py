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
from sparkq_adapters.watcher import Watcher, WatcherFiles, WatcherRunning


@pytest.fixture
def files(tmp_path: Path) -> WatcherFiles:
    return WatcherFiles.for_stream(tmp_path, "auth")


def test_files_are_named_after_the_stream(tmp_path: Path) -> None:
    f = WatcherFiles.for_stream(tmp_path, "auth")
    assert (f.lock.name, f.pipe.name, f.done.name) == ("sparkq-auth.lock", "sparkq-auth-pipe", "sparkq-auth-done")
    assert f.database.name == "sparkq-auth.database"


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


HOLD = """
import sys, time
from pathlib import Path
from sparkq_adapters import watcher
watcher.acquire(watcher.WatcherFiles.for_stream(Path(sys.argv[1]), "auth"), Path(sys.argv[2]))
print("held", flush=True)
time.sleep(60)
"""


def _hold(files: WatcherFiles, database: Path) -> subprocess.Popen[str]:
    """Another process that took the stream's watcher lock for `database` (as `sparkq watch` does)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(files.folder), str(database)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_a_second_watcher_is_refused_and_a_dead_ones_lock_replaced(files: WatcherFiles, tmp_path: Path) -> None:
    db = _database(tmp_path / "proj")
    holder = _hold(files, db)
    try:
        assert watcher.running(files) == holder.pid
        with pytest.raises(WatcherRunning, match=rf"Watcher for stream auth already running \(PID {holder.pid}\)"):
            watcher.acquire(files, db)
    finally:
        holder.kill()
        holder.wait()
    assert files.lock.read_text() == f"{holder.pid}\n"  # left behind by the killed holder
    assert watcher.running(files) is None  # nobody holds it: stale
    lock = watcher.acquire(files, db)  # taken over
    assert files.lock.read_text() == f"{os.getpid()}\n"  # one PID line: `kill $(cat …)` stays safe
    lock.release()
    assert not files.lock.exists()


def test_a_live_process_named_in_an_unheld_lockfile_is_no_watcher(files: WatcherFiles, tmp_path: Path) -> None:
    # the PID of a dead watcher reused by another process whose command line even says sparkq
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "sparkq-watch"])
    try:
        files.lock.write_text(f"{other.pid}\n")
        assert watcher.running(files) is None
        lock = watcher.acquire(files, _database(tmp_path / "proj"))
        assert files.lock.read_text() == f"{os.getpid()}\n"
        lock.release()
    finally:
        other.kill()
        other.wait()


def _database(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "sparkq.db"
    db.touch()
    return db


def test_a_watcher_records_its_database_and_any_path_to_it_is_the_same(files: WatcherFiles, tmp_path: Path) -> None:
    db = _database(tmp_path / "proj")
    (tmp_path / "link").symlink_to(tmp_path / "proj")
    lock = watcher.acquire(files, tmp_path / "link" / "sparkq.db")
    try:
        assert files.database.read_text() == f"{db.resolve()}\n"
        assert watcher.serves(files, db) and watcher.serves(files, tmp_path / "link" / "sparkq.db")
        assert not watcher.serves(files, _database(tmp_path / "other"))
        assert watcher.serving(files.folder, db) == [files]
        assert watcher.serving(files.folder, tmp_path / "other" / "sparkq.db") == []
    finally:
        lock.release()
    assert files.database.exists()  # stays with the FIFO: it says whose the FIFO is
    watcher.acquire(files, db).release()  # the same project restarts its watcher


def test_another_databases_files_refuse_a_watcher_until_that_database_is_gone(
    files: WatcherFiles, tmp_path: Path
) -> None:
    ours, theirs = _database(tmp_path / "b"), _database(tmp_path / "a")
    holder = _hold(files, theirs)  # project A's watcher
    try:
        with pytest.raises(watcher.OtherDatabase) as live:
            watcher.acquire(files, ours)
        assert str(live.value).startswith(
            f"Watcher for stream auth in {files.folder} already running (PID {holder.pid}) for another database,"
            f" {theirs.resolve()}. Two projects need separate watcher folders: set watcher.tmp_dir"
        )
    finally:
        holder.kill()
        holder.wait()
    with pytest.raises(watcher.OtherDatabase, match="belong to another database") as stopped:
        watcher.acquire(files, ours)  # no watcher, but their worker may still wait on the FIFO
    assert "run its teardown.sh" in str(stopped.value)
    assert watcher.serves(files, theirs)
    theirs.unlink()  # that project is gone: its leftovers are taken over
    lock = watcher.acquire(files, ours)
    assert watcher.serves(files, ours)
    lock.release()


def test_a_planted_record_is_never_followed_or_believed(files: WatcherFiles, tmp_path: Path) -> None:
    db = _database(tmp_path / "proj")
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    files.database.symlink_to(victim)
    assert watcher.recorded_database(files) is None
    watcher.acquire(files, db).release()
    assert victim.read_text() == "keep me\n"
    assert watcher.serves(files, db)
    files.database.unlink()
    os.mkfifo(files.database)  # would block a plain read
    assert watcher.recorded_database(files) is None
