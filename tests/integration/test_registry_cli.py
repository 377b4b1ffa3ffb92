"""`sparkq tools`, `sparkq scripts` and `sparkq reload`, run in this process (the `in_process` mark)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import RunSparkq

pytestmark = pytest.mark.in_process

DOCUMENTED = """#!/usr/bin/env bash
# name: build-docs
# description: Build the HTML documentation of the whole project into the site folder, slowly
# inputs: none
# outputs: site/index.html
# tags: docs, build
make docs
"""

CONFIG = """\
script_dirs: [scripts, missing]
task_classes: {FAST_SCRIPT: {timeout: 20}}
tools:
  quick: {description: A quick one, task_class: FAST_SCRIPT}
  deploy:
    description: Deploy a branch to an environment
    task_class: MEDIUM_SCRIPT
    timeout: 600
    payload_template: {branch: main, environment: staging}
"""


def widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


@pytest.fixture
def scripted(workdir: Path) -> Path:
    """A project with a config and a script folder holding one of every kind of file."""
    (workdir / "sparkq.yml").write_text(CONFIG)
    folder = workdir / "scripts"
    (folder / "sub").mkdir(parents=True)
    (folder / "build-docs.sh").write_text(DOCUMENTED)
    (folder / "sub" / "plain.py").write_text("print('no header here')\n")
    (folder / "README.md").write_text("# About these scripts\n")
    (folder / "compiled.sh").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00binary")
    (folder / "gone.sh").symlink_to(folder / "deleted.sh")  # cannot be opened: a dangling link
    os.mkfifo(folder / "pipe.sh")  # opening it would block forever
    return workdir


# -- tools ---------------------------------------------------------------------------------------------


def test_tools_on_builtin_defaults_lists_the_six_tools_in_an_80_column_table(sparkq: RunSparkq) -> None:
    result = sparkq("tools")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "CLASS", "TIMEOUT", "DESCRIPTION"]
    names = [line.split()[0] for line in lines[1:]]
    assert names == ["run-bash", "run-bash-fast", "run-python", "run-migrations", "llm-haiku", "llm-sonnet"]
    assert widest(result.stdout) <= 80
    migrations = next(line for line in lines if line.startswith("run-migrations"))
    assert migrations.split()[1:3] == ["MEDIUM_SCRIPT", "1800s"]


def test_tools_json_gives_resolved_timeouts_and_templates(scripted: Path, sparkq: RunSparkq) -> None:
    result = sparkq("tools", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "name": "quick",
            "task_class": "FAST_SCRIPT",
            "timeout": 20,
            "description": "A quick one",
            "payload_template": None,
        },
        {
            "name": "deploy",
            "task_class": "MEDIUM_SCRIPT",
            "timeout": 600,
            "description": "Deploy a branch to an environment",
            "payload_template": {"branch": "main", "environment": "staging"},
        },
    ]


def test_tools_table_shows_the_payload_template_under_its_tool(scripted: Path, sparkq: RunSparkq) -> None:
    lines = sparkq("tools").stdout.splitlines()
    deploy = next(i for i, line in enumerate(lines) if line.startswith("deploy"))
    assert lines[deploy + 1].strip() == 'payload template: {"branch":"main","environment":"staging"}'
    assert lines[deploy].split()[1:3] == ["MEDIUM_SCRIPT", "600s"]


def test_tools_with_a_broken_config_is_an_error_naming_the_key(workdir: Path, sparkq: RunSparkq) -> None:
    (workdir / "sparkq.yml").write_text("tools: {x: {timeout: soon}}\n")
    result = sparkq("tools")
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: {workdir / 'sparkq.yml'}: tools.x.timeout: expected a whole number")


# -- scripts -------------------------------------------------------------------------------------------


def test_scripts_json_lists_documented_and_undocumented_scripts_only(scripted: Path, sparkq: RunSparkq) -> None:
    result = sparkq("scripts", "--json", timeout=20)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "name": "build-docs",
            "path": "scripts/build-docs.sh",
            "description": "Build the HTML documentation of the whole project into the site folder, slowly",
            "inputs": "none",
            "outputs": "site/index.html",
            "tags": ["docs", "build"],
        },
        {
            "name": "plain.py",
            "path": "scripts/sub/plain.py",
            "description": "",
            "inputs": "",
            "outputs": "",
            "tags": [],
        },
    ]


def test_scripts_warns_on_stderr_about_missing_folders_and_unreadable_files(scripted: Path, sparkq: RunSparkq) -> None:
    result = sparkq("scripts", "--json", timeout=20)
    assert result.stderr.splitlines() == [
        "Warning: Cannot read scripts/gone.sh: it is a broken symlink; skipped",
        f"Warning: Script folder missing ({scripted / 'missing'}) does not exist; skipped",
    ]


def test_scripts_table_fits_80_columns_with_details_under_each_script(scripted: Path, sparkq: RunSparkq) -> None:
    result = sparkq("scripts", timeout=20)
    assert result.returncode == 0
    assert widest(result.stdout) <= 80
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "PATH", "DESCRIPTION"]
    assert lines[1].startswith("build-docs") and "scripts/build-docs.sh" in lines[1] and lines[1].endswith("…")
    assert lines[2].strip() == "inputs: none · outputs: site/index.html · tags: docs, build"
    assert lines[3].split() == ["plain.py", "scripts/sub/plain.py", "(no", "header)"]


def test_scripts_without_script_dirs_says_how_to_configure_them(sparkq: RunSparkq, workdir: Path) -> None:
    (workdir / "sparkq.yml").write_text("script_dirs: []\n")  # the default is [scripts, tools]
    result = sparkq("scripts")
    assert result.returncode == 0
    assert result.stdout == "No script folders configured. List them under `script_dirs:` in sparkq.yml.\n"
    assert sparkq("scripts", "--json").stdout == "[]\n"


# -- reload --------------------------------------------------------------------------------------------


def test_reload_counts_tools_and_scripts(scripted: Path, sparkq: RunSparkq) -> None:
    result = sparkq("reload", timeout=20)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Reloaded sparkq.yml: 2 tools, 2 scripts\n"


def test_reload_of_a_config_without_tools_counts_the_builtin_ones(workdir: Path, sparkq: RunSparkq) -> None:
    (workdir / "sparkq.yml").write_text("server: {port: 8421}\n")
    assert sparkq("reload").stdout == "Reloaded sparkq.yml: 6 tools, 0 scripts\n"


def test_reload_without_config_file_says_not_found(workdir: Path, sparkq: RunSparkq) -> None:
    result = sparkq("reload")
    assert result.returncode == 1
    assert (
        result.stderr.splitlines()[0]
        == f"Error: sparkq.yml not found in {workdir.resolve()}; write it with `sparkq setup`"
    )
    assert "sparkq setup" in result.stderr


def test_reload_with_invalid_yaml_says_where(workdir: Path, sparkq: RunSparkq) -> None:
    (workdir / "sparkq.yml").write_text("server:\n  port: 8420\ntools: [unclosed\n")
    result = sparkq("reload")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: Invalid YAML in sparkq.yml at line 4, column 1: ")
    assert "Traceback" not in result.stderr


def test_reload_with_a_wrong_value_names_file_key_and_expectation(workdir: Path, sparkq: RunSparkq) -> None:
    (workdir / "sparkq.yml").write_text("server: {port: 99999}\n")
    result = sparkq("reload")
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: {workdir / 'sparkq.yml'}: server.port: expected a port number from 1 to 65535, got 99999\n"
    )


def test_reload_reads_the_config_given_by_the_environment(workdir: Path, sparkq: RunSparkq) -> None:
    other = workdir / "elsewhere.yml"
    other.write_text("tools: {only: {description: the one}}\n")
    result = sparkq("reload", env={"SPARKQ_CONFIG": str(other)})
    assert result.stdout == "Reloaded elsewhere.yml: 1 tool, 0 scripts\n"


def test_reload_finds_its_file_by_the_rule_of_every_command(workdir: Path, sparkq: RunSparkq) -> None:
    gone = workdir / "gone.yml"
    refused = [sparkq(command, env={"SPARKQ_CONFIG": str(gone)}) for command in ("reload", "tools")]
    assert [r.returncode for r in refused] == [1, 1]
    expected = f"Error: Config file {gone} not found; check --config / $SPARKQ_CONFIG, or run `sparkq setup`\n"
    assert [r.stderr for r in refused] == [expected, expected]
