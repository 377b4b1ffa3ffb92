"""Reviewing work in the web UI (issue 15 items 1-4): cancel, bulk requeue, progress and heartbeats, lineage.

Chromium driven by Playwright against a real `sparkq run`; one server and one browser for the module,
each test its own stream. The library writes beside the server, as an agent's CLI would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from sparkq_domain import Queue, TaskStatus
from sparkq_entry import open_queue
from tests.integration.conftest import Server
from tests.integration.webui_support import (
    ShiftedClock,
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
GREY = "rgb(154, 154, 154)"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serve_project(tmp_path_factory, "webui-review")


@pytest.fixture(scope="module")
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture(scope="module")
def lib(ui: Server, clock: ShiftedClock) -> Queue:
    """The library on the server's database, on a clock a test can set in the past."""
    return open_queue(ui.folder / "sparkq.db", clock=clock)


def failed_task(lib: Queue, stream: str, n: int) -> str:
    task = lib.enqueue(stream, "run-bash", {"n": n}).id
    lib.claim_task(task)
    lib.fail(task, f"failure {n}")
    return task


def row(page: Page, task_id: str) -> Any:
    return page.locator(f'#tasks-table tr[data-task-id="{task_id}"]')


def test_queued_tasks_are_cancelled_from_a_row_and_from_the_detail_page_and_shown_grey(
    page: Page, ui: Server, lib: Queue, sparkq: RunSparkq
) -> None:
    stream = new_stream(lib, "cancel-lane")
    first, second, third, kept = (lib.enqueue(stream, "run-bash", {"n": n}).id for n in range(4))
    open_page(page, ui, f"tasks?stream_id={stream}")

    # a queued row has a Cancel button; the native dialog asks, Escape backs out and changes nothing
    cancel = row(page, first).locator("button.cancel")
    cancel.click()
    dialog = page.locator("dialog.modal", has=page.locator("#cancel-form"))  # a native <dialog>
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Cancel queued task {first}")
    reason = page.locator("#cancel-form input[name=reason]")
    expect(reason).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#cancel-form")).to_have_count(0)
    assert lib.get_task(first).status is TaskStatus.QUEUED

    cancel.click()
    reason.fill(f"superseded {EVIL}")
    screenshot(page, "tasks-cancel-dialog")
    page.click("#cancel-form button[type=submit]")
    expect(row(page, first).locator(".badge")).to_have_text("cancelled")
    expect(row(page, first).locator(".badge")).to_have_css("color", GREY)
    expect(row(page, first).locator("button.cancel")).to_have_count(0)
    expect(row(page, first).locator("button.requeue")).to_have_count(1)  # requeue accepts a cancelled task
    done = lib.get_task(first)
    assert (done.status, done.error) == (TaskStatus.CANCELLED, f"superseded {EVIL}")
    shown = sparkq("task", first, "--json", cwd=ui.folder)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["status"] == "cancelled"

    # cancelled by another writer while the page is open: the row turns by the live event
    lib.cancel(second)
    expect(row(page, second).locator(".badge")).to_have_text("cancelled", timeout=BY_EVENT)

    # the status filter offers cancelled, and lists only those
    page.select_option("select[name=status]", "cancelled")
    expect(page.locator("#page-info")).to_have_text("1–2 of 2")
    expect(row(page, kept)).to_have_count(0)

    # the detail page: Cancel… with confirmation, no reason given
    open_page(page, ui, f"tasks/{third}")
    page.click("#cancel")
    expect(page.locator("#cancel-form")).to_be_visible()
    page.click("#cancel-form button[type=submit]")
    expect(page.locator("h1 .badge")).to_have_text("cancelled")
    expect(page.locator("h1 .badge")).to_have_css("color", GREY)
    expect(page.locator("#timing")).to_contain_text("Cancelled")
    expect(page.locator("#cancel")).to_have_count(0)
    expect(page.locator("#claim")).to_have_count(0)
    expect(page.locator("#requeue")).to_have_count(1)
    assert lib.get_task(third).status is TaskStatus.CANCELLED

    # claimed by a worker while the dialog is open: the refusal is shown in words, the task keeps running
    raced = lib.enqueue(stream, "run-bash", {"n": 5}).id
    open_page(page, ui, f"tasks/{raced}")
    page.click("#cancel")
    expect(page.locator("#cancel-form")).to_be_visible()
    lib.claim_task(raced)
    page.click("#cancel-form button[type=submit]")
    expect(page.locator("#cancel-form .form-message.error")).to_have_text(f"Cannot cancel task {raced}: it is running")
    expect(page.locator("h1 .badge")).to_have_text("running")  # the page behind shows it as it is now
    page.locator("#cancel-form button", has_text="Keep it").click()
    expect(page.locator("#cancel-form")).to_have_count(0)
    assert lib.get_task(raced).status is TaskStatus.RUNNING

    # the reason is shown as text on the detail page
    open_page(page, ui, f"tasks/{first}")
    expect(page.locator("#task-error")).to_have_text(f"superseded {EVIL}")
    expect(page.locator(".panel h2", has_text="Why it was cancelled")).to_have_count(1)

    # counts: the stream page and the dashboard filtered to the stream say 3 cancelled, in grey
    open_page(page, ui, "streams/cancel-lane")
    count = page.locator("#stream-counts .count.status-cancelled")
    expect(count).to_have_text("3 cancelled")
    expect(count).to_have_css("color", GREY)
    open_page(page, ui, f"dashboard?stream_id={stream}")
    expect(page.locator('[data-count="cancelled"] .card-value')).to_have_text("3")
    expect(page.locator('[data-count="queued"] .card-value')).to_have_text("1")
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_requeue_n_failed_states_n_requeues_them_once_and_marks_the_originals(
    page: Page, ui: Server, lib: Queue
) -> None:
    stream = new_stream(lib, "retry-lane")
    other = new_stream(lib, "other-retry-lane")
    failed = [failed_task(lib, stream, n) for n in range(3)]
    elsewhere = failed_task(lib, other, 9)
    ok = lib.enqueue(stream, "run-bash", {}).id
    lib.claim_task(ok)
    lib.complete(ok, {"summary": "fine"})

    # a search narrows the list, not the bulk requeue: the confirmation says so; Escape does nothing
    open_page(page, ui, f"tasks?stream_id={stream}&q=failure%201")
    button = page.locator("#requeue-failed")
    expect(button).to_have_text("Requeue 3 failed")
    button.click()
    expect(page.locator(".modal", has_text="The tool and search filters do not narrow it")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator(".modal")).to_have_count(0)
    assert [t.id for t in lib.requeue_failed(stream, dry_run=True).originals] == failed

    open_page(page, ui, f"tasks?stream_id={stream}")
    expect(button).to_have_text("Requeue 3 failed")
    button.click()
    confirm = page.locator(".modal", has_text="Requeue 3 failed tasks of stream retry-lane")
    expect(confirm).to_be_visible()
    screenshot(page, "tasks-requeue-failed")
    confirm.locator("button[type=submit]").click()
    result = page.locator(".bulk-result")
    expect(result).to_contain_text("Requeued 3 failed tasks as")
    copies = result.locator("a").all_inner_texts()
    assert len(copies) == 3
    # each original once, FIFO order kept, only this stream's
    assert [lib.get_task(c).requeued_from for c in copies] == failed
    assert [lib.get_task(f).requeued_to for f in failed] == copies
    assert lib.get_task(elsewhere).requeued_to is None
    # nothing left to requeue: the offer goes; the originals are marked, linking their copies
    expect(button).to_have_count(0)
    mark = row(page, failed[0]).locator(".requeued-mark")
    expect(mark).to_have_text("↻ requeued")
    expect(mark).to_have_attribute("href", f"#/tasks/{copies[0]}")
    expect(row(page, failed[0]).locator("button.requeue")).to_have_count(0)
    screenshot(page, "tasks-requeued-marks")

    # a second run: only a new failure (one of the copies) is requeued, none of the originals again
    lib.claim_task(copies[1])
    lib.fail(copies[1], "failed again")
    expect(button).to_have_text("Requeue 1 failed", timeout=BY_EVENT)
    button.click()
    page.locator(".modal", has_text="Requeue 1 failed task of stream retry-lane").locator("button[type=submit]").click()
    expect(result).to_contain_text("Requeued 1 failed task as")
    again = result.locator("a").all_inner_texts()
    assert [lib.get_task(t).requeued_from for t in again] == [copies[1]]
    assert lib.requeue_failed(stream, dry_run=True).originals == []
    expect(button).to_have_count(0)
    expect(page.locator("#page-info")).to_have_text("1–8 of 8")  # 3 + 1 + 3 copies + 1 copy of a copy


