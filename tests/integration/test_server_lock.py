"""The server's lockfile as real processes see it: PID only, held by flock, race-free, one per database.

Bystanders (`tail -f`, `sleep`, a waiting `sparkq claim`) are processes these tests start and end
themselves; they stand for whatever reuses a dead server's PID.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SPARKQ, RunSparkq, _clean_env
from tests.integration.cli_support import make_stream
from tests.integration.conftest import Server, free_port
from tests.integration.storage_support import run_sparkq, small_disk

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def bystander(argv: list[str], cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A harmless process of ours (ended by its PID when the block ends)."""
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=_clean_env())
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def sleeper_whose_pid_is_a_free_port(cwd: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A `sleep` whose PID is also a free port: what `kill $(cat sparkq.lock)` hit when the port was in it."""
    tried: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(200):
            proc = subprocess.Popen(["sleep", "120"], cwd=cwd)
            if 1024 <= proc.pid <= 65535 and port_is_free(proc.pid):
                break
            tried.append(proc)
        else:
            raise AssertionError("no sleep got a PID that is a free port (pid_max above 65535?)")
        for other in tried:
            other.kill()
            other.wait()
        tried = [proc]
        yield proc, proc.pid
    finally:
        for other in tried:
            if other.poll() is None:
                other.kill()
            other.wait()


# -- 1. the lockfile holds the PID and nothing else ------------------------------------------------


def test_the_lockfile_holds_only_the_pid_so_kill_cat_lockfile_stops_the_server_alone(
    workdir: Path, sparkq: RunSparkq
) -> None:
    with sleeper_whose_pid_is_a_free_port(workdir) as (sleeper, port):
        srv = Server(workdir, port)
        try:
            lock = workdir / "sparkq.lock"
            assert lock.read_text() == f"{srv.proc.pid}\n"
            # the port it really serves (not the configured 8420) is beside it, for `sparkq status`
            assert (workdir / "sparkq.port").read_text() == f"{port}\n"
            assert sparkq("status").stdout.splitlines()[0] == f"SparkQ server: running (PID {srv.proc.pid}, {srv.url})"

            done = subprocess.run(
                ["bash", "-c", "kill $(cat sparkq.lock)"], cwd=workdir, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr
            assert srv.proc.wait(timeout=15) == 0
            assert sleeper.poll() is None, "kill $(cat sparkq.lock) signalled the process whose PID is the port"
            assert not lock.exists() and not (workdir / "sparkq.port").exists()
        finally:
            srv.stop()


# -- 2. stop signals only this database's server --------------------------------------------------

BYSTANDERS = {
    "tail": ["tail", "-f", "sparkq.yml.example"],
    "claim-wait": [SPARKQ, "claim", "--stream", "auth", "--wait", "120"],
}


@pytest.mark.parametrize("crashed_server", [False, True], ids=["no-server", "after-a-crash"])
@pytest.mark.parametrize("kind", sorted(BYSTANDERS))
def test_stop_never_signals_a_process_whose_pid_is_only_written_in_the_lockfile(
    workdir: Path, sparkq: RunSparkq, kind: str, crashed_server: bool
) -> None:
    shutil.copy(REPO / "sparkq.yml.example", workdir / "sparkq.yml.example")
    make_stream(workdir)
    lock = workdir / "sparkq.lock"
    if crashed_server:
        crashed = Server(workdir, free_port())
        crashed.proc.kill()  # SIGKILL: no clean-up, the file stays naming a dead PID
        crashed.proc.wait(timeout=10)
        assert lock.read_text().split()[0] == str(crashed.proc.pid)
    # its command line names sparkq (so a "sparkq in /proc/PID/cmdline" check is fooled), and its
    # PID is in the lockfile: what PID reuse after a crash, or `printf "$!" > sparkq.lock`, does
    with bystander(BYSTANDERS[kind], workdir) as proc:
        lock.write_text(f"{proc.pid}\n")

        status = sparkq("status")
        assert status.stdout.splitlines()[0] == "SparkQ server: not running", status.stderr
        stopped = sparkq("stop")
        assert stopped.returncode == 1
        assert stopped.stderr == "Error: Server not running (removed a stale lockfile)\n"
        assert proc.poll() is None, f"sparkq stop signalled {kind}"
        assert not lock.exists()

        # and `run` is not refused by it
        lock.write_text(f"{proc.pid}\n")
        srv = Server(workdir, free_port())
        try:
            assert lock.read_text().split()[0] == str(srv.proc.pid)
        finally:
            srv.stop()
        assert proc.poll() is None


def test_stop_signals_nobody_when_a_running_servers_lockfile_was_overwritten(
    server: Server, workdir: Path, sparkq: RunSparkq
) -> None:
    shutil.copy(REPO / "sparkq.yml.example", workdir / "sparkq.yml.example")
    with bystander(BYSTANDERS["tail"], workdir) as proc:
        (workdir / "sparkq.lock").write_text(f"{proc.pid}\n")
        result = sparkq("stop")
        assert result.returncode == 1
        assert "is locked by a process other than the one it names, so nothing was signalled" in result.stderr
        assert proc.poll() is None and server.proc.poll() is None


def test_stop_of_a_server_that_ignores_sigterm_kills_the_lock_holder_and_removes_the_file(
    workdir: Path, sparkq: RunSparkq
) -> None:
    # a stand-in that holds the lock as a server does but ignores SIGTERM: SIGKILL after 5 s
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; from sparkq_adapters.process import hold_lock; "
            "signal.signal(signal.SIGTERM, signal.SIG_IGN); held = hold_lock('sparkq.lock'); "
            "print('ready', flush=True); time.sleep(120)",
        ],
        cwd=workdir,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == "ready\n"
        started = time.monotonic()
        result = sparkq("stop", timeout=30)
        assert (result.returncode, result.stdout) == (0, "SparkQ server stopped\n"), result.stderr
        assert stubborn.wait(timeout=5) == -signal.SIGKILL
        assert time.monotonic() - started >= 5  # SIGTERM was given its 5 s first
        assert not (workdir / "sparkq.lock").exists()  # left by the killed holder, removed as stale
    finally:
        if stubborn.poll() is None:
            stubborn.kill()
        stubborn.wait()


# -- 3. starting is race-free ------------------------------------------------------------------------

#: a real `sparkq run`, with its imports done before the barrier so that the starts really collide
RACER = textwrap.dedent(
    """
    import os, sys
    import uvicorn
    import sparkq_adapters.cli.app, sparkq_adapters.server
    from sparkq_entry.cli import main
    os.read(0, 1)  # the barrier: every racer waits here until the test closes the pipe
    sys.exit(main(["run", "--port", sys.argv[1]]))
    """
)
READY = "SparkQ server running at"


def race(folder: Path, racers: int = 4) -> tuple[list[subprocess.Popen[bytes]], list[Path]]:
    read, write = os.pipe()
    procs, logs = [], []
    try:
        for i in range(racers):
            logs.append(folder / f"racer-{i}.log")
            with open(logs[-1], "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-c", RACER, str(free_port())],
                        cwd=folder,
                        stdin=read,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=_clean_env(),
                    )
                )
    finally:
        os.close(read)
        os.close(write)  # every racer's read returns at once
    return procs, logs


def prepare(lock: Path, before: str, dead_pid: int) -> None:
    if before == "stale lockfile":
        lock.write_text(f"{dead_pid}\n8420\n")  # the old format, too
    elif before == "empty lockfile":
        lock.write_bytes(b"")


def dead_pid() -> int:
    dead = subprocess.Popen(["true"])
    dead.wait()
    return dead.pid


WON, REFUSED = 1, 2


def lock_racer(lock: str, before: str, dead: int, index: int, barrier: Any, outcomes: Any, pids: Any) -> None:
    """One of the processes of `test_the_server_lock_has_one_winner_per_round`."""
    from sparkq_adapters import server

    racers = barrier.parties
    for r in range(len(outcomes) // racers):
        if index == 0:
            prepare(Path(lock), before, dead)
        barrier.wait(timeout=60)  # all start together
        held = None
        try:
            held = server.acquire_lock(Path(lock), 8420)
            outcomes[r * racers + index] = WON
        except server.AlreadyRunning as refused:
            outcomes[r * racers + index] = REFUSED
            pids[r * racers + index] = refused.pid
        except Exception:
            pass  # left 0: neither won nor was refused properly
        barrier.wait(timeout=60)  # all have tried
        if held is not None:
            server.release_lock(held)
        barrier.wait(timeout=60)  # released before the next round is prepared


@pytest.mark.parametrize("before", ["no lockfile", "stale lockfile", "empty lockfile"])
def test_the_server_lock_has_one_winner_per_round_of_four_processes_started_at_once(
    tmp_path: Path, before: str
) -> None:
    racers, rounds = 4, 250
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(racers)
    outcomes = context.Array("i", racers * rounds)
    pids = context.Array("i", racers * rounds)
    lock = tmp_path / "sparkq.lock"
    procs = [
        context.Process(target=lock_racer, args=(str(lock), before, dead_pid(), i, barrier, outcomes, pids))
        for i in range(racers)
    ]
    for proc in procs:
        proc.start()
    try:
        for proc in procs:
            proc.join(timeout=300)
            assert proc.exitcode == 0, f"racer exited with {proc.exitcode}"
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join()
    bad = []
    for r in range(rounds):
        got = list(outcomes[r * racers : (r + 1) * racers])
        winner = [procs[i].pid for i in range(racers) if got[i] == WON]
        named = {pids[r * racers + i] for i in range(racers) if got[i] == REFUSED}
        if sorted(got) != [WON] + [REFUSED] * (racers - 1) or named != set(winner):
            bad.append((r, got, winner, named))
    assert not bad, (
        f"{len(bad)} of {rounds} rounds without exactly one winner (round, outcomes, winner, named): {bad[:5]}"
    )
    assert not lock.exists()


@pytest.mark.parametrize("before", ["no lockfile", "stale lockfile", "empty lockfile"])
def test_four_runs_started_at_once_give_exactly_one_server(workdir: Path, before: str) -> None:
    lock = workdir / "sparkq.lock"
    dead = dead_pid()
    for _ in range(2):
        prepare(lock, before, dead)
        procs, logs = race(workdir)
        try:
            deadline = time.monotonic() + 120  # a hang guard only: every racer decides long before
            while time.monotonic() < deadline:
                ready = [p for p, log in zip(procs, logs, strict=True) if READY in log.read_text(errors="replace")]
                exited = [p for p in procs if p.poll() is not None]
                if len(ready) + len(exited) == len(procs) or len(ready) > 1:
                    break
                time.sleep(0.05)
            outputs = [log.read_text(errors="replace") for log in logs]
            assert len(ready) == 1, f"{len(ready)} servers started: {outputs}"
            winner = ready[0]
            for proc, output in zip(procs, outputs, strict=True):
                if proc is not winner:
                    assert proc.returncode == 1, output
                    assert output == (
                        f"Error: SparkQ server already running (PID {winner.pid})\nStop it first with: sparkq stop\n"
                    )
            assert lock.read_text() == f"{winner.pid}\n"
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        assert not lock.exists()


def test_a_full_disk_leaves_no_lockfile_behind(tmp_path: Path) -> None:
    with small_disk(tmp_path) as disk:
        if disk.tmpfs:
            disk.fill()  # a real ENOSPC
            preexec = None
        else:

            def preexec() -> None:  # no mount here: no byte may be written (EFBIG)
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))

        before = sorted(p.name for p in disk.folder.iterdir())
        result = run_sparkq("run", "--port", str(free_port()), cwd=disk.folder, preexec=preexec)
        assert result.returncode == 1
        assert result.stderr.startswith(f"Error: Cannot create the lockfile {disk.folder / 'sparkq.lock'}: ")
        assert "Traceback" not in result.stderr
        assert sorted(p.name for p in disk.folder.iterdir()) == before, "a lockfile was left behind"
        disk.free()


# -- 4. one database, one server, whatever the path ------------------------------------------------


@pytest.mark.parametrize("link", ["symlinked file", "symlinked folder"])
def test_another_path_to_the_database_finds_the_running_server(server: Server, tmp_path: Path, link: str) -> None:
    other = tmp_path / "other"
    other.mkdir()
    if link == "symlinked file":
        (other / "link.db").symlink_to(server.folder / "sparkq.db")
        (other / "sparkq.yml").write_text("database: {path: link.db}\n")
    else:
        (other / "data").symlink_to(server.folder)
        (other / "sparkq.yml").write_text("database: {path: data/sparkq.db}\n")

    second = run_sparkq("run", "--port", str(free_port()), cwd=other)
    assert (second.returncode, second.stderr) == (
        1,
        f"Error: SparkQ server already running (PID {server.proc.pid})\nStop it first with: sparkq stop\n",
    )
    status = run_sparkq("status", cwd=other)
    assert status.stdout.splitlines()[0] == f"SparkQ server: running (PID {server.proc.pid}, {server.url})"
    stopped = run_sparkq("stop", cwd=other)
    assert (stopped.returncode, stopped.stdout) == (0, "SparkQ server stopped\n"), stopped.stderr
    assert server.proc.wait(timeout=15) == 0
    assert not (other / "sparkq.lock").exists() and not (server.folder / "sparkq.lock").exists()


def test_a_hard_linked_database_is_refused_so_no_second_server_or_wal_appears(server: Server, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    os.link(server.folder / "sparkq.db", other / "sparkq.db")

    # through the new name nothing starts or writes; through the old one no more writes either
    # (its server keeps running, and `run` there is refused as "already running")
    for folder, commands in (
        (other, [("run", "--port", str(free_port())), ("session", "create", "lost")]),
        (server.folder, [("session", "create", "lost")]),
    ):
        for args in commands:
            result = run_sparkq(*args, cwd=folder)
            assert result.returncode == 1, result.stdout
            db = folder.resolve() / "sparkq.db"
            assert result.stderr.startswith(f"Error: The database {db} has 2 names (hard links).")
            assert "use a symbolic link (ln -s)" in result.stderr
            assert "running at" not in result.stdout
    # nothing was written through the second name, and no second server holds a lock there
    assert sorted(p.name for p in other.iterdir()) == ["sparkq.db"]
    assert server.proc.poll() is None


# -- 7. a broken sparkq.yml does not lock you out -----------------------------------------------------

BROKEN = {
    "invalid YAML": "database:\n  path: data/q.db\nserver: {port: [\n",
    "unknown key": "database:\n  path: data/q.db\nserver:\n  prot: 8420\n",
}


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_stop_and_status_still_reach_the_server_when_sparkq_yml_is_broken(
    workdir: Path, sparkq: RunSparkq, broken: str
) -> None:
    (workdir / "sparkq.yml").write_text("database:\n  path: data/q.db\n")
    (workdir / "data").mkdir()
    srv = Server(workdir, free_port())
    try:
        (workdir / "sparkq.yml").write_text(BROKEN[broken])
        status = sparkq("status")
        assert status.returncode == 1
        assert status.stdout == f"SparkQ server: running (PID {srv.proc.pid}, {srv.url})\n"
        lock = workdir.resolve() / "data" / "sparkq.lock"
        assert status.stderr.startswith("Error: ")
        assert f"(the server was looked for at {lock}: `sparkq stop` still stops it)" in status.stderr

        stopped = sparkq("stop")
        assert (stopped.returncode, stopped.stdout) == (0, "SparkQ server stopped\n"), stopped.stderr
        assert "Warning: the config does not load, so watchers are left alone: " in stopped.stderr
        assert f"Warning: looking for the server at {lock}" in stopped.stderr
        assert srv.proc.wait(timeout=15) == 0
        assert not lock.exists()

        again = sparkq("stop")
        assert again.returncode == 1
        assert "Error: Server not running." in again.stderr
        assert "stop it with: kill $(cat /its/folder/sparkq.lock)" in again.stderr
    finally:
        srv.stop()


def test_stop_with_a_missing_config_file_says_how_to_stop_the_server(workdir: Path, sparkq: RunSparkq) -> None:
    result = sparkq("--config", str(workdir / "gone.yml"), "stop")
    assert result.returncode == 1
    assert "not found" in result.stderr
    assert "A running server can still be stopped with: kill $(cat /path/to/sparkq.lock)" in result.stderr


# -- the primitive, in one process: flock conflicts between open files, not only processes ------------


def test_hold_lock_in_one_process_refuses_a_second_holder_and_release_removes_the_file(tmp_path: Path) -> None:
    from sparkq_adapters.process import LockHeld, hold_lock, lock_holder

    lock = tmp_path / "x.lock"
    with hold_lock(lock) as held:
        assert lock.read_text() == f"{os.getpid()}\n" and lock_holder(lock) == os.getpid()
        with pytest.raises(LockHeld) as refused:
            hold_lock(lock)
        assert refused.value.pid == os.getpid()
    assert not held.held and not lock.exists() and lock_holder(lock) is None
    lock.symlink_to(tmp_path / "victim")
    with pytest.raises(OSError, match="symbolic link"):
        hold_lock(lock)
    assert not (tmp_path / "victim").exists()
