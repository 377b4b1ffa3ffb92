"""Helpers for the browser tests of the web UI: Chromium via Playwright, screenshots, seeding."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from sparkq_adapters.clock import SystemClock
from sparkq_domain import Queue
from tests.integration.conftest import Server, free_port

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


def require_chromium() -> None:
    """Fail loudly when Chromium is missing (./scripts/test installs it, the test extra Playwright)."""
    # No skipping: a browser test that silently skips would hide a broken setup
    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"The browser tests need Chromium at {CHROMIUM}: apt-get install chromium (./scripts/test does)"
        )


def serve_project(tmp_path_factory: Any, name: str) -> Iterator[Server]:
    """Run a real server over a fresh project (`write_project`) until the generator is closed."""
    folder = tmp_path_factory.mktemp(name)
    write_project(folder)
    srv = Server(folder, free_port())
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through Playwright, one per test module."""
    pw = sync_playwright().start()
    chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()
        pw.stop()


def checked_page(browser: Any, width: int = 1400) -> Iterator[Page]:
    """Open a page in a fresh context; a script error or CSP violation on it fails the test at the end."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(LIVE)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    # the UI must live within the server's CSP (no inline scripts or styles)
    pg.on("console", lambda msg: "Content Security Policy" in msg.text and errors.append(msg.text))
    try:
        yield pg
    finally:
        context.close()
    assert errors == [], f"script errors on the page: {errors}"


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    """A fresh browser context per test; a script error or CSP violation on the page fails the test."""
    yield from checked_page(browser)


def open_page(page: Page, server: Server, route: str) -> None:
    """Go to a route of the UI and wait until it shows the server up."""
    page.goto(f"{server.url}/#/{route}")
    expect(page.locator("#server-status")).to_have_attribute("data-state", "up")


def new_stream(lib: Queue, name: str, instructions: str | None = None) -> str:
    """Create a stream in a session of its own; return the stream's id."""
    session = lib.create_session(f"{name}-session")
    return lib.create_stream(name, session.id, instructions).id
