"""`sparkq watch`, `sparkq-watcher.sh`, `run --session`, `stop [--stream]` and `claim --wait` as real processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pexpect
import pytest

from tests.conftest import SPARKQ, RunSparkq
from tests.integration.conftest import Server, free_port, pid_alive, wait_for
from tests.integration.test_shell_scripts import IGNORED, REPO

from .cli_support import enqueued_elsewhere, library_queue
from .worker_support import WATCHER_SH, is_fifo, sparkq_env, start, start_watch, stop, write_config


@pytest.fixture
def tmp_dir(workdir: Path, tmp_path: Path, sparkq: RunSparkq) -> Path:
    folder = tmp_path / "watchers"
    write_config(workdir, folder)
    assert sparkq("session", "create", "s1").returncode == 0
    for name in ("a", "b"):
        assert sparkq("stream", "create", name, "--session", "s1", "-i", f"Work on {name}").returncode == 0
    return folder


def lock_pid(lock: Path) -> int | None:
    try:
        return int(lock.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# -- sparkq watch ----------------------------------------------------------------------------------


def test_watch_refuses_an_unknown_or_ended_stream(tmp_dir: Path, sparkq: RunSparkq) -> None:
    missing = sparkq("watch", "nope")
    assert missing.returncode == 1
    assert missing.stderr.startswith("Error: Stream 'nope' not found")
    assert sparkq("stream", "end", "b").returncode == 0
    ended = sparkq("watch", "b")
    assert ended.returncode == 1
    assert "has ended" in ended.stderr and ended.stderr.startswith("Error: ")
    assert list(tmp_dir.iterdir()) == []


def test_watch_holds_the_lock_refuses_a_second_and_exits_cleanly_on_sigterm(
    workdir: Path, tmp_dir: Path, sparkq: RunSparkq
) -> None:
    sparkq("enqueue", "run-bash", '{"script": "x"}', "--stream", "a")
    lock = tmp_dir / "sparkq-a.lock"
    proc = start_watch(workdir, "a")
    try:
        assert wait_for(lambda: lock_pid(lock) == proc.pid, timeout=10)
        assert wait_for(lambda: "Watching" in (workdir / "watch-a.log").read_text())
        intro = (workdir / "watch-a.log").read_text()
        assert "Stream a (session s1): 1 queued" in intro and "  Work on a" in intro
        assert is_fifo(tmp_dir / "sparkq-a-pipe")
        second = sparkq("watch", "a")
        assert second.returncode == 1
        assert second.stderr == f"Error: Watcher for stream a already running (PID {proc.pid})\n"
        shell = subprocess.run(
            [str(WATCHER_SH), "a"],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=30,
            env=sparkq_env(),
        )
        assert shell.returncode == 1
        assert shell.stderr == f"Error: Watcher for stream a already running (PID {proc.pid})\n"
    finally:
        assert stop(proc) == 0
    assert not lock.exists()
    assert is_fifo(tmp_dir / "sparkq-a-pipe")  # kept: a worker may still be reading it


def test_watch_replaces_the_lockfile_of_a_dead_watcher(workdir: Path, tmp_dir: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock = tmp_dir / "sparkq-a.lock"
    lock.write_text(f"{dead.pid}\n")
    (tmp_dir / "sparkq-a-pipe").write_text("a plain file where the FIFO belongs")
    proc = start_watch(workdir, "a")
    try:
        assert wait_for(lambda: lock_pid(lock) == proc.pid, timeout=10)
        assert wait_for(lambda: is_fifo(tmp_dir / "sparkq-a-pipe"))
    finally:
        assert stop(proc, signal.SIGINT) == 0
    assert not lock.exists()


@pytest.mark.parametrize("kind", ["watch", "shell"])
def test_a_watcher_wakes_the_idle_worker_when_work_is_queued(
    kind: str, workdir: Path, tmp_dir: Path, sparkq: RunSparkq
) -> None:
    if kind == "watch":
        proc = start_watch(workdir, "a")
    else:
        proc = start([str(WATCHER_SH), "a"], workdir, workdir / "watch-a.log", sparkq_env())
    worker = None
    try:
        assert wait_for(lambda: lock_pid(tmp_dir / "sparkq-a.lock") == proc.pid, timeout=10)
        wait_cmd = f"touch {tmp_dir}/sparkq-a-done && cat {tmp_dir}/sparkq-a-pipe && sparkq claim --stream a"
        worker = subprocess.Popen(
            ["bash", "-c", wait_cmd], cwd=workdir, stdout=subprocess.PIPE, env=sparkq_env(), start_new_session=True
        )
        assert wait_for(lambda: (tmp_dir / "sparkq-a-done").exists())
        task_id = sparkq("enqueue", "run-bash", '{"script": "x"}', "--stream", "a").stdout.strip()
        out = worker.communicate(timeout=15)[0].decode()
        lines = out.splitlines()
        assert lines[0] == "wake"
        assert json.loads(lines[1])["id"] == task_id
        assert not (tmp_dir / "sparkq-a-done").exists()
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)  # bash and the `cat` it runs, both ours
            worker.wait()
        assert stop(proc) == 0
    assert not (tmp_dir / "sparkq-a.lock").exists()


def test_a_stream_ended_while_its_worker_waits_wakes_the_worker_and_stops_the_watcher(
    workdir: Path, tmp_dir: Path, sparkq: RunSparkq
) -> None:
    # left alone, the worker would wait on the FIFO for ever: wake it, so its claim says the stream ended
    proc = start_watch(workdir, "a")
    worker = None
    try:
        assert wait_for(lambda: lock_pid(tmp_dir / "sparkq-a.lock") == proc.pid, timeout=10)
        wait_cmd = f"touch {tmp_dir}/sparkq-a-done && cat {tmp_dir}/sparkq-a-pipe && sparkq claim --stream a"
        worker = subprocess.Popen(
            ["bash", "-c", wait_cmd],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=sparkq_env(),
            start_new_session=True,
        )
        assert wait_for(lambda: (tmp_dir / "sparkq-a-done").exists())
        assert sparkq("stream", "end", "a").returncode == 0
        out, err = worker.communicate(timeout=15)
        assert out.decode().splitlines() == ["wake"]
        assert worker.returncode == 1 and err.decode().startswith("Error: Stream 'a' has ended")
        assert proc.wait(timeout=15) == 0
        assert "Stream a has ended; watcher stopped" in (workdir / "watch-a.log").read_text()
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)  # bash and the `cat` it runs, both ours
            worker.wait()
        stop(proc)
    assert not (tmp_dir / "sparkq-a.lock").exists()


# -- stop ------------------------------------------------------------------------------------------


def test_stop_stream_stops_only_that_watcher(workdir: Path, tmp_dir: Path, sparkq: RunSparkq) -> None:
    a, b = start_watch(workdir, "a"), start_watch(workdir, "b")
    try:
        assert wait_for(lambda: lock_pid(tmp_dir / "sparkq-a.lock") == a.pid, timeout=10)
        assert wait_for(lambda: lock_pid(tmp_dir / "sparkq-b.lock") == b.pid, timeout=10)
        done = sparkq("stop", "--stream", "a")
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"Watcher for stream a stopped (PID {a.pid})\n"
        assert a.wait(timeout=10) == 0
        assert b.poll() is None
        again = sparkq("stop", "--stream", "a")
        assert again.returncode == 1 and again.stderr == "Error: No watcher running for stream a\n"
        # `sparkq stop` with no server running still stops every watcher
        everything = sparkq("stop")
        assert everything.returncode == 0
        assert f"Watcher for stream b stopped (PID {b.pid})" in everything.stdout
        assert b.wait(timeout=10) == 0
    finally:
        stop(a)
        stop(b)
    assert not list(tmp_dir.glob("*.lock"))


def test_run_session_starts_a_watcher_per_active_stream_and_stop_ends_them_all(
    workdir: Path, tmp_dir: Path, sparkq: RunSparkq
) -> None:
    sparkq("enqueue", "run-bash", '{"script": "x"}', "--stream", "b")
    srv = Server(workdir, free_port(), ("--session", "s1"))
    try:
        locks = [tmp_dir / "sparkq-a.lock", tmp_dir / "sparkq-b.lock"]
        assert wait_for(lambda: all(lock_pid(lock) for lock in locks), timeout=15), srv.output()
        pids = [lock_pid(lock) for lock in locks]
        out = srv.output()
        assert "Stream a (session s1): 0 queued" in out and "Stream b (session s1): 1 queued" in out
        assert "  Work on b" in out
        done = sparkq("stop")
        assert done.returncode == 0, done.stderr
        assert "SparkQ server stopped" in done.stdout
        assert srv.proc.wait(timeout=15) == 0
        assert wait_for(lambda: not any(pid_alive(pid) for pid in pids if pid), timeout=10)
    finally:
        srv.stop()
    assert not list(tmp_dir.glob("*.lock"))
    assert sparkq("peek", "--stream", "b").stdout  # queued stays queued


def test_run_session_of_an_unknown_session_is_an_error(tmp_dir: Path, sparkq: RunSparkq) -> None:
    result = sparkq("run", "--port", str(free_port()), "--session", "nope")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: Session 'nope' not found")


def _spawn_run(workdir: Path, port: int) -> pexpect.spawn:
    env = sparkq_env({"TERM": "dumb", "COLUMNS": "100"})
    child = pexpect.spawn(SPARKQ, ["run", "--port", str(port)], cwd=str(workdir), env=env, encoding="utf-8", timeout=20)
    child.setwinsize(40, 100)
    return child


def _end(child: pexpect.spawn) -> None:
    if child.isalive():
        child.kill(signal.SIGTERM)
        child.expect(pexpect.EOF, timeout=15)
    child.close(force=True)


def test_run_on_a_terminal_offers_sessions_and_streams_with_work(
    workdir: Path, tmp_dir: Path, sparkq: RunSparkq
) -> None:
    sparkq("enqueue", "run-bash", '{"script": "x"}', "--stream", "b")
    child = _spawn_run(workdir, free_port())
    try:
        child.expect_exact("Active sessions")
        child.expect_exact("1) s1")
        child.expect_exact("Streams with queued work:")
        child.expect_exact("2) b (1 queued)")
        child.expect_exact("Number (1-2, Enter = just serve): ")
        child.sendline("7")
        child.expect_exact("Please answer a number from 1 to 2")
        child.sendline("2")
        child.expect_exact("SparkQ server running at")
        child.expect_exact("Stream b (session s1): 1 queued")
        assert wait_for(lambda: lock_pid(tmp_dir / "sparkq-b.lock"), timeout=10)
        assert not (tmp_dir / "sparkq-a.lock").exists()
    finally:
        _end(child)
    assert wait_for(lambda: not (tmp_dir / "sparkq-b.lock").exists(), timeout=10)


def test_run_on_a_terminal_with_enter_just_serves(workdir: Path, tmp_dir: Path) -> None:
    child = _spawn_run(workdir, free_port())
    try:
        child.expect_exact("Number (1-1, Enter = just serve): ")
        child.sendline("")
        child.expect_exact("SparkQ server running at")
        assert not list(tmp_dir.glob("*.lock"))
    finally:
        _end(child)


# -- claim --wait ----------------------------------------------------------------------------------


def test_claim_wait_returns_a_task_queued_by_another_process(workdir: Path, tmp_dir: Path, sparkq: RunSparkq) -> None:
    waiter = subprocess.Popen(
        [SPARKQ, "claim", "--stream", "a", "--wait", "30"], cwd=workdir, stdout=subprocess.PIPE, env=sparkq_env()
    )
    try:
        task_id = sparkq("enqueue", "run-bash", '{"script": "x"}', "--stream", "a").stdout.strip()
        out, _ = waiter.communicate(timeout=10)  # well within the 30 s wait: it woke on the enqueue
        claimed = json.loads(out)
        assert claimed["id"] == task_id and claimed["status"] == "running"
        assert claimed["stream"]["instructions"] == "Work on a"
        assert waiter.returncode == 0
    finally:
        stop(waiter)


def test_claim_wait_times_out_silently(tmp_dir: Path, sparkq: RunSparkq) -> None:
    result = sparkq("claim", "--stream", "a", "--wait", "0.3")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_claim_wait_refuses_bad_values_and_ended_streams(tmp_dir: Path, sparkq: RunSparkq) -> None:
    bad = sparkq("claim", "--stream", "a", "--wait", "-3")
    assert bad.returncode == 2 and bad.stderr.startswith("Error: Invalid --wait")
    sparkq("stream", "end", "b")
    ended = sparkq("claim", "--stream", "b", "--wait", "5")
    assert ended.returncode == 1 and "has ended" in ended.stderr


def _interruptible() -> None:
    """SIGINT back to its default in the child: a test run started in the background of a
    non-interactive shell ignores it, the child inherits that, and Python then never turns it into
    KeyboardInterrupt (as a terminal's Ctrl-C does)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_bare_claim_wait_waits_until_interrupted(workdir: Path, tmp_dir: Path) -> None:
    waiter = subprocess.Popen(
        [SPARKQ, "claim", "--stream", "a", "--wait"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=sparkq_env(),
        preexec_fn=_interruptible,
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            waiter.wait(timeout=1.5)
        waiter.send_signal(signal.SIGINT)
        out, err = waiter.communicate(timeout=10)
        assert waiter.returncode == 130 and out == b"" and b"Traceback" not in err
    finally:
        stop(waiter)


#: the console script's two lines, with SIGINT sent while the module named by argv[1] is imported
INTERRUPTED_IMPORT = """
import os, signal, sys

MODULE = sys.argv[1]

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == MODULE:
            os.kill(os.getpid(), signal.SIGINT)  # handled at the next bytecode: inside this import
        return None

sys.meta_path.insert(0, Interrupt())
sys.argv = ["sparkq", *sys.argv[2:]]
from sparkq_entry.cli import run
run()
"""


@pytest.mark.parametrize(
    ("module", "command"),
    [
        ("sparkq_entry.wiring", ["claim", "--stream", "a"]),  # the composition root
        ("sparkq_adapters.cli.worker", ["claim", "--stream", "a"]),  # the fast path's first import
        ("cyclopts", ["session", "list"]),  # a command that goes through Cyclopts
    ],
)
def test_ctrl_c_while_the_cli_starts_is_exit_130_without_a_traceback(
    workdir: Path, module: str, command: list[str]
) -> None:
    interrupted = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_IMPORT, module, *command],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=30,
        env=sparkq_env(),
        preexec_fn=_interruptible,
    )
    assert (interrupted.returncode, interrupted.stdout) == (130, ""), interrupted.stderr
    assert "Traceback" not in interrupted.stderr and "KeyboardInterrupt" not in interrupted.stderr


def test_http_claim_wait_long_polls(tmp_dir: Path, server: Server, sparkq: RunSparkq) -> None:
    results: list[httpx.Response] = []

    def long_poll() -> None:
        with server.client() as client:
            results.append(client.post("/api/streams/a/claim", params={"wait": 30}, timeout=40))

    poller = threading.Thread(target=long_poll)
    poller.start()
    try:
        with server.client() as client:
            time.sleep(0.3)  # let the request start waiting
            assert poller.is_alive()
            created = client.post(
                "/api/tasks", json={"stream_id": "a", "tool_name": "run-bash", "payload": {"script": "x"}}
            )
            assert created.status_code in (200, 201), created.text
    finally:
        poller.join(timeout=15)
    assert not poller.is_alive()
    assert results[0].status_code == 200
    claimed = results[0].json()
    assert claimed["status"] == "running" and claimed["stream"]["name"] == "a"
    assert claimed["id"] == created.json()["task"]["id"]
    with server.client() as client:
        assert client.post("/api/streams/a/claim", params={"wait": 0.3}).status_code == 204
        assert client.post("/api/streams/a/claim", params={"wait": 61}).status_code == 400
        assert client.post("/api/streams/nope/claim", params={"wait": 1}).status_code == 404


def left_then_enqueued(server: Server, stream: str, path: str, body: object, headers: dict[str, str]) -> str:
    """A long-poll claim of `stream` sent to `path`, given up by its client after a second; then a task
    queued in `stream` from another process. The task's id, once a waiter left behind had time to take it."""
    with server.client() as client, pytest.raises(httpx.ReadTimeout):
        client.post(path, json=body, headers=headers, timeout=httpx.Timeout(10, read=1.0))
    task_id = enqueued_elsewhere(server.folder, stream)
    time.sleep(1.0)  # not a bound: a waiter left behind takes the task within the hub's look (0.2 s) and a claim
    return task_id


def test_a_long_poll_whose_client_left_claims_nothing(tmp_dir: Path, server: Server) -> None:
    task_id = left_then_enqueued(server, "a", "/api/streams/a/claim?wait=30", None, {})
    assert library_queue(server.folder).get_task(task_id).status == "queued"  # not handed to nobody
    with server.client() as client:
        claimed = client.post("/api/streams/a/claim")
    assert claimed.status_code == 200 and claimed.json()["id"] == task_id


def test_teardown_stops_real_watchers_and_removes_their_files(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo, ignore=IGNORED, symlinks=True)
    watchers = tmp_path / "w"
    write_config(repo, watchers)
    env = sparkq_env()
    for args in (["session", "create", "s1"], ["stream", "create", "a", "--session", "s1"]):
        subprocess.run([SPARKQ, *args], cwd=repo, env=env, check=True, capture_output=True)
    subprocess.run([SPARKQ, "stream", "create", "b", "--session", "s1"], cwd=repo, env=env, check=True)
    watch = start([SPARKQ, "watch", "a"], repo, tmp_path / "watch.log", env)
    shell = start([str(repo / "sparkq-watcher.sh"), "b"], repo, tmp_path / "shell.log", env)
    try:
        assert wait_for(lambda: lock_pid(watchers / "sparkq-a.lock") == watch.pid, timeout=10)
        assert wait_for(lambda: lock_pid(watchers / "sparkq-b.lock") == shell.pid, timeout=10)
        (watchers / "sparkq-b-done").touch()
        result = subprocess.run(
            [str(repo / "teardown.sh"), "-y"], cwd=repo, env=env, capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, result.stderr
        assert watch.wait(timeout=10) == 0
        shell.wait(timeout=10)
        assert list(watchers.iterdir()) == []
    finally:
        stop(watch)
        stop(shell)


# -- two projects, one watcher folder --------------------------------------------------------------


def sparkq_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SPARKQ, *args], cwd=folder, env=sparkq_env(), capture_output=True, text=True, timeout=60)


