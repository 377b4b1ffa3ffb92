"""The Cyclopts app in-process: its help pages, and the lazy registration of its commands."""

from __future__ import annotations

import io

from cyclopts import App
from rich.console import Console


def sparkq_app() -> App:
    from sparkq_adapters.cli.app import build_cli
    from sparkq_entry.wiring import cli_context

    return build_cli(cli_context)


def help_text(*command: str) -> str:
    app = sparkq_app()
    buffer = io.StringIO()
    app.help_print(list(command), console=Console(file=buffer, width=100, color_system=None))
    return buffer.getvalue()


def test_claim_help_names_the_wait_value_seconds() -> None:
    text = help_text("claim")
    [line] = [line for line in text.splitlines() if line.startswith("│ --wait")]
    assert line.startswith("│ --wait SECONDS "), text


def registered() -> list[tuple[list[str], str, str]]:
    """Every command as (its words, its import string, the summary it is listed with)."""
    from cyclopts.command_spec import CommandSpec

    app = sparkq_app()
    found = []
    for words, parent in (([], app), (["session"], app["session"]), (["stream"], app["stream"])):
        for name, spec in parent._commands.items():
            if isinstance(spec, CommandSpec):
                found.append(([*words, name], spec.import_path, spec.help or ""))
    return found


def docstring_summary(import_path: str) -> str:
    """The first line of the command function's docstring: the one source of its summary."""
    import importlib
    import inspect

    module, _, name = import_path.partition(":")
    doc = inspect.getdoc(getattr(importlib.import_module(module), name)) or ""
    return doc.splitlines()[0] if doc else ""


def flat(text: str) -> str:
    """Help text without the panel's borders, line breaks and runs of spaces."""
    return " ".join(text.replace("│", " ").replace("╭", " ").replace("╰", " ").split())


COMMANDS = registered()


def test_every_command_is_registered_lazily() -> None:
    names = sorted(" ".join(words) for words, _, _ in COMMANDS)
    assert len(names) == 29, names
    assert {"claim", "peek", "session create", "stream end", "watch", "mcp", "migrate"} <= set(names)


def test_each_listed_summary_is_the_first_line_of_the_command_docstring() -> None:
    drifted = [
        f"{' '.join(words)}: app.py says {summary!r}, the docstring {docstring_summary(path)!r}"
        for words, path, summary in COMMANDS
        if summary != docstring_summary(path)
    ]
    assert drifted == [], "update the summary in src/sparkq_adapters/cli/app.py:\n" + "\n".join(drifted)


def test_help_lists_every_command_with_its_summary() -> None:
    pages = {(): flat(help_text()), ("session",): flat(help_text("session")), ("stream",): flat(help_text("stream"))}
    for words, path, _ in COMMANDS:
        page = pages[tuple(words[:-1])]
        summary = docstring_summary(path).replace("`", "")  # the help renders `code` as plain text
        assert f" {words[-1]} {summary}" in page, (words, page)


def test_listing_the_commands_imports_none_of_them() -> None:
    import subprocess
    import sys

    probe = (
        "import io, sys\n"
        "from rich.console import Console\n"
        "from sparkq_adapters.cli.app import build_cli\n"
        "app = build_cli(lambda config: None)\n"
        "for words in ([], ['session'], ['stream']):\n"
        "    app.help_print(words, console=Console(file=io.StringIO()))\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('sparkq_adapters'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["sparkq_adapters", "sparkq_adapters.cli", "sparkq_adapters.cli.app"]


def test_a_commands_own_page_keeps_its_whole_docstring() -> None:
    text = flat(help_text("claim"))
    assert "The task moves to running; report back with sparkq complete or sparkq fail." in text
    assert "sparkq claim --stream auth --wait 600" in text
