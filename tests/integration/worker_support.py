"""Helpers for the watcher / worker-loop tests: a config with short polls, processes stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.conftest import SPARKQ, _clean_env

ROOT = Path(__file__).resolve().parents[2]
WATCHER_SH = ROOT / "sparkq-watcher.sh"


def write_config(folder: Path, tmp_dir: Path, *, idle: float = 1, busy: float = 2) -> Path:
    """A sparkq.yml in `folder` whose watchers use `tmp_dir` and short poll intervals."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    config = folder / "sparkq.yml"
    config.write_text(
        f"watcher:\n  tmp_dir: {tmp_dir}\n  idle_poll_seconds: {idle}\n  busy_poll_seconds: {busy}\n",
        encoding="utf-8",
    )
    return config


def sparkq_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The tests' clean environment with the venv's `sparkq` first on PATH (for scripts)."""
    env = _clean_env(extra)
    env["PATH"] = f"{Path(SPARKQ).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def start(args: Sequence[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(list(args), cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env or sparkq_env())


def start_watch(folder: Path, stream: str) -> subprocess.Popen[bytes]:
    return start([SPARKQ, "watch", stream], folder, folder / f"watch-{stream}.log")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Stop a process we started (by its PID), killing it if it does not exit within 10 s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return proc.returncode


def is_fifo(path: Path) -> bool:
    import stat

    return path.exists() and stat.S_ISFIFO(path.lstat().st_mode)
