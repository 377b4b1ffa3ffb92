"""How the CLI looks: colour only on a terminal, tables that fit 80 columns, help with examples."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pexpect
import pytest

from sparkq_adapters.cli.output import display_width

from .cli_support import make_stream, ok, ok_json

if TYPE_CHECKING:
    from tests.conftest import RunSparkq

from tests.conftest import SPARKQ


def _arrange_every_status(workdir: Path) -> None:
    queue = make_stream(workdir)
    for _ in range(3):
        queue.enqueue("auth", "run-bash", {})
    first, second = queue.claim("auth"), queue.claim("auth")
    assert first is not None and second is not None
    queue.complete(first.task.id, {"summary": "ok"})
    queue.fail(second.task.id, "boom")


def _in_terminal(workdir: Path, *args: str, **env: str) -> str:
    """Run sparkq on a pseudo-terminal of 80 columns and return what it drew."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SPARKQ_") and k not in ("NO_COLOR", "COLUMNS")}
    environ.update(TERM="xterm-256color", **env)
    child = pexpect.spawn(SPARKQ, list(args), cwd=str(workdir), env=environ, dimensions=(40, 80), encoding="utf-8")
    child.expect(pexpect.EOF, timeout=30)
    child.close()
    assert child.exitstatus == 0, child.before
    return str(child.before)


def test_status_words_are_coloured_on_a_terminal_unless_no_color(workdir: Path) -> None:
    _arrange_every_status(workdir)
    drawn = _in_terminal(workdir, "tasks")
    assert "\x1b[32msucceeded\x1b[0m" in drawn
    assert "\x1b[31mfailed\x1b[0m" in drawn
    assert "\x1b[34mqueued\x1b[0m" in drawn

    assert "\x1b[" not in _in_terminal(workdir, "tasks", NO_COLOR="1")


def test_piped_output_is_plain_even_without_no_color(sparkq: RunSparkq, workdir: Path) -> None:
    _arrange_every_status(workdir)
    for args in (["tasks"], ["stream", "list"], ["status"]):
        out = ok(sparkq(*args, env={"NO_COLOR": ""}))
        assert "active" in out or "succeeded" in out
        assert "\x1b" not in out


@pytest.mark.in_process
def test_long_names_are_cut_with_ellipsis_to_fit_80_columns(sparkq: RunSparkq, workdir: Path) -> None:
    stream, session = "s" * 60 + "-end", "x" * 60 + "-end"
    queue = make_stream(workdir, stream, session, instructions="Build the whole thing. " * 20)
    task = queue.enqueue(stream, "run-migrations", {})
    queue.create_session("y" * 64)

    for args in (["tasks"], ["stream", "list"], ["session", "list"], ["status"]):
        # (the database path in `status` is shown whole: it is copied, not read)
        lines = [line for line in ok(sparkq(*args, env={"COLUMNS": "80"})).splitlines() if "Database:" not in line]
        assert all(display_width(line) <= 80 for line in lines), "\n".join(lines)
        assert any("…" in line for line in lines), args
    assert task.id in ok(sparkq("tasks", env={"COLUMNS": "80"}))  # ids are never cut


@pytest.mark.in_process
def test_json_lists_and_shows_are_single_lines(sparkq: RunSparkq, workdir: Path) -> None:
    _arrange_every_status(workdir)
    tasks = ok_json(sparkq("tasks", "--json"))
    assert [t["status"] for t in tasks] == ["queued", "failed", "succeeded"]
    assert isinstance(ok_json(sparkq("task", tasks[0]["id"], "--json")), dict)
    assert isinstance(ok_json(sparkq("session", "list", "--json")), list)


COMMANDS = [
    ["enqueue"],
    ["peek"],
    ["claim"],
    ["complete"],
    ["fail"],
    ["requeue"],
    ["tasks"],
    ["task"],
    ["purge"],
    ["status"],
    ["session", "create"],
    ["session", "list"],
    ["session", "end"],
    ["stream", "create"],
    ["stream", "list"],
    ["stream", "end"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_has_a_summary_and_examples_that_fit_80_columns(command: list[str]) -> None:
    from rich.console import Console

    from sparkq_adapters.cli.app import build_cli
    from sparkq_entry.wiring import cli_context

    buffer = io.StringIO()
    build_cli(cli_context).help_print(command, console=Console(file=buffer, width=80, color_system=None))
    text = buffer.getvalue()
    lines = text.splitlines()
    examples = next(i for i, line in enumerate(lines) if line.strip() == "Examples:")
    usage = [line.strip() for line in lines[examples + 1 :] if line.strip().startswith("sparkq ")]
    assert usage, text
    assert all(line.startswith("sparkq " + " ".join(command)) or "| sparkq" in line for line in usage)
    # every example stays on one line at 80 columns, so it can be copied as is
    example_block = lines[examples + 1 : examples + 1 + len(usage)]
    assert all(line.strip().startswith(("sparkq ", "[", "echo ", "make ")) for line in example_block), text