def test_a_running_task_shows_its_progress_note_and_a_ticking_heartbeat_age(
    page: Page, ui: Server, lib: Queue, clock: ShiftedClock
) -> None:
    stream = new_stream(lib, "beat-lane")
    clock.ago(seconds=150)  # claimed 150 s ago with a 60 s timeout: stale by its start, not by its heartbeat
    task = lib.enqueue(stream, "run-bash", {}, timeout=60).id
    lib.claim_task(task)
    clock.ago(seconds=70)  # its last heartbeat 70 s ago: stale (silent > 60 s), not dead (< 120 s)
    lib.heartbeat(task, f"step 1 of 3: {EVIL}")
    clock.ago(seconds=0)

    open_page(page, ui, f"tasks/{task}")
    expect(page.locator("#task-progress")).to_have_text(f"step 1 of 3: {EVIL}")
    expect(page.locator("#heartbeat-age")).to_have_text("last heartbeat 1m ago")
    # stale counts from the last sign of life, the heartbeat: silent 70 s, not the 150 s it has run
    expect(page.locator("#stale-banner")).to_contain_text("since its last heartbeat")
    expect(page.locator("#stale-banner")).to_contain_text(re.compile(r"no sign of life for 1m 1\ds"))
    screenshot(page, "task-detail-progress-stale")

    lib.heartbeat(task, "step 2 of 3: tests written")
    expect(page.locator("#task-progress")).to_have_text("step 2 of 3: tests written", timeout=BY_EVENT)
    expect(page.locator("#stale-banner")).to_have_count(0)
    expect(page.locator("h1 .badge")).to_have_text("running")
    age = page.locator("#heartbeat-age")
    expect(age).to_have_text(re.compile(r"^last heartbeat (just now|\ds ago)$"))
    # the age ticks by itself: the page re-draws the task only when it changed, and it has not
    expect(age).not_to_have_text(age.inner_text())
    screenshot(page, "task-detail-progress")

    # lists show the note in place of the summary for a running task, as text
    open_page(page, ui, f"dashboard?stream_id={stream}")
    note = page.locator(f'#recent-tasks tr[data-task-id="{task}"] .summary-cell')
    expect(note).to_have_text("step 2 of 3: tests written")
    lib.heartbeat(task, EVIL)
    expect(note).to_have_text(EVIL, timeout=BY_EVENT)
    open_page(page, ui, f"tasks?stream_id={stream}")
    expect(row(page, task)).not_to_have_class(re.compile(r"\bstale\b"))
    expect(row(page, task).locator(".summary-cell")).to_have_text(EVIL)
    lib.heartbeat(task, "step 3 of 3: docs")
    expect(row(page, task).locator(".summary-cell")).to_have_text("step 3 of 3: docs", timeout=BY_EVENT)
    # once done, the list shows its summary instead
    lib.complete(task, {"summary": "all three steps done"})
    expect(row(page, task).locator(".summary-cell")).to_have_text("all three steps done", timeout=BY_EVENT)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("#app img, #app script").count() == 0


