"""The in-process tier says what the process tier says: the CLI run in this process and the app behind Litestar's
test client answer as the console script and a real `sparkq run` do, and leave the test process as they found it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from tests.conftest import RunSparkq, pytest_collection_modifyitems, run_in_process
from tests.integration.conftest import Server, free_port
from tests.integration.http_support import AppServer

#: commands with every kind of outcome: output, a table, stdin, a refusal (1), a usage error (2), the fast path
COMMANDS: list[tuple[tuple[str, ...], str]] = [
    (("--version",), ""),
    (("session", "create", "api-v2"), ""),
    (("stream", "create", "auth", "--session", "api-v2", "--instructions", "-"), "Add login.\nDone when it works.\n"),
    (("enqueue", "run-bash", '{"script": "a.sh"}', "--stream", "auth"), ""),
    (("enqueue", "run-bash", "{not json", "--stream", "auth"), ""),
    (("streams",), ""),
    (("peek", "--stream", "auth"), ""),
    (("claim", "--stream", "ghost"), ""),
    (("session", "create"), ""),
    (("no-such-command",), ""),
]


def outcomes(run: RunSparkq) -> list[tuple[int, str, str]]:
    seen = []
    for args, stdin in COMMANDS:
        done = run(*args, input=stdin)
        seen.append((done.returncode, normalized(done.stdout), done.stderr))
    return seen


def normalized(text: str) -> str:
    """Without the task ids and times that differ between two runs."""
    text = re.sub(r"\b([a-z]{3})_[0-9a-f]{12}\b", r"\1_ID", text)
    return re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "TIME", text)


def test_a_cli_command_run_in_process_exits_and_prints_as_the_console_script_does(
    tmp_path: Path, sparkq: RunSparkq
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    by_process = outcomes(lambda *args, input="": sparkq(*args, input=input, cwd=tmp_path / "a"))
    here = outcomes(lambda *args, input="": run_in_process(args, cwd=tmp_path / "b", input=input))
    assert here == by_process
    assert {code for code, _, _ in here} == {0, 1, 2}  # every kind of outcome was compared
    assert (tmp_path / "b" / "sparkq.db").is_file()  # where it ran, not where the test runs


def test_a_cli_command_run_in_process_leaves_the_folder_environment_and_streams_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARKQ_CONFIG", str(tmp_path / "elsewhere.yml"))  # the test's own: not the command's
    before = (os.getcwd(), dict(os.environ), sys.stdin, sys.stdout, sys.stderr)
    done = run_in_process(("session", "create", "s"), cwd=tmp_path, env={"COLUMNS": "100"})
    assert done.returncode == 0, done.stderr
    assert (os.getcwd(), dict(os.environ), sys.stdin, sys.stdout, sys.stderr) == before
    assert not (tmp_path / "elsewhere.yml").exists()


@pytest.mark.in_process
def test_the_sparkq_fixture_runs_in_this_process_under_the_mark(
    sparkq: RunSparkq, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sparkq_entry.cli

    calls: list[tuple[list[str], str]] = []
    real_main = sparkq_entry.cli.main

    def main(argv: list[str]) -> int:
        calls.append((argv, os.getcwd()))
        return real_main(argv)

    monkeypatch.setattr(sparkq_entry.cli, "main", main)
    assert sparkq("session", "create", "s").returncode == 0
    assert calls == [(["session", "create", "s"], str(workdir))]  # the console script's main, here
    assert (workdir / "sparkq.db").is_file()


def test_the_sparkq_fixture_runs_the_console_script_without_the_mark(sparkq: RunSparkq) -> None:
    done = sparkq("--version")
    assert done.args[0].endswith("/sparkq") and done.returncode == 0
    assert isinstance(done, subprocess.CompletedProcess)


def answers(client: httpx.Client) -> list[tuple[int, Any]]:
    """What a client sees for requests of every kind: reads, writes, refusals, a guard refusal, an unknown route."""
    seen: list[tuple[int, Any]] = []
    for method, path, body, headers in [
        ("GET", "/health", None, {}),
        ("POST", "/api/sessions", {"name": "s"}, {}),
        ("POST", "/api/sessions", {"name": "s"}, {}),
        ("POST", "/api/streams", {"name": "st", "session": "s"}, {}),
        ("POST", "/api/tasks", {"stream": "st", "tool_name": "run-bash", "payload": {}}, {}),
        ("POST", "/api/tasks", {"stream": "st", "tool_name": "nope", "payload": {}}, {}),
        ("POST", "/api/sessions", {"name": "t"}, {"origin": "http://evil.example"}),
        ("POST", "/api/sessions", None, {"content-type": "text/plain"}),
        ("GET", "/api/nothing-here", None, {}),
        ("DELETE", "/health", None, {}),
    ]:
        response = client.request(method, path, json=body, headers=headers)
        shape = response.json() if response.content else None
        seen.append((response.status_code, scrub(shape)))
    return seen


def scrub(value: Any) -> Any:
    """Without ids and times, which differ between two servers."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return normalized(value) if isinstance(value, str) else value


def answers_then_stop(server: Server | AppServer) -> list[tuple[int, Any]]:
    """Collect what `answers` sees from a server, then stop it (also when a request fails)."""
    try:
        with server.client() as client:
            return answers(client)
    finally:
        server.stop()


def test_the_app_in_process_answers_as_a_real_server_does(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "here").mkdir()
    by_process = answers_then_stop(Server(tmp_path / "real", free_port()))
    in_process = answers_then_stop(AppServer(tmp_path / "here", free_port()))
    assert in_process == by_process
    assert {status for status, _ in in_process} == {200, 201, 400, 403, 404, 405, 409, 415}


@pytest.mark.in_process
def test_the_server_fixture_is_the_app_in_this_process_under_the_mark(server: Server, workdir: Path) -> None:
    assert isinstance(server, AppServer) and server.folder == workdir
    with server.client() as api:
        status = api.get("/api/status").json()
    assert status["server"]["pid"] == server.pid == os.getpid()
    assert status["server"]["port"] == server.port
    assert (workdir / "sparkq.db").is_file()


def test_slow_tests_are_started_first_and_the_rest_keep_their_order() -> None:
    def item(name: str, slow: bool) -> Any:
        return SimpleNamespace(name=name, get_closest_marker=lambda mark: object() if slow and mark == "slow" else None)

    items = [item("a", False), item("b", True), item("c", False), item("d", True)]
    pytest_collection_modifyitems(items)
    assert [i.name for i in items] == ["b", "d", "a", "c"]
