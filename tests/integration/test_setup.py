"""`sparkq setup` through the real console script: on a pseudo-terminal, with --defaults, and without a terminal."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import attrs
import pexpect
import pytest
import yaml

from sparkq_adapters import config
from tests.conftest import RunSparkq

SPARKQ = str(Path(sys.executable).parent / "sparkq")
EXAMPLE = Path(__file__).resolve().parents[2] / "sparkq.yml.example"


def terminal_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARKQ_")}
    env.update(NO_COLOR="1", TERM="dumb", COLUMNS="100")
    return env


def spawn(workdir: Path, *args: str) -> pexpect.spawn:
    child = pexpect.spawn(SPARKQ, ["setup", *args], cwd=str(workdir), env=terminal_env(), encoding="utf-8", timeout=15)
    child.setwinsize(40, 100)
    return child


def answer(child: pexpect.spawn, question: str, reply: str) -> None:
    child.expect_exact(question)
    child.sendline(reply)


def finish(child: pexpect.spawn) -> tuple[int, str]:
    child.expect(pexpect.EOF)
    before = child.before
    child.close()
    assert child.exitstatus is not None
    return child.exitstatus, before


def project_row(db: Path) -> tuple[str, str | None, str | None]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name, repo_path, prd_path FROM projects").fetchall()
    assert len(rows) == 1
    return rows[0]


def read_config(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_interactive_setup_asks_every_question_reasks_bad_answers_and_writes_config_and_db(workdir: Path) -> None:
    (workdir / "scripts").mkdir()
    (workdir / "docs").mkdir()
    (workdir / "docs" / "PRD.md").write_text("# PRD\n")
    child = spawn(workdir)
    answer(child, f"Project name [{workdir.name}]: ", "shop")
    answer(child, f"Repository path [{workdir}]: ", "/no/such/folder")
    answer(child, "is not an existing folder", "")
    answer(child, "PRD path, relative to the repository (optional): ", "docs/missing.md")
    answer(child, "No file at", "docs/PRD.md")
    answer(child, "Script folder 1 (empty to finish): ", "scripts")
    answer(child, "Script folder 2 (empty to finish): ", "tools")
    child.expect_exact("does not exist yet")
    answer(child, "Script folder 3 (empty to finish): ", "")
    answer(child, "Timeout of FAST_SCRIPT tasks, in seconds [30]: ", "soon")
    answer(child, "'soon' is not a whole number", "15")
    answer(child, "Timeout of MEDIUM_SCRIPT tasks, in seconds [300]: ", "")
    answer(child, "Timeout of LLM_LITE tasks, in seconds [300]: ", "0")
    answer(child, "Use a timeout from 1 to", "200")
    answer(child, "Timeout of LLM_HEAVY tasks, in seconds [900]: ", "1800")
    answer(child, "Server port [8420]: ", "abc")
    answer(child, "'abc' is not a whole number; give a port number", "70000")
    answer(child, "70000 is not a port number", "9123")
    status, out = finish(child)
    assert status == 0, out
    assert f"Wrote {workdir / 'sparkq.yml'}" in out
    assert "sparkq session create" in out

    written = read_config(workdir / "sparkq.yml")
    assert written["project"] == {"name": "shop", "repo_path": str(workdir.resolve()), "prd_path": "docs/PRD.md"}
    assert written["server"] == {"port": 9123}
    assert written["script_dirs"] == ["scripts", "tools"]
    assert written["task_classes"] == {
        "FAST_SCRIPT": {"timeout": 15},
        "MEDIUM_SCRIPT": {"timeout": 300},
        "LLM_LITE": {"timeout": 200},
        "LLM_HEAVY": {"timeout": 1800},
    }
    assert "run-bash" in written["tools"]
    assert project_row(workdir / "sparkq.db") == ("shop", str(workdir.resolve()), "docs/PRD.md")


def test_interactive_setup_on_existing_config_asks_before_overwriting(workdir: Path, sparkq: RunSparkq) -> None:
    assert sparkq("setup", "--defaults", "--project-name", "first").returncode == 0
    before = (workdir / "sparkq.yml").read_text()
    child = spawn(workdir)
    answer(child, "already exists. Overwrite it? [y/N]: ", "n")
    status, out = finish(child)
    assert status == 0
    assert "Nothing written" in out
    assert (workdir / "sparkq.yml").read_text() == before


def test_interactive_rerun_offers_current_values_and_updates_the_project_row(workdir: Path, sparkq: RunSparkq) -> None:
    assert (
        sparkq("setup", "--defaults", "--project-name", "first", "--port", "9001", "--script-dir", "s1").returncode == 0
    )
    child = spawn(workdir)
    answer(child, "Overwrite it? [y/N]: ", "y")
    answer(child, "Project name [first]: ", "second")
    answer(child, "Repository path", "")
    answer(child, "PRD path", "")
    child.expect_exact("Currently: s1.")
    answer(child, "Script folder 1 (empty to finish): ", "")
    for cls in ("FAST_SCRIPT", "MEDIUM_SCRIPT", "LLM_LITE", "LLM_HEAVY"):
        answer(child, f"Timeout of {cls} tasks", "")
    answer(child, "Server port [9001]: ", "")
    status, out = finish(child)
    assert status == 0, out
    written = read_config(workdir / "sparkq.yml")
    assert written["project"]["name"] == "second"
    assert written["server"]["port"] == 9001
    assert written["script_dirs"] == ["s1"]
    assert project_row(workdir / "sparkq.db")[0] == "second"


def test_end_of_input_cancels_without_writing(workdir: Path) -> None:
    child = spawn(workdir)
    child.expect_exact("Project name")
    child.sendeof()
    status, out = finish(child)
    assert status == 1
    assert "Setup cancelled" in out
    assert not (workdir / "sparkq.yml").exists()


def test_defaults_on_a_terminal_asks_nothing(workdir: Path) -> None:
    child = spawn(workdir, "--defaults")
    status, out = finish(child)
    assert status == 0, out
    assert "?" not in out and "[" not in out.split("Wrote")[0]
    assert read_config(workdir / "sparkq.yml")["project"]["name"] == workdir.name


def test_defaults_without_terminal_writes_default_config_db_and_project(workdir: Path, sparkq: RunSparkq) -> None:
    result = sparkq("setup", "--defaults")
    assert result.returncode == 0, result.stderr
    written = read_config(workdir / "sparkq.yml")
    assert written["server"] == {"port": 8420}
    assert written["database"] == {"path": "sparkq.db", "mode": "wal"}
    assert written["script_dirs"] == ["scripts", "tools"]
    assert written["task_classes"]["LLM_HEAVY"] == {"timeout": 900}
    assert project_row(workdir / "sparkq.db") == (workdir.name, str(workdir.resolve()), None)
    # the written file is what the other commands now read
    assert sparkq("tools", "--json").returncode == 0


def test_defaults_write_the_values_of_the_shipped_example_key_by_key(workdir: Path, sparkq: RunSparkq) -> None:
    assert sparkq("setup", "--defaults").returncode == 0
    written = read_config(workdir / "sparkq.yml")
    example = read_config(EXAMPLE)
    # the example's project is made up; setup names the project after its folder
    assert written.pop("project") == {"name": workdir.name, "repo_path": str(workdir.resolve())}
    del example["project"]
    assert list(written) == list(example)
    for key, value in example.items():
        assert written[key] == value, key
    # and both are what SparkQ runs on without any file
    parsed = config.parse((workdir / "sparkq.yml").read_text(), workdir / "sparkq.yml").file
    assert attrs.evolve(parsed, project=config.ProjectConfig()) == config.ConfigFile()


def test_flags_change_the_defaults(workdir: Path, sparkq: RunSparkq) -> None:
    result = sparkq(
        "setup",
        "--defaults",
        "--project-name",
        "api",
        "--script-dir",
        "scripts",
        "--script-dir",
        "tools",
        "--port",
        "8500",
        "--fast-timeout",
        "10",
        "--medium-timeout",
        "100",
        "--lite-timeout",
        "200",
        "--heavy-timeout",
        "2000",
    )
    assert result.returncode == 0, result.stderr
    written = read_config(workdir / "sparkq.yml")
    assert written["project"]["name"] == "api"
    assert written["script_dirs"] == ["scripts", "tools"]
    assert written["server"]["port"] == 8500
    assert [c["timeout"] for c in written["task_classes"].values()] == [10, 100, 200, 2000]


def test_without_terminal_and_without_defaults_it_refuses_at_once(workdir: Path) -> None:
    started = time.monotonic()
    # stdin is a pipe that stays open: a setup that waited for input would hang until the timeout
    proc = subprocess.Popen(
        [SPARKQ, "setup"],
        cwd=workdir,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=terminal_env(),
    )
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 2
    assert err.startswith("Error: sparkq setup asks questions, but standard input is not a terminal.")
    assert "sparkq setup --defaults" in err
    assert time.monotonic() - started < 20
    assert not (workdir / "sparkq.yml").exists()


def test_existing_config_is_kept_without_force(workdir: Path, sparkq: RunSparkq) -> None:
    assert sparkq("setup", "--defaults", "--port", "8501").returncode == 0
    result = sparkq("setup", "--defaults", "--port", "8502")
    assert result.returncode == 1
    assert result.stderr == f"Error: {workdir / 'sparkq.yml'} already exists; add --force to overwrite it\n"
    assert read_config(workdir / "sparkq.yml")["server"]["port"] == 8501
    assert sparkq("setup", "--defaults", "--port", "8502", "--force").returncode == 0
    assert read_config(workdir / "sparkq.yml")["server"]["port"] == 8502


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "0"], "Error: --port: 0 is not a port number"),
        (["--heavy-timeout", "0"], "Error: --heavy-timeout: Use a timeout from 1 to"),
        (["--repo-path", "/no/such/dir"], "Error: --repo-path: /no/such/dir is not an existing folder"),
        (["--prd-path", "missing.md"], "Error: --prd-path: No file at"),
        (["--project-name", " "], "Error: --project-name: The project name cannot be empty"),
        (["--port", "abc"], "Error: Invalid value for --port"),
    ],
)
def test_bad_flags_are_usage_errors_and_write_nothing(
    workdir: Path, sparkq: RunSparkq, args: list[str], message: str
) -> None:
    result = sparkq("setup", "--defaults", *args)
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert not (workdir / "sparkq.yml").exists()


def test_config_option_chooses_where_the_file_and_db_go(workdir: Path, sparkq: RunSparkq) -> None:
    target = workdir / "conf" / "q.yml"
    target.parent.mkdir()
    result = sparkq("--config", str(target), "setup", "--defaults")
    assert result.returncode == 0, result.stderr
    assert target.is_file()
    assert (target.parent / "sparkq.db").is_file()
    assert not (workdir / "sparkq.yml").exists()
    assert f"sparkq --config {target} session create" in result.stdout
