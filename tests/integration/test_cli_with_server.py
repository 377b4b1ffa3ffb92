"""The server halves of `sparkq status` and `sparkq reload`, against a real running server."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.integration.conftest import Server, free_port

from ..conftest import RunSparkq


def test_status_reports_the_running_server_with_the_port_it_really_uses(server: Server, sparkq: RunSparkq) -> None:
    # the server was started with --port on a free port, not the configured 8420
    result = sparkq("status")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"SparkQ server: running (PID {server.proc.pid}, {server.url})"


def test_status_after_the_server_stops_says_not_running(server: Server, sparkq: RunSparkq) -> None:
    server.stop()
    assert sparkq("status").stdout.splitlines()[0] == "SparkQ server: not running"


def test_reload_also_reloads_a_running_server(workdir: Path, sparkq: RunSparkq) -> None:
    (workdir / "sparkq.yml").write_text("tools:\n  lint: {task_class: FAST_SCRIPT}\n")
    srv = Server(workdir, free_port())
    try:
        (workdir / "sparkq.yml").write_text(
            "tools:\n  lint: {task_class: FAST_SCRIPT}\n  deploy: {task_class: MEDIUM_SCRIPT, timeout: 600}\n"
        )
        result = sparkq("reload")
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            "Reloaded sparkq.yml: 2 tools, 0 scripts",
            f"Server reloaded (PID {srv.proc.pid}): 2 tools, 0 scripts",
        ]
        tools = httpx.get(srv.url + "/api/tools").json()["tools"]
        assert [(t["name"], t["timeout"]) for t in tools] == [("lint", 30), ("deploy", 600)]
    finally:
        srv.stop()


def test_reload_with_a_broken_config_changes_nothing_on_the_server(workdir: Path, sparkq: RunSparkq) -> None:
    (workdir / "sparkq.yml").write_text("tools:\n  lint: {task_class: FAST_SCRIPT}\n")
    srv = Server(workdir, free_port())
    try:
        (workdir / "sparkq.yml").write_text("tools: [unclosed\n")
        result = sparkq("reload")
        assert result.returncode == 1
        assert result.stderr.startswith("Error: Invalid YAML in sparkq.yml at line")
        assert [t["name"] for t in httpx.get(srv.url + "/api/tools").json()["tools"]] == ["lint"]
    finally:
        srv.stop()
