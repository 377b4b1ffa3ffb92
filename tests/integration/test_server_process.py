"""`sparkq run` / `sparkq stop` as real processes: lockfile, signals, ports, background sweeps."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from sparkq_entry import open_queue
from tests.fakes import FakeClock
from tests.integration.conftest import TLS, Server, free_port, pid_alive, wait_for

from ..conftest import RunSparkq


def test_run_writes_the_lockfile_with_its_pid_and_serves_health(server: Server) -> None:
    lock = server.folder / "sparkq.lock"
    assert lock.read_text() == f"{server.proc.pid}\n"
    assert (server.folder / "sparkq.port").read_text() == f"{server.port}\n"
    body = httpx.get(server.url + "/api/health", verify=TLS).json()
    assert body["status"] == "ok" and body["timestamp"].endswith("Z")
    assert "SparkQ server running at http://127.0.0.1:" in server.output()


def test_a_second_run_refuses_and_names_the_running_pid(server: Server, sparkq: RunSparkq) -> None:
    second = sparkq("run", "--port", str(free_port()))
    assert second.returncode == 1
    assert second.stderr == (
        f"Error: SparkQ server already running (PID {server.proc.pid})\nStop it first with: sparkq stop\n"
    )
    assert server.proc.poll() is None


def test_a_lockfile_of_a_dead_process_is_replaced(workdir: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    (workdir / "sparkq.lock").write_text(f"{dead.pid}\n")
    srv = Server(workdir, free_port())
    try:
        assert (workdir / "sparkq.lock").read_text().split()[0] == str(srv.proc.pid)
    finally:
        srv.stop()


def test_sigterm_and_sigint_shut_down_cleanly_and_remove_the_lockfile(workdir: Path) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        srv = Server(workdir, free_port())
        srv.proc.send_signal(sig)
        assert srv.proc.wait(timeout=10) == 0
        assert not (workdir / "sparkq.lock").exists() and not (workdir / "sparkq.port").exists()
        assert "Traceback" not in srv.output()
        assert srv.output().rstrip().endswith("SparkQ server stopped")


def test_stop_stops_the_server_and_removes_the_lockfile(server: Server, sparkq: RunSparkq) -> None:
    result = sparkq("stop")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "SparkQ server stopped\n"
    assert server.proc.wait(timeout=10) == 0
    assert not (server.folder / "sparkq.lock").exists()


def test_stop_when_not_running_is_an_error(sparkq: RunSparkq) -> None:
    result = sparkq("stop")
    assert (result.returncode, result.stderr) == (1, "Error: Server not running\n")


def test_stop_with_a_stale_lockfile_removes_it_and_kills_nothing(workdir: Path, sparkq: RunSparkq) -> None:
    bystander = subprocess.Popen(["sleep", "30"])  # alive, but not a SparkQ server
    try:
        (workdir / "sparkq.lock").write_text(f"{bystander.pid}\n")
        result = sparkq("stop")
        assert result.returncode == 1
        assert "Server not running (removed a stale lockfile)" in result.stderr
        assert pid_alive(bystander.pid) and bystander.poll() is None
        assert not (workdir / "sparkq.lock").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_a_taken_port_is_a_clear_error_and_leaves_no_lockfile(workdir: Path, sparkq: RunSparkq) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = sparkq("run", "--port", str(port))
    assert result.returncode == 1
    assert f"Error: Port {port} on 127.0.0.1 is already in use by another program" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / "sparkq.lock").exists()


def test_a_non_loopback_host_is_refused(workdir: Path, sparkq: RunSparkq) -> None:
    (workdir / "sparkq.yml").write_text("server: {host: 0.0.0.0}\n")
    result = sparkq("run", "--port", str(free_port()))
    assert result.returncode == 1
    assert "server.host: expected a loopback address" in result.stderr
    assert not (workdir / "sparkq.lock").exists()


def test_start_purges_old_finished_tasks_in_the_background(workdir: Path) -> None:
    clock = FakeClock(datetime.now(UTC) - timedelta(days=10))
    queue = open_queue(workdir / "sparkq.db", clock=clock)
    queue.create_session("s")
    queue.create_stream("st", "s")
    old = queue.enqueue("st", "run-bash", {})
    queue.claim("st")
    queue.complete(old.id, {"summary": "long ago"})
    clock.current = datetime.now(UTC)
    kept = queue.enqueue("st", "run-bash", {})

    srv = Server(workdir, free_port())
    try:
        with sqlite3.connect(workdir / "sparkq.db") as db:
            assert wait_for(lambda: db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == 1)
            assert db.execute("SELECT id FROM tasks").fetchone()[0] == kept.id
    finally:
        srv.stop()


def test_running_server_auto_fails_dead_tasks_by_itself(server: Server) -> None:
    queue = open_queue(server.folder / "sparkq.db")
    queue.create_session("s")
    queue.create_stream("st", "s")
    task = queue.enqueue("st", "run-bash", {}, timeout=1)
    queue.claim("st")

    def status() -> str:
        # read the file directly: reading through the library would itself sweep
        with sqlite3.connect(server.folder / "sparkq.db") as db:
            return str(db.execute("SELECT status FROM tasks WHERE id = ?", (task.id,)).fetchone()[0])

    assert wait_for(lambda: status() == "failed", timeout=15)
    with sqlite3.connect(server.folder / "sparkq.db") as db:
        error = db.execute("SELECT error FROM tasks WHERE id = ?", (task.id,)).fetchone()[0]
    assert error.startswith("Auto-failed: task exceeded 2x timeout (1s)")
