"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

#: the real console script of the environment running the tests (never a PATH lookup or shim)
SPARKQ = str(Path(sys.executable).parent / "sparkq")


@pytest.fixture(scope="session", autouse=True)
def _private_settings_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the settings cache of every process the tests start out of the user's ~/.cache."""
    os.environ["SPARKQ_CACHE_DIR"] = str(tmp_path_factory.mktemp("settings-cache"))


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARKQ_") or k == "SPARKQ_CACHE_DIR"}
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


RunSparkq = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty project folder; commands run here see no sparkq.yml unless a test writes one."""
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
def sparkq(workdir: Path) -> RunSparkq:
    """Run the real `sparkq` console script in `workdir`: sparkq("peek", "--stream", "s")."""

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
