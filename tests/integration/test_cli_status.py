"""`sparkq status`: the server line from the lockfile and /api/health, then what is active.

What status says of the database runs in this process (the `in_process` mark); what it makes of a
lockfile, a lock held or not and a health endpoint, runs the console script.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sparkq_adapters.process import hold_lock

from .cli_support import make_stream, ok, ok_json

if TYPE_CHECKING:
    from tests.conftest import RunSparkq


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"status": "ok", "timestamp": "2026-01-01T00:00:00Z"}).encode()
        self.send_response(200 if self.path == "/api/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[int]:
    """A stand-in for the SparkQ server's health endpoint on a free loopback port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.mark.in_process
def test_status_without_lockfile_says_not_running_then_active_work(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir, instructions="Add login")
    queue.enqueue("auth", "run-bash", {})
    queue.enqueue("auth", "run-bash", {})
    queue.claim("auth")
    queue.create_session("old")
    queue.end_session("old")

    lines = ok(sparkq("status")).splitlines()
    assert lines[0] == "SparkQ server: not running"
    assert lines[1] == f"Database: {workdir.resolve() / 'sparkq.db'}"
    assert "Active sessions (1): api-v2" in lines
    assert any(line.split()[:5] == ["auth", "api-v2", "active", "1", "1"] for line in lines)
    assert lines[-1].split() == [
        "Tasks:",
        "1",
        "queued",
        "1",
        "running",
        "0",
        "succeeded",
        "0",
        "failed",
        "0",
        "cancelled",
    ]


def test_status_treats_lockfile_of_dead_process_as_not_running(sparkq: RunSparkq, workdir: Path) -> None:
    (workdir / "sparkq.lock").write_text(f"{_dead_pid()}\n")
    assert ok(sparkq("status")).splitlines()[0] == "SparkQ server: not running"
    (workdir / "sparkq.lock").write_text("garbage\n")
    assert ok(sparkq("status")).splitlines()[0] == "SparkQ server: not running"


def test_status_with_live_pid_but_no_api_says_unreachable(sparkq: RunSparkq, workdir: Path) -> None:
    (workdir / "sparkq.yml").write_text(f"server: {{port: {_free_port()}}}\n")
    with hold_lock(workdir / "sparkq.lock"):  # this process stands in for the server
        lines = ok(sparkq("status")).splitlines()
    assert lines[0] == f"SparkQ server: running but API unreachable (PID {os.getpid()})"


def test_status_believes_a_lockfile_only_while_its_lock_is_held(sparkq: RunSparkq, workdir: Path) -> None:
    # a live PID in a file nobody holds is a dead server's PID reused by someone else
    (workdir / "sparkq.lock").write_text(f"{os.getpid()}\n")
    assert ok(sparkq("status")).splitlines()[0] == "SparkQ server: not running"


def test_status_with_live_pid_and_healthy_api_says_running(
    sparkq: RunSparkq, workdir: Path, health_server: int
) -> None:
    (workdir / "sparkq.yml").write_text(f"server: {{port: {health_server}}}\n")
    with hold_lock(workdir / "sparkq.lock"):
        assert ok(sparkq("status")).splitlines()[0] == (
            f"SparkQ server: running (PID {os.getpid()}, http://127.0.0.1:{health_server})"
        )
        report = ok_json(sparkq("status", "--json"))
    assert report["server"] == {"state": "running", "pid": os.getpid(), "url": f"http://127.0.0.1:{health_server}"}


def test_status_shows_a_server_on_localhost_at_the_address_sparkq_run_gives(
    sparkq: RunSparkq, workdir: Path, health_server: int
) -> None:
    # `localhost` binds 127.0.0.1: `sparkq run`, `sparkq status` and /api/status give that URL alike
    (workdir / "sparkq.yml").write_text(f"server: {{host: localhost, port: {health_server}}}\n")
    with hold_lock(workdir / "sparkq.lock"):
        report = ok_json(sparkq("status", "--json"))
    assert report["server"]["url"] == f"http://127.0.0.1:{health_server}"


@pytest.mark.in_process
def test_status_json_has_server_sessions_streams_and_counts(sparkq: RunSparkq, workdir: Path) -> None:
    queue = make_stream(workdir)
    queue.enqueue("auth", "run-bash", {})
    report = ok_json(sparkq("status", "--json"))
    assert report["server"] == {"state": "not running", "pid": None, "url": None}
    assert [s["name"] for s in report["sessions"]] == ["api-v2"]
    assert [(s["name"], s["task_counts"]["queued"]) for s in report["streams"]] == [("auth", 1)]
    assert report["task_counts"] == {"queued": 1, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 0}
    assert report["stale"] == 0


@pytest.mark.in_process
def test_status_reports_server_state_even_when_database_is_broken(sparkq: RunSparkq, workdir: Path) -> None:
    (workdir / "sparkq.db").write_text("not a database")
    result = sparkq("status")
    assert result.returncode == 1
    assert result.stdout == "SparkQ server: not running\n"
    assert result.stderr.startswith("Error: ") and "not a SQLite database" in result.stderr
