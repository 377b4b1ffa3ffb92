"""The Cyclopts app in-process: its help pages, and the lazy registration of its commands."""

from __future__ import annotations

import io

from rich.console import Console


def help_text(*command: str) -> str:
    from sparkq_adapters.cli.app import app

    buffer = io.StringIO()
    app.help_print(list(command), console=Console(file=buffer, width=100, color_system=None))
    return buffer.getvalue()


def test_claim_help_names_the_wait_value_seconds() -> None:
    text = help_text("claim")
    [line] = [line for line in text.splitlines() if line.startswith("│ --wait")]
    assert line.startswith("│ --wait SECONDS "), text
