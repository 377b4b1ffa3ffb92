"""The Tasks page's SUMMARY/ERROR column, search box and tool filter, in a real browser against `sparkq run`.

Chromium driven by Playwright; one server and one browser for the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from sparkq_domain import Queue
from sparkq_entry import open_queue
from tests.integration.conftest import Server
from tests.integration.webui_support import (
    checked_page,
    require_chromium,
    screenshot,
    serve_project,
)

require_chromium()

EVIL = '<script>window.__xss=1</script> <img src=x onerror="window.__xss=1">'


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serve_project(tmp_path_factory, "webui-search")


@pytest.fixture(scope="module")
def lib(ui: Server) -> Queue:
    """The library on the server's database with its registry (another writer, like an agent's CLI)."""
    from sparkq_adapters.config import load_file

    return open_queue(ui.folder / "sparkq.db", registry=load_file(ui.folder / "sparkq.yml").registry())


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    """A fresh context per test; a script error or CSP violation on the page fails the test."""
    yield from checked_page(browser, width=1600)


@pytest.fixture(scope="module")
def tasks(lib: Queue) -> dict[str, str]:
    """A success whose summary is markup, an escalation, a plain failure, a running task with a note."""
    lib.create_session("review")
    lib.create_stream("search-lane", "review")
    ids = {
        "evil": lib.enqueue("search-lane", "run-bash", {"script": "scripts/build-docs.sh"}).id,
        "question": lib.enqueue("search-lane", "deploy", {"branch": "main", "environment": "prod"}).id,
        "broke": lib.enqueue("search-lane", "run-bash", {"script": "scripts/test.sh"}).id,
        "note": lib.enqueue("search-lane", "deploy", {"branch": "feature-x", "environment": "staging"}).id,
    }
    for _ in range(4):
        lib.claim("search-lane")
    lib.complete(ids["evil"], {"summary": f"docs built {EVIL}"})
    lib.fail(ids["question"], "QUESTION: deploy to eu-west or us-east?")
    lib.fail(ids["broke"], "3 tests fail in test_docs.py")
    lib.heartbeat(ids["note"], "uploading artefacts, 2 of 5")
    return ids


def expect_listed(page: Page, ids: list[str]) -> None:
    """Wait until the table lists exactly these tasks, in this order (newest first)."""
    rows = page.locator("#tasks-table tr.task-row")
    expect(rows).to_have_count(len(ids))
    for n, task_id in enumerate(ids):
        expect(rows.nth(n)).to_have_attribute("data-task-id", task_id)


def test_tasks_page_searches_filters_by_tool_and_shows_summaries_as_text(
    page: Page, ui: Server, tasks: dict[str, str]
) -> None:
    page.goto(f"{ui.url}/#/tasks")
    expect(page.locator("#server-status")).to_have_attribute("data-state", "up")
    rows = page.locator("#tasks-table tr.task-row")
    expect(rows).to_have_count(4)
    header = page.locator("#tasks-table th")
    expect(header.filter(has_text="Summary / error")).to_have_count(1)

    # the column: the summary as text (markup and all), the error, a running task's note, a question marked
    evil = page.locator(f'tr[data-task-id="{tasks["evil"]}"] td.summary-cell')
    expect(evil).to_have_text(f"docs built {EVIL}")
    expect(evil.locator("script, img")).to_have_count(0)
    question = page.locator(f'tr[data-task-id="{tasks["question"]}"] td.summary-cell')
    expect(question.locator(".question-mark")).to_have_text("?")
    expect(question).to_contain_text("QUESTION: deploy to eu-west or us-east?")
    broke = page.locator(f'tr[data-task-id="{tasks["broke"]}"] td.summary-cell')
    expect(broke).to_have_text("3 tests fail in test_docs.py")
    expect(broke.locator(".question-mark")).to_have_count(0)
    expect(page.locator(f'tr[data-task-id="{tasks["note"]}"] td.summary-cell')).to_have_text(
        "uploading artefacts, 2 of 5"
    )
    screenshot(page, "tasks-summary-column")

    # the search box: typing narrows the list in place (the box keeps the focus), and the address keeps it
    box = page.get_by_label("Search")
    box.click()
    box.press_sequentially("EU-WEST", delay=20)
    expect_listed(page, [tasks["question"]])
    expect(box).to_be_focused()
    assert "q=EU-WEST" in page.evaluate("location.hash")
    box.fill("<script>")
    expect_listed(page, [tasks["evil"]])
    screenshot(page, "tasks-search")

    # a reload keeps the search; the tool filter (from the registry) narrows further and is kept too
    page.reload()
    expect(page.get_by_label("Search")).to_have_value("<script>")
    expect_listed(page, [tasks["evil"]])
    page.get_by_label("Search").fill("")
    expect_listed(page, [tasks[k] for k in ("note", "broke", "question", "evil")])
    tool = page.get_by_label("Tool")
    expect(tool.locator("option")).to_have_text(["All tools", "run-bash", "deploy"])
    tool.select_option("deploy")
    expect_listed(page, [tasks["note"], tasks["question"]])
    assert "tool=deploy" in page.evaluate("location.hash")
    page.get_by_label("Search").fill("artefacts")
    expect_listed(page, [tasks["note"]])
    page.get_by_label("Search").fill("no such thing anywhere")
    expect(page.locator("#tasks-table")).to_contain_text("No task matches these filters.")
    expect(rows).to_have_count(0)
    page.reload()
    expect(page.get_by_label("Tool")).to_have_value("deploy")
    expect(page.get_by_label("Search")).to_have_value("no such thing anywhere")
    assert page.evaluate("typeof window.__xss") == "undefined"
