"""The server halves of `sparkq status` and `sparkq reload`, against a real running server."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.integration.conftest import TLS, Server, free_port

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
        tools = httpx.get(srv.url + "/api/tools", verify=TLS).json()["tools"]
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
        assert [t["name"] for t in httpx.get(srv.url + "/api/tools", verify=TLS).json()["tools"]] == ["lint"]
    finally:
        srv.stop()


def test_reload_after_setup_reaches_a_server_started_without_a_config(workdir: Path, sparkq: RunSparkq) -> None:
    srv = Server(workdir, free_port())  # no sparkq.yml yet: the server runs on built-in defaults
    try:
        (workdir / "scripts").mkdir()
        (workdir / "scripts" / "deploy.sh").write_text("#!/bin/sh\n# name: deploy\n# description: Ship it\necho\n")
        setup = sparkq("setup", "--defaults", "--script-dir", "scripts")
        assert setup.returncode == 0, setup.stderr
        result = sparkq("reload")
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            "Reloaded sparkq.yml: 6 tools, 1 script",
            f"Server reloaded (PID {srv.proc.pid}): 6 tools, 1 script",
        ]
        assert result.stderr == ""
        assert [s["name"] for s in httpx.get(srv.url + "/api/scripts", verify=TLS).json()["scripts"]] == ["deploy"]
    finally:
        srv.stop()


def test_reload_warns_when_the_server_read_another_file_than_the_cli(workdir: Path, sparkq: RunSparkq) -> None:
    srv = Server(workdir, free_port())  # started without a file: it reloads ./sparkq.yml
    try:
        (workdir / "sparkq.yml").write_text("script_dirs: []\ntools:\n  lint: {task_class: FAST_SCRIPT}\n")
        other = workdir / "other.yml"
        other.write_text("script_dirs: []\ntools:\n  lint: {task_class: FAST_SCRIPT}\n  test: {}\n")
        result = sparkq("--config", str(other), "reload")
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1] == f"Server reloaded (PID {srv.proc.pid}): 1 tool, 0 scripts"
        assert result.stderr == (
            f"Warning: the server read {(workdir / 'sparkq.yml').resolve()}, not {other.resolve()}; "
            "restart it with this file to use it\n"
        )
    finally:
        srv.stop()
