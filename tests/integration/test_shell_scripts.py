"""setup.sh and teardown.sh, each run in a temporary copy of the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.wheelhouse import build_wheelhouse

REPO = Path(__file__).resolve().parents[2]
IGNORED = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    "*.pyc",
    "*.egg-info",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    "sparkq.db*",
    "sparkq.lock",
    "sparkq.yml",
    "test-artifacts",
    "node_modules",
    "build",
    "dist",
)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(REPO, target, ignore=IGNORED, symlinks=True)
    return target


def script_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARKQ_", "VIRTUAL_ENV"))}
    env.update(extra)
    return env


HOLD_AND_EXEC = """
import fcntl, os, signal, sys
path, argv0, ignore_term = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.write(fd, f"{os.getpid()}\\n".encode())
os.set_inheritable(fd, True)  # the lock stays with this PID through the exec
if ignore_term:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
os.execv("/bin/sleep", [argv0, "60"])
"""


def start(argv0: str, *, ignore_term: bool = False, hold: Path | None = None) -> subprocess.Popen[bytes]:
    """A `sleep 60` whose command line reads `argv0`; with `hold`, it holds that lockfile as SparkQ does.

    Holding is an exclusive flock kept for the process's life, with its PID as the file's only line.
    """
    if hold is not None:
        argv = [sys.executable, "-c", HOLD_AND_EXEC, str(hold), argv0, "1" if ignore_term else "0"]
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    trap = "trap '' TERM; " if ignore_term else ""
    return subprocess.Popen(["bash", "-c", f"{trap}exec -a {argv0} sleep 60"], stdin=subprocess.DEVNULL)


def run_teardown(repo_copy: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The copy's `teardown.sh` with `args`, no terminal, bounded in time."""
    return subprocess.run(
        ["bash", str(repo_copy / "teardown.sh"), *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        env=script_env(PYTHON=sys.executable),
    )


def wait_started(proc: subprocess.Popen[bytes], argv0: str) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        out = subprocess.run(["ps", "-o", "args=", "-p", str(proc.pid)], capture_output=True, text=True).stdout
        if out.startswith(argv0):
            return
        time.sleep(0.02)
    raise AssertionError(f"{argv0} did not start")


def test_teardown_stops_server_and_watchers_and_deletes_what_sparkq_made(repo_copy: Path, tmp_path: Path) -> None:
    wtmp = tmp_path / "wtmp"
    wtmp.mkdir()
    (repo_copy / "sparkq.yml").write_text(f"database: {{path: data/q.db}}\nwatcher:\n  tmp_dir: {wtmp}/\n")
    data = repo_copy / "data"
    data.mkdir()
    for name in ("q.db", "q.db-wal", "q.db-shm", "q.db-writer"):
        (data / name).write_bytes(b"x")
    (repo_copy / ".venv" / "bin").mkdir(parents=True)

    server = start("sparkq-server-under-test", hold=data / "sparkq.lock")
    # a watcher that needs the SIGKILL after 5 s
    stubborn = start("sparkq-watch-under-test", ignore_term=True, hold=wtmp / "sparkq-auth.lock")
    stranger = start("not-ours-under-test")  # a PID reused by someone else: never touched
    procs = [server, stubborn, stranger]
    try:
        for proc, name in zip(procs, ("sparkq-server", "sparkq-watch", "not-ours"), strict=True):
            wait_started(proc, name)
        (data / "sparkq.port").write_text("8420\n")  # the running server's port, beside its lockfile
        (wtmp / "sparkq-other.lock").write_text(f"{stranger.pid}\n")  # names it, but nobody holds it
        os.mkfifo(wtmp / "sparkq-auth-pipe")
        (wtmp / "sparkq-auth-done").touch()
        # the watcher files serve this database (by another path to it, too)
        (wtmp / "sparkq-auth.database").write_text(f"{data / 'q.db'}\n")
        (repo_copy / "data-link").symlink_to(data)
        (wtmp / "sparkq-other.database").write_text(f"{repo_copy / 'data-link' / 'q.db'}\n")
        # another project's watcher files in the same folder stay
        foreign = ["sparkq-foreign.lock", "sparkq-foreign-pipe", "sparkq-foreign-done", "sparkq-foreign.database"]
        for name in foreign:
            (wtmp / name).write_text(f"{tmp_path / 'elsewhere' / 'sparkq.db'}\n")
        (wtmp / "unrelated.txt").touch()
        (wtmp / "sparkq-cache").mkdir()

        started = time.monotonic()
        result = run_teardown(repo_copy, cwd=tmp_path)
        elapsed = time.monotonic() - started

        assert result.returncode == 0, result.stderr
        assert server.wait(timeout=2) == -15  # SIGTERM
        assert stubborn.wait(timeout=2) == -9  # SIGKILL, after the grace period
        # the SIGKILL came after the grace period (a lower bound only: a loaded machine is slower, never faster)
        assert f"PID {stubborn.pid} did not exit within 5 s; sending SIGKILL" in result.stdout
        assert elapsed > 4.5
        assert stranger.poll() is None
        assert f"No process holds {wtmp}/sparkq-other.lock (that watcher is not running)" in result.stdout

        assert sorted(p.name for p in data.iterdir()) == []
        assert sorted(p.name for p in wtmp.iterdir()) == sorted(["sparkq-cache", "unrelated.txt", *foreign])
        assert f"Left alone in {wtmp} (another database's watchers): foreign" in result.stdout
        assert not (repo_copy / ".venv").exists()
        assert (repo_copy / "sparkq.yml").exists()
        assert result.stdout.rstrip().endswith(f"The folder {repo_copy} can now be deleted.")
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_teardown_never_stops_a_process_whose_pid_is_only_written_in_sparkq_lock(
    repo_copy: Path, tmp_path: Path
) -> None:
    (repo_copy / "sparkq.yml").write_text(f"watcher: {{tmp_dir: {tmp_path / 'empty'}}}\n")
    # a dead server's PID, reused by a process whose command line even says sparkq
    reused = start("sparkq-server-under-test")
    try:
        wait_started(reused, "sparkq-server")
        (repo_copy / "sparkq.lock").write_text(f"{reused.pid}\n")
        result = run_teardown(repo_copy, "-y")
        assert result.returncode == 0, result.stderr
        assert f"No process holds {repo_copy}/sparkq.lock (the server is not running)" in result.stdout
        assert reused.poll() is None
        assert not (repo_copy / "sparkq.lock").exists()
    finally:
        reused.kill()
        reused.wait()


def test_teardown_with_nothing_to_do_succeeds(repo_copy: Path, tmp_path: Path) -> None:
    (repo_copy / "sparkq.yml").write_text(f"watcher: {{tmp_dir: {tmp_path / 'empty'}}}\n")
    result = run_teardown(repo_copy, "-y")
    assert result.returncode == 0, result.stderr
    assert "Nothing to delete." in result.stdout


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels of what `.[test]` installs, from this venv (tests/integration/wheelhouse.py)."""
    return build_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


@pytest.mark.slow
def test_setup_creates_a_working_venv_and_is_idempotent(repo_copy: Path, wheelhouse: Path) -> None:
    # setup.sh's own `pip install -e ".[test]"` resolves and installs every package, from the
    # wheelhouse instead of an index (no download), without compiling .pyc files ahead of imports
    env = script_env(PYTHON=sys.executable, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse), PIP_COMPILE="0")
    first = subprocess.run(
        ["bash", str(repo_copy / "setup.sh")],
        cwd=repo_copy.parent,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Creating a virtual environment" in first.stdout
    assert "Next:" in first.stdout

    venv_python = repo_copy / ".venv" / "bin" / "python"
    where = subprocess.run(
        # everything the test suite needs, the benchmarks' peers included (test_bench_smoke runs them)
        [
            str(venv_python),
            "-c",
            "import sparkq_adapters, pytest, huey, litequeue, persistqueue; print(sparkq_adapters.__file__)",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert Path(where.stdout.strip()).is_relative_to(repo_copy / "src")  # editable, from this copy
    version = subprocess.run([str(repo_copy / ".venv" / "bin" / "sparkq"), "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == "0.1.0"

    again = subprocess.run(
        ["bash", str(repo_copy / "setup.sh")],
        cwd=repo_copy,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Using the existing virtual environment" in again.stdout
    assert "already installed" in again.stdout  # nothing was downloaded or built again

    # a venv that lacks a package the suite needs is completed by what is installed, not by a timestamp
    subprocess.run([str(venv_python), "-m", "pip", "uninstall", "-y", "-q", "litequeue"], check=True, env=env)
    shutil.copy2(REPO / "scripts" / "venv", repo_copy / "scripts" / "venv")  # IGNORED's "venv" left it out
    healed = subprocess.run(
        [str(repo_copy / "scripts" / "venv")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert "missing: litequeue" in healed.stderr
    subprocess.run([str(venv_python), "-c", "import litequeue"], check=True, env=env)


def test_setup_refuses_a_python_older_than_3_11(repo_copy: Path, tmp_path: Path) -> None:
    fake = tmp_path / "python-old"
    fake.write_text("#!/bin/sh\n[ \"$1\" = -V ] && echo 'Python 3.9.0' && exit 0\nexit 1\n")
    fake.chmod(0o755)
    result = subprocess.run(
        ["bash", str(repo_copy / "setup.sh")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        env=script_env(PYTHON=str(fake)),
    )
    assert result.returncode == 1
    assert "needs Python 3.11 or newer" in result.stderr
    assert not (repo_copy / ".venv").exists()


@pytest.mark.parametrize("script", ["setup.sh", "teardown.sh"])
def test_help_prints_the_whole_header_comment(script: str) -> None:
    lines = (REPO / script).read_text(encoding="utf-8").splitlines()
    header = [line.removeprefix("#").removeprefix(" ") for line in lines[1 : lines.index("set -euo pipefail")]]
    shown = subprocess.run([str(REPO / script), "--help"], capture_output=True, text=True, timeout=30, check=True)
    assert shown.stdout.splitlines() == header
