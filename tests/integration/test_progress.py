"""Progress on a terminal for long work (`sparkq purge`, the server's start-up check), quiet when piped.

In-process, over real SQLite files; the terminal is a real pseudo-terminal whose other end a
thread drains, so that the bar's output can be read back.
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TextIO

import pytest

from sparkq_adapters import config
from sparkq_adapters.cli import output
from sparkq_entry.cli import main

from .cli_support import library_queue, make_stream

#: escape sequences (colours, cursor moves) between the words of a drawn bar
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """A pseudo-terminal: `stream` is what a program writes to; `text()` what reached the screen."""

    def __init__(self) -> None:
        self._master, slave = os.openpty()
        self.stream: TextIO = open(slave, "w", encoding="utf-8")  # noqa: SIM115 (closed by `close`)
        self._got = bytearray()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # the writing end closed
                return
            if not chunk:
                return
            self._got.extend(chunk)

    def close(self) -> str:
        """Close the terminal and return all that was written to it, escape sequences removed."""
        self.stream.close()
        self._reader.join(timeout=10)
        os.close(self._master)
        return ESCAPES.sub("", self._got.decode("utf-8", "replace"))


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Terminal]:
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.delenv("TERM", raising=False)
    tty = Terminal()
    yield tty
    if not tty.stream.closed:
        tty.close()


def finished_long_ago(workdir: Path, count: int) -> None:
    """`count` tasks in `workdir`'s database that finished two days ago, and one that finished now."""
    queue = make_stream(workdir)
    then = library_queue(workdir, ago=timedelta(days=2))
    for n in range(count + 1):
        runner = queue if n == count else then
        runner.enqueue("auth", "run-bash", {"n": n})
        claimed = runner.claim("auth")
        assert claimed is not None
        runner.complete(claimed.task.id, {"summary": "ok"})


def sparkq_purge(workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """`sparkq purge --older-than 1d` in this process; its stdout."""
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("SPARKQ_CONFIG", raising=False)
    capsys.readouterr()
    assert main(["purge", "--older-than", "1d"]) == 0
    return capsys.readouterr().out


def old_project_settings(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> config.Settings:
    """Seed 3 long-finished tasks, work in `workdir` (no SPARKQ_CONFIG) and load its settings."""
    finished_long_ago(workdir, 3)
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("SPARKQ_CONFIG", raising=False)
    return config.load()


def test_the_progress_bar_is_drawn_on_a_terminal_and_left_there_when_done(terminal: Terminal) -> None:
    with output.progress_bar("Purging finished tasks", "tasks", stream=terminal.stream) as update:
        assert update is not None
        update(0, 900_000)
        update(450_000, 900_000)
        update(900_000, 900_000)
    screen = terminal.close()
    assert "Purging finished tasks" in screen
    assert "900,000/900,000 tasks" in screen
    assert "tasks/s" in screen


def test_no_bar_is_drawn_while_there_is_nothing_to_count(terminal: Terminal) -> None:
    with output.progress_bar("Purging finished tasks", "tasks", stream=terminal.stream) as update:
        assert update is not None
        update(0, 0)
        update(0, 0)
    assert terminal.close() == ""


def test_no_progress_bar_when_piped_or_on_a_dumb_terminal(terminal: Terminal, monkeypatch: pytest.MonkeyPatch) -> None:
    piped = io.StringIO()
    with output.progress_bar("Purging finished tasks", "tasks", stream=piped) as update:
        assert update is None
    assert piped.getvalue() == ""
    monkeypatch.setenv("TERM", "dumb")
    with output.progress_bar("Purging finished tasks", "tasks", stream=terminal.stream) as update:
        assert update is None
    assert terminal.close() == ""


def test_purge_on_a_terminal_shows_its_progress_on_stderr_and_prints_the_same_result(
    workdir: Path, terminal: Terminal, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    finished_long_ago(workdir, 7)
    monkeypatch.setattr(sys, "stderr", terminal.stream)
    out = sparkq_purge(workdir, monkeypatch, capsys)
    assert out == "Deleted 7 finished task(s) older than 1d\n"
    screen = terminal.close()
    assert "Purging finished tasks" in screen and "7/7 tasks" in screen


def test_purge_with_no_finished_task_draws_no_bar_on_a_terminal(
    workdir: Path, terminal: Terminal, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_stream(workdir).enqueue("auth", "run-bash", {"queued": True})
    monkeypatch.setattr(sys, "stderr", terminal.stream)
    assert sparkq_purge(workdir, monkeypatch, capsys) == "Deleted 0 finished task(s) older than 1d\n"
    assert terminal.close() == ""


def test_purge_piped_prints_only_its_result(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    finished_long_ago(workdir, 7)
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("SPARKQ_CONFIG", raising=False)
    capsys.readouterr()
    assert main(["purge", "--older-than", "1d"]) == 0
    assert capsys.readouterr() == ("Deleted 7 finished task(s) older than 1d\n", "")


def test_the_servers_start_up_check_shows_the_pages_it_read_on_a_terminal(
    workdir: Path, terminal: Terminal, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sparkq_entry.asgi import build_app

    settings = old_project_settings(workdir, monkeypatch)
    capsys.readouterr()
    monkeypatch.setattr(sys, "stderr", terminal.stream)
    build_app(settings, 8420)
    assert capsys.readouterr().out == f"Checking the database {settings.db_path} (about a second per GB) …\n"
    screen = terminal.close()
    pages = re.search(r"(\d+)/(\d+) pages", screen)
    assert "Checking every page" in screen and pages is not None and pages.group(1) == pages.group(2)


def test_the_servers_start_up_check_is_quiet_when_piped(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sparkq_entry.asgi import build_app

    settings = old_project_settings(workdir, monkeypatch)
    capsys.readouterr()
    build_app(settings, 8420)
    assert capsys.readouterr() == (f"Checking the database {settings.db_path} (about a second per GB) …\n", "")