def test_lineage_links_both_ways_and_the_list_marks_a_requeued_task(page: Page, ui: Server, lib: Queue) -> None:
    stream = new_stream(lib, "lineage-lane")
    original = failed_task(lib, stream, 1)

    open_page(page, ui, f"tasks/{original}")
    expect(page.locator("#requeue")).to_have_count(1)
    expect(page.locator("#requeued-to")).to_have_count(0)
    copy = lib.requeue(original).id
    # the open page learns of the copy live: the link appears, the Requeue button goes
    expect(page.locator("#requeued-to")).to_have_text(copy, timeout=BY_EVENT)
    expect(page.locator("#requeue")).to_have_count(0)
    page.click("#requeued-to")
    expect(page.locator("#task-id")).to_have_text(copy)
    expect(page.locator("#requeued-from")).to_have_text(original)
    expect(page.locator("#cancel")).to_have_count(1)  # the copy is queued
    page.click("#requeued-from")
    expect(page.locator("#task-id")).to_have_text(original)

    open_page(page, ui, f"tasks?stream_id={stream}")
    mark = row(page, original).locator(".requeued-mark")
    expect(mark).to_have_text("↻ requeued")
    mark.click()
    expect(page.locator("#task-id")).to_have_text(copy)


def test_ending_a_stream_says_its_queued_tasks_are_cancelled_and_shows_them_cancelled(
    page: Page, ui: Server, lib: Queue
) -> None:
    new_stream(lib, "ending-lane")
    waiting = lib.enqueue("ending-lane", "run-bash", {}).id
    running = lib.enqueue("ending-lane", "run-bash", {}).id
    lib.claim_task(running)

    open_page(page, ui, "streams/ending-lane")
    page.click("#end-stream")
    confirm = page.locator(".modal", has_text="its queued tasks are cancelled (reason “stream ended”)")
    expect(confirm).to_be_visible()
    confirm.locator("button[type=submit]").click()
    expect(page.locator("#stream-counts .count.status-cancelled")).to_have_text("1 cancelled")
    expect(page.locator(f'tr[data-task-id="{waiting}"] .badge')).to_have_text("cancelled")
    expect(page.locator(f'tr[data-task-id="{running}"] .badge')).to_have_text("running")
    assert (lib.get_task(waiting).status, lib.get_task(waiting).error) == (TaskStatus.CANCELLED, "stream ended")

    open_page(page, ui, f"tasks/{waiting}")
    expect(page.locator("#task-error")).to_have_text("stream ended")

    # ending a session says the same of its streams' queued tasks (Escape: nothing ends)
    open_page(page, ui, "sessions")
    page.locator('#sessions-table tr[data-name="ending-lane-session"] button', has_text="End").click()
    expect(page.locator(".modal", has_text="their queued tasks are cancelled (reason “stream ended”)")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator(".modal")).to_have_count(0)
