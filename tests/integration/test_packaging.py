"""The wheel ships the web UI and what the README tells a worker to run, and both work from it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = folder.glob("sparkq-*.whl")
    return built


@pytest.fixture(scope="module")
def site(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed (`pip install --target`) into a folder of its own; the tests only read it."""
    target = tmp_path_factory.mktemp("installed") / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


def test_the_wheel_contains_the_ui_bundle_and_the_console_script(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "sparkq_webui/index.html" in names
    shipped = {n.removeprefix("sparkq_webui/") for n in names if n.startswith("sparkq_webui/")}
    on_disk = {str(p.relative_to(ROOT / "webui")) for p in (ROOT / "webui").rglob("*") if p.is_file()}
    assert on_disk <= shipped
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "sparkq = sparkq_entry.cli:run" in zipfile.ZipFile(wheel).read(entry_points).decode()


def readme_worker_commands() -> list[list[str]]:
    """The commands the README's worker-loop section tells the reader to run, as argument lists."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.partition("## The worker loop")[2].partition("\n## ")[0]
    blocks = re.findall(r"```\w*\n(.*?)```", section, re.DOTALL)
    prose = re.sub(r"```.*?```", "", section, flags=re.DOTALL)
    snippets = [m.replace("\n", " ") for m in re.findall(r"`([^`]+)`", prose)]
    for block in blocks:
        snippets += block.replace("\\\n", " ").splitlines()
    commands = []
    for snippet in snippets:
        lexer = shlex.shlex(snippet, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words: list[str] = []
        for token in [*lexer, ";"]:
            if token in ("&&", "||", ";", "|", "&"):
                if words and (words[0] == "sparkq" or words[0].startswith("./")):
                    commands.append(words)
                words = []
            elif not token.startswith(">"):
                words.append(token)
    return commands


def test_what_the_readme_tells_a_worker_to_run_comes_with_the_installed_package(site: Path) -> None:
    commands = readme_worker_commands()
    assert ["sparkq", "watch", "auth"] in commands  # the section is found and read
    installed = {str(p.relative_to(site)) for p in site.rglob("*") if p.is_file()}
    for words in commands:
        # a file the reader runs (say ./sparkq-watcher.sh) must be in what pip installed
        assert words[0] == "sparkq", f"the README runs {words[0]}, which a pip install does not have"
    subcommands = sorted({words[1] for words in commands if len(words) > 1 and not words[1].startswith("-")})
    assert {"claim", "run", "stop", "watch"} <= set(subcommands)
    # each one answers from the installed copy (not this checkout's src/)
    env = {**os.environ, "PYTHONPATH": str(site), "NO_COLOR": "1"}
    probe = (
        "import sys, sparkq_entry; from sparkq_entry.cli import run; print(sparkq_entry.__file__, flush=True); run()"
    )
    for sub in subcommands:
        out = subprocess.run(
            [sys.executable, "-c", probe, sub, "--help"], capture_output=True, text=True, env=env, timeout=60
        )
        assert out.returncode == 0, out.stderr
        where, _, usage = out.stdout.partition("\n")
        assert Path(where).is_relative_to(site)
        assert f"sparkq {sub}" in usage or "Usage" in usage
    assert "sparkq_entry/cli.py" in installed


def test_ui_dir_serves_the_checkouts_webui_over_an_installed_copy(tmp_path: Path) -> None:
    # an editable install also holds a `sparkq_webui` copy made at install time: serving it
    # would show a stale UI after every edit of webui/
    installed = tmp_path / "site" / "sparkq_webui"
    installed.mkdir(parents=True)
    (installed / "index.html").write_text("<!doctype html>")
    probe = "from sparkq_entry.asgi import ui_dir; print(ui_dir())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == str(ROOT / "webui")


def test_ui_dir_of_a_wheel_install_is_its_sparkq_webui_folder(site: Path, tmp_path: Path) -> None:
    probe = "import sparkq_entry; from sparkq_entry.asgi import ui_dir; print(sparkq_entry.__file__); print(ui_dir())"
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True, cwd=tmp_path
    )
    where, folder = out.stdout.split()
    assert Path(where).is_relative_to(site)
    assert folder == str(site / "sparkq_webui")
