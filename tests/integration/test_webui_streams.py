"""Editing a stream's instructions in the web UI, and the stream page, in a real browser against `sparkq run`.

Chromium driven by Playwright; one server and one browser for the module, each test its own stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from sparkq_domain import Queue
from sparkq_entry import open_queue
from tests.integration.conftest import Server
from tests.integration.webui_support import (
    new_stream,
    open_page,
    require_chromium,
    screenshot,
    serve_project,
)

from ..conftest import RunSparkq

require_chromium()

EVIL = '<script>window.__xss=1</script> <img src=x onerror="window.__xss=1">'
#: live changes arrive by event within ~0.5 s; the page's own poll is every 10 s, so waiting at most
#: this long shows that an event (not the poll) refreshed the page
BY_EVENT = 5_000


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serve_project(tmp_path_factory, "webui-streams")


@pytest.fixture(scope="module")
def lib(ui: Server) -> Queue:
    """The library on the server's database (another writer, like an agent's CLI)."""
    return open_queue(ui.folder / "sparkq.db")


def test_instructions_are_edited_from_the_streams_page_and_the_next_claim_carries_them(
    page: Page, ui: Server, lib: Queue, sparkq: RunSparkq
) -> None:
    new_stream(lib, "edit-lane", "v1: add login")
    first = lib.enqueue("edit-lane", "run-bash", {"n": 1})
    lib.enqueue("edit-lane", "run-bash", {"n": 2})
    lib.claim_task(first.id)
    open_page(page, ui, "streams")
    row = page.locator('#streams-table tr[data-name="edit-lane"]')
    edit = row.locator("button", has_text="Edit instructions")

    # the modal starts with the current text in a labelled field; Escape cancels and saves nothing
    edit.click()
    text = page.locator("#instructions-form textarea[name=instructions]")
    expect(text).to_be_focused()
    expect(page.locator("#instructions-form").get_by_label("Instructions")).to_have_value("v1: add login")
    text.fill("never saved")
    page.keyboard.press("Escape")
    expect(page.locator("#instructions-form")).to_have_count(0)
    expect(edit).to_be_focused()
    assert lib.get_stream("edit-lane").instructions == "v1: add login"

    edit.click()
    text.fill(f"v2: use OAuth, not passwords.\n{EVIL}")
    screenshot(page, "streams-edit-instructions")
    page.click("#instructions-form button[type=submit]")
    expect(page.locator("#instructions-form")).to_have_count(0)
    expect(row.locator(".instructions-preview")).to_contain_text("v2: use OAuth")
    assert lib.get_stream("edit-lane").instructions == f"v2: use OAuth, not passwords.\n{EVIL}"

    # a worker's next claim, through the CLI, gets them; the task already running is not touched
    claimed = sparkq("claim", "--stream", "edit-lane", cwd=ui.folder)
    assert claimed.returncode == 0, claimed.stderr
    task = json.loads(claimed.stdout)
    assert task["payload"] == {"n": 2} and task["stream"]["instructions"] == f"v2: use OAuth, not passwords.\n{EVIL}"

    # an ended stream offers no edit (the API would refuse it)
    lib.end_stream("edit-lane")
    expect(row.locator(".badge")).to_have_text("ended", timeout=BY_EVENT)
    expect(edit).to_have_count(0)
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_the_stream_page_shows_its_instructions_counts_and_tasks_and_edits_them(
    page: Page, ui: Server, lib: Queue
) -> None:
    stream_id = new_stream(lib, "page-lane", EVIL)
    done = lib.enqueue("page-lane", "run-bash", {"n": 1})
    lib.claim_task(done.id)
    lib.complete(done.id, {"summary": "built"})
    waiting = lib.enqueue("page-lane", "run-bash", {"n": 2})

    # from the Streams page, the name leads to the stream page
    open_page(page, ui, "streams")
    page.locator('#streams-table tr[data-name="page-lane"] td.name a').click()
    expect(page).to_have_url(f"{ui.url}/#/streams/page-lane")
    expect(page.locator('.nav a[data-route="streams"]')).to_have_class("active")
    expect(page.locator("#stream-name")).to_have_text("page-lane")
    expect(page.locator("#stream-instructions")).to_have_text(EVIL)  # as text: the markup never runs
    counts = page.locator("#stream-counts")
    expect(counts).to_contain_text("1 queued")
    expect(counts).to_contain_text("1 succeeded")
    expect(page.locator(f'#stream-tasks tr[data-task-id="{done.id}"] .badge')).to_have_text("succeeded")
    expect(page.locator(f'#stream-tasks tr[data-task-id="{waiting.id}"] .badge')).to_have_text("queued")
    expect(page.locator("#all-stream-tasks")).to_have_attribute("href", f"#/tasks?stream_id={stream_id}")
    screenshot(page, "stream-page")

    # edited here: the page shows the new text and the next claim carries it
    page.click("#edit-instructions")
    text = page.locator("#instructions-form textarea[name=instructions]")
    expect(text).to_have_value(EVIL)
    text.fill("v3: the page's edit")
    page.click("#instructions-form button[type=submit]")
    expect(page.locator("#stream-instructions")).to_have_text("v3: the page's edit")
    claimed = lib.claim("page-lane")
    assert claimed is not None and claimed.task.id == waiting.id
    assert claimed.stream.instructions == "v3: the page's edit"

    # an edit made elsewhere (an agent's CLI, the library) and the claim show up live, without a reload
    page.evaluate("window.__noReload = true")
    lib.instruct_stream("page-lane", "v4: from the CLI")
    expect(page.locator("#stream-instructions")).to_have_text("v4: from the CLI", timeout=BY_EVENT)
    expect(page.locator(f'#stream-tasks tr[data-task-id="{waiting.id}"] .badge')).to_have_text("running")
    expect(counts).to_contain_text("1 running")
    assert page.evaluate("window.__noReload") is True

    # a task row leads to the task, whose stream leads back here; the task list's stream cell too
    page.locator(f'#stream-tasks tr[data-task-id="{done.id}"] a').click()
    expect(page.locator("#task-id")).to_have_text(done.id)
    page.click("#task-stream")
    expect(page).to_have_url(f"{ui.url}/#/streams/page-lane")
    open_page(page, ui, f"tasks?stream_id={stream_id}")
    page.locator(f'#tasks-table tr[data-task-id="{done.id}"] td.stream-cell a').click()
    expect(page.locator("#stream-instructions")).to_have_text("v4: from the CLI")

    # an ended stream: no edit, and the page says the instructions are the record
    lib.end_stream("page-lane")
    expect(page.locator("#stream-detail .badge")).to_have_text("ended", timeout=BY_EVENT)
    expect(page.locator("#edit-instructions")).to_have_count(0)
    expect(page.locator("#stream-detail")).to_contain_text("what its workers were told")
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("#app img, #app script").count() == 0


def test_an_unknown_stream_page_says_so(page: Page, ui: Server) -> None:
    open_page(page, ui, "streams/no-such-lane")
    expect(page.locator("#app .error-panel")).to_contain_text("Stream 'no-such-lane' not found")
