"""The development checks are configured as the README says: strict mypy everywhere, ruff before each commit."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_is_strict_on_all_of_src() -> None:
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert mypy["files"] == ["src"] and mypy["strict"] is True
    # a per-module override could only loosen it: one that is truly needed is a decision to record here
    assert "overrides" not in mypy
    assert "ignore_missing_imports" not in mypy


def test_pre_commit_runs_the_ruff_checks_of_scripts_lint_without_fetching_hooks() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    [repo] = config["repos"]
    assert repo["repo"] == "local"  # a hook repository would be cloned from the network
    entries = {hook["entry"]: hook["language"] for hook in repo["hooks"]}
    assert entries == {
        ".venv/bin/ruff check --force-exclude": "system",
        ".venv/bin/ruff format --check --force-exclude": "system",
    }
    lint = (ROOT / "scripts" / "lint").read_text()
    assert ".venv/bin/ruff check " in lint and ".venv/bin/ruff format --check " in lint