def project(folder: Path, watchers: Path, streams: tuple[str, ...]) -> Path:
    """A project folder with its own database, watchers in `watchers`, session s1 and `streams`."""
    folder.mkdir(exist_ok=True)
    write_config(folder, watchers)
    assert sparkq_in(folder, "session", "create", "s1").returncode == 0
    for name in streams:
        assert sparkq_in(folder, "stream", "create", name, "--session", "s1").returncode == 0
    return folder


def test_two_projects_sharing_a_watcher_folder_touch_only_their_own_watchers(tmp_path: Path) -> None:
    shared = tmp_path / "shared-watchers"
    a = project(tmp_path / "a", shared, ("auth",))
    b = tmp_path / "b"
    shutil.copytree(REPO, b, ignore=IGNORED, symlinks=True)  # B has its own teardown.sh
    project(b, shared, ("auth", "billing"))
    a_auth = start_watch(a, "auth")
    b_billing = None
    try:
        assert wait_for(lambda: lock_pid(shared / "sparkq-auth.lock") == a_auth.pid, timeout=10)
        assert (shared / "sparkq-auth.database").read_text() == f"{(a / 'sparkq.db').resolve()}\n"

        # B's watcher of its own stream `auth` is refused, naming A's database and the way out
        refused = sparkq_in(b, "watch", "auth")
        assert refused.returncode == 1
        assert refused.stderr.startswith(
            f"Error: Watcher for stream auth in {shared} already running (PID {a_auth.pid})"
            f" for another database, {(a / 'sparkq.db').resolve()}. Two projects need separate watcher folders:"
            " set watcher.tmp_dir in this project's sparkq.yml, e.g. `watcher: {tmp_dir: .sparkq-tmp}`"
        )

        # B's watcher of a stream A does not have runs beside A's, and says how its worker waits
        b_billing = start_watch(b, "billing")
        assert wait_for(lambda: lock_pid(shared / "sparkq-billing.lock") == b_billing.pid, timeout=10)
        assert wait_for(lambda: "Watching" in (b / "watch-billing.log").read_text())
        assert (
            f"Worker wait command: touch {shared}/sparkq-billing-done && cat {shared}/sparkq-billing-pipe"
            " >/dev/null && sparkq claim --stream billing\n"
        ) in (b / "watch-billing.log").read_text()

        # B's `stop --stream auth` leaves A's watcher alone, and says whose it is
        not_ours = sparkq_in(b, "stop", "--stream", "auth")
        assert not_ours.returncode == 1
        assert not_ours.stderr == (
            f"Error: No watcher for stream auth serves this database ({b.resolve() / 'sparkq.db'}); the one running"
            f" in {shared} (PID {a_auth.pid}) serves {(a / 'sparkq.db').resolve()}, so it is left alone\n"
        )
        assert a_auth.poll() is None

        # B's `stop` stops B's watchers only
        everything = sparkq_in(b, "stop")
        assert everything.returncode == 0, everything.stderr
        assert f"Watcher for stream billing stopped (PID {b_billing.pid})\n" in everything.stdout
        assert "auth" not in everything.stdout
        assert b_billing.wait(timeout=10) == 0
        assert a_auth.poll() is None

        # B's teardown deletes B's watcher files and leaves A's watcher and files
        (shared / "sparkq-auth-done").touch()  # A's worker is idle, waiting on A's FIFO
        torn = subprocess.run(
            [str(b / "teardown.sh"), "-y"],
            cwd=b,
            env=sparkq_env({"PYTHON": sys.executable}),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert torn.returncode == 0, torn.stderr
        assert f"Left alone in {shared} (another database's watchers): auth" in torn.stdout
        assert a_auth.poll() is None
        assert sorted(p.name for p in shared.iterdir()) == [
            "sparkq-auth-done",
            "sparkq-auth-pipe",
            "sparkq-auth.database",
            "sparkq-auth.lock",
        ]
        assert lock_pid(shared / "sparkq-auth.lock") == a_auth.pid
        assert not (b / "sparkq.db").exists()
    finally:
        assert stop(a_auth) == 0
        if b_billing is not None:
            stop(b_billing)
    assert not (shared / "sparkq-auth.lock").exists()


def test_a_stopped_projects_files_still_refuse_another_project_until_it_tears_down(tmp_path: Path) -> None:
    shared = tmp_path / "shared-watchers"
    a = tmp_path / "a"
    shutil.copytree(REPO, a, ignore=IGNORED, symlinks=True)
    project(a, shared, ("auth",))
    b = project(tmp_path / "b", shared, ("auth",))
    a_auth = start_watch(a, "auth")
    try:
        assert wait_for(lambda: lock_pid(shared / "sparkq-auth.lock") == a_auth.pid, timeout=10)
    finally:
        assert stop(a_auth) == 0
    # A's worker may still wait on the FIFO: B would wake it for B's work
    refused = sparkq_in(b, "watch", "auth")
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        f"Error: The watcher files of stream auth in {shared} belong to another database, {(a / 'sparkq.db').resolve()}"
    )
    assert refused.stderr.rstrip().endswith("or, if that project is done with them, run its teardown.sh")
    torn = subprocess.run(
        [str(a / "teardown.sh"), "-y"],
        cwd=a,
        env=sparkq_env({"PYTHON": sys.executable}),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert torn.returncode == 0, torn.stderr
    assert list(shared.iterdir()) == []
    b_auth = start_watch(b, "auth")
    try:
        assert wait_for(lambda: lock_pid(shared / "sparkq-auth.lock") == b_auth.pid, timeout=10)
    finally:
        assert stop(b_auth) == 0


def test_with_its_own_tmp_dir_a_second_project_watches_the_same_stream_and_its_worker_wakes(tmp_path: Path) -> None:
    shared = tmp_path / "shared-watchers"
    a = project(tmp_path / "a", shared, ("auth",))
    b = project(tmp_path / "b", shared, ("auth",))
    (b / "sparkq.yml").write_text("watcher: {tmp_dir: .sparkq-tmp, idle_poll_seconds: 1, busy_poll_seconds: 2}\n")
    (b / ".sparkq-tmp").mkdir()
    a_auth, b_auth, worker = start_watch(a, "auth"), start_watch(b, "auth"), None
    try:
        assert wait_for(lambda: lock_pid(shared / "sparkq-auth.lock") == a_auth.pid, timeout=10)
        assert wait_for(lambda: lock_pid(b / ".sparkq-tmp" / "sparkq-auth.lock") == b_auth.pid, timeout=10)
        assert wait_for(lambda: "Worker wait command: " in (b / "watch-auth.log").read_text())
        log = (b / "watch-auth.log").read_text()
        wait_cmd = log.partition("Worker wait command: ")[2].splitlines()[0]
        assert wait_cmd == (
            f"touch {b.resolve()}/.sparkq-tmp/sparkq-auth-done"
            f" && cat {b.resolve()}/.sparkq-tmp/sparkq-auth-pipe >/dev/null"
            " && sparkq claim --stream auth"
        )
        # the printed command, run literally by B's worker, is woken by B's watcher for B's task
        worker = subprocess.Popen(
            ["bash", "-c", wait_cmd], cwd=b, stdout=subprocess.PIPE, env=sparkq_env(), start_new_session=True
        )
        assert wait_for(lambda: (b / ".sparkq-tmp" / "sparkq-auth-done").exists())
        task_id = sparkq_in(b, "enqueue", "run-bash", '{"script": "x"}', "--stream", "auth").stdout.strip()
        out = worker.communicate(timeout=15)[0].decode()
        assert json.loads(out)["id"] == task_id
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)  # bash and the `cat` it runs, both ours
            worker.wait()
        assert stop(a_auth) == 0
        assert stop(b_auth) == 0


def test_stop_stream_never_signals_a_process_that_merely_has_the_pid_in_the_lockfile(
    workdir: Path, tmp_dir: Path, sparkq: RunSparkq
) -> None:
    # a dead watcher's PID, reused by a process whose command line even says sparkq; it holds no lock
    imposter = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "sparkq-watch"])
    try:
        (tmp_dir / "sparkq-a.lock").write_text(f"{imposter.pid}\n")
        (tmp_dir / "sparkq-a.database").write_text(f"{(workdir / 'sparkq.db').resolve()}\n")
        result = sparkq("stop", "--stream", "a")
        assert (result.returncode, result.stderr) == (1, "Error: No watcher running for stream a\n")
        everything = sparkq("stop")
        assert f"PID {imposter.pid}" not in everything.stdout
        assert imposter.poll() is None
        assert not (tmp_dir / "sparkq-a.lock").exists()  # stale: nobody held it
    finally:
        imposter.kill()
        imposter.wait()
