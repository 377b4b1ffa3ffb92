"""One version, from the package's metadata: `sparkq --version` and the OpenAPI document agree with it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sparkq_adapters import version as versions

from .http_support import local_api

if TYPE_CHECKING:
    from tests.conftest import RunSparkq

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def installed_as_9_9_9(tmp_path: Path) -> Path:
    """A folder holding the metadata of a `sparkq` 9.9.9: first on the path, it is the installed version."""
    folder = tmp_path / "site"
    info = folder / "sparkq-9.9.9.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sparkq\nVersion: 9.9.9\n")
    return folder


@pytest.fixture
def fresh_lookup() -> Iterator[None]:
    versions.version.cache_clear()
    yield
    versions.version.cache_clear()


def test_cli_version_is_the_installed_packages(sparkq: RunSparkq, installed_as_9_9_9: Path) -> None:
    result = sparkq("--version", env={"PYTHONPATH": str(installed_as_9_9_9)})
    assert (result.returncode, result.stdout, result.stderr) == (0, "9.9.9\n", "")


def test_openapi_version_is_the_installed_packages(
    workdir: Path, installed_as_9_9_9: Path, fresh_lookup: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(installed_as_9_9_9))
    with local_api(workdir) as client:
        assert client.get("/schema/openapi.json").json()["info"]["version"] == "9.9.9"


def test_a_checkout_run_without_installing_reads_pyproject() -> None:
    expected = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    # -S: no site-packages, so no installed metadata; only the source folder is on the path
    code = "from sparkq_adapters.version import version; print(version())"
    run = subprocess.run(
        [sys.executable, "-S", "-c", code],
        env={"PYTHONPATH": str(REPO / "src")},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (run.returncode, run.stdout, run.stderr) == (0, f"{expected}\n", "")
    assert versions.checkout_version(REPO / "pyproject.toml") == expected


def test_without_metadata_or_project_file_the_version_says_unknown(tmp_path: Path) -> None:
    assert versions.checkout_version(tmp_path / "pyproject.toml") == versions.UNKNOWN
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert versions.checkout_version(tmp_path / "pyproject.toml") == versions.UNKNOWN
    (tmp_path / "pyproject.toml").write_text("not toml [")
    assert versions.checkout_version(tmp_path / "pyproject.toml") == versions.UNKNOWN
