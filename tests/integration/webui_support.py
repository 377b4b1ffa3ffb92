"""Helpers for the browser tests of the web UI: Chromium via Playwright, screenshots, seeding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sparkq_adapters.clock import SystemClock

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: how long the UI may take to show a change (events arrive within ~0.2 s; the page also polls every 5 s)
LIVE = 8_000

CONFIG = """\
tools:
  run-bash: {description: Execute a bash script, task_class: MEDIUM_SCRIPT}
  deploy:
    description: Deploy a branch to an environment
    task_class: MEDIUM_SCRIPT
    timeout: 600
    payload_template: {branch: main, environment: staging}
script_dirs: [scripts]
"""

SCRIPT = """\
#!/usr/bin/env bash
# name: build-docs
# description: Build the HTML docs into site/
# inputs: none
# outputs: site/index.html
# tags: docs, build
echo building
"""


def write_project(folder: Path) -> None:
    """A sparkq.yml with a tool that has a payload template, and one indexed script."""
    (folder / "sparkq.yml").write_text(CONFIG)
    (folder / "scripts").mkdir(exist_ok=True)
    (folder / "scripts" / "build-docs.sh").write_text(SCRIPT)


class ShiftedClock(SystemClock):
    """A clock for the library that can be set in the past (to make tasks stale, dead or old)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def ago(self, **delta: float) -> ShiftedClock:
        self.offset = -timedelta(**delta)
        return self

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path
