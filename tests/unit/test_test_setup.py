"""How the suite runs: in several processes, and ./scripts/check holding a floor of line coverage over every process."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def command_line(script: str, program: str) -> list[str]:
    """The words of the line of scripts/`script` that runs `program`."""
    lines = [line for line in (ROOT / "scripts" / script).read_text().splitlines() if line.startswith(program)]
    assert len(lines) == 1, lines
    return shlex.split(lines[0])


def test_scripts_check_fails_under_ninety_percent_line_coverage_of_src() -> None:
    words = command_line("check", "./scripts/test")
    assert "--cov" in words
    [floor] = [int(w.split("=", 1)[1]) for w in words if w.startswith("--cov-fail-under=")]
    assert floor >= 90


def test_coverage_counts_src_in_every_python_process_the_tests_start() -> None:
    run = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["coverage"]["run"]
    assert set(run["source_pkgs"]) == {"sparkq_domain", "sparkq_adapters", "sparkq_entry"}
    assert {"subprocess", "_exit"} <= set(run["patch"])  # children, and the console script's os._exit
    assert run["sigterm"] is True  # a server stopped by SIGTERM saves its data
    # what runs from a copy (setup.sh's checkout copy, an installed wheel) counts as the same lines of src/
    paths = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["coverage"]["paths"]["source"]
    assert paths[0] == "src/" and {"*/src/", "*/site-packages/"} <= set(paths[1:])


def test_scripts_test_runs_the_suite_in_several_processes_unless_told_otherwise() -> None:
    words = command_line("test", "exec .venv/bin/python -m pytest")
    n = words.index("-n")
    assert re.fullmatch(r"\$\{SPARKQ_TEST_WORKERS:-[2-9]\}", words[n + 1]), words
