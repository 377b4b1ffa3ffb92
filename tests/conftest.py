"""Fixtures shared by every test tier."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

#: fixtures started only by tests that ask for them: the PostgreSQL cluster (pg_cluster, pg_url) and
#: headless Chromium (browser, page)
pytest_plugins = ["tests.postgres_support", "tests.integration.webui_support"]

#: the real console script of the environment running the tests (never a PATH lookup or shim)
SPARKQ = str(Path(sys.executable).parent / "sparkq")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the `slow` tests first: spread over the workers of scripts/test, none of them is left to end the run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: otherwise in file order


@pytest.fixture(scope="session", autouse=True)
def _private_settings_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the settings cache of every process the tests start out of the user's ~/.cache."""
    os.environ["SPARKQ_CACHE_DIR"] = str(tmp_path_factory.mktemp("settings-cache"))


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARKQ_") or k == "SPARKQ_CACHE_DIR"}
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def unmeasured(env: dict[str, str]) -> dict[str, str]:
    """`env` without coverage's start-up variables, for a child whose imported modules a test checks.

    Under `scripts/check` every child process measures itself, and coverage's own imports (sqlite3
    for its data file, decimal) would be counted as the child's.
    """
    return {k: v for k, v in env.items() if k not in ("COVERAGE_PROCESS_START", "COVERAGE_PROCESS_CONFIG")}


RunSparkq = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty project folder; commands run here see no sparkq.yml unless a test writes one."""
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def run_in_process(
    args: tuple[str, ...], *, cwd: Path, input: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `sparkq ARGS` as the console script would, in this process: its exit code, stdout and stderr.

    What a child would have of its own is set for the call and put back after: the working folder,
    the environment (`_clean_env`), standard input, and output pipes (UTF-8, strict on stdout and
    backslash-escaping on stderr, as Python sets up pipes).
    """
    from sparkq_entry.cli import main

    stdout, stderr = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(stdout, encoding="utf-8", errors="strict", newline="\n", write_through=True)
    err = io.TextIOWrapper(stderr, encoding="utf-8", errors="backslashreplace", newline="\n", write_through=True)
    stdin = io.TextIOWrapper(io.BytesIO(input.encode("utf-8")), encoding="utf-8")
    saved_env, saved_cwd, saved_stdin = dict(os.environ), os.getcwd(), sys.stdin
    os.environ.clear()
    os.environ.update(_clean_env(env))
    os.chdir(cwd)
    sys.stdin = stdin
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # what the interpreter would turn into the exit code
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdin = saved_stdin
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(
        [SPARKQ, *args], code, stdout.getvalue().decode("utf-8"), stderr.getvalue().decode("utf-8")
    )


@pytest.fixture
def sparkq(workdir: Path, request: pytest.FixtureRequest) -> RunSparkq:
    """Run the real `sparkq` console script in `workdir`: sparkq("peek", "--stream", "s").

    Under the `in_process` mark the same command runs in this process instead (`run_in_process`):
    for tests of what a command says and does, not of the process it runs in.
    """
    if request.node.get_closest_marker("in_process") is not None:

        def run_here(
            *args: str,
            input: str | None = None,
            cwd: Path | None = None,
            env: dict[str, str] | None = None,
            timeout: float = 60,
        ) -> subprocess.CompletedProcess[str]:
            return run_in_process(args, cwd=cwd or workdir, input=input or "", env=env)

        return run_here

    def run(
        *args: str,
        input: str | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SPARKQ, *args],
            cwd=cwd or workdir,
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env=_clean_env(env),
            timeout=timeout,
        )

    return run
