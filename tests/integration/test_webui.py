"""The web UI (SPEC §8) in a real browser: Chromium driven by Playwright against a real `sparkq run`.

One server and one browser serve the whole module; every test makes its own session and stream.
Screenshots of each page go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from sparkq_domain import AUTO_FAIL_MESSAGE, Queue
from sparkq_entry import open_queue
from tests.integration.conftest import TLS, Server, free_port
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

SCRIPT_TAG = "<script>window.__xss=1</script>"
IMG_TAG = '<img src=x onerror="window.__xss=1">'
EVIL = f"{SCRIPT_TAG} {IMG_TAG}"

#: live changes arrive by event within ~0.5 s; the page's own poll is every 10 s, so waiting at most
#: this long shows that events (not the poll) refreshed the page, with a wide margin
BY_EVENT = 5_000
#: the wait for what makes the browser itself slow (megabytes of text in a form), on a loaded machine
HEAVY = 60_000

GREEN = "rgb(76, 175, 80)"
RED = "rgb(244, 67, 54)"
STALE_BG = "rgba(255, 193, 7, 0.16)"
AUTO_FAILED_BG = "rgba(244, 67, 54, 0.2)"


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server over a project with a templated tool and an indexed script."""
    yield from serve_project(tmp_path_factory, "webui")


@pytest.fixture(scope="module")
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture(scope="module")
def lib(ui: Server, clock: ShiftedClock) -> Queue:
    """The library on the server's database (a second writer, like an agent's CLI)."""
    return open_queue(ui.folder / "sparkq.db", clock=clock)


def api_task(server: Server, task_id: str) -> dict[str, Any]:
    return httpx.get(f"{server.url}/api/tasks/{task_id}", timeout=10, verify=TLS).json()["task"]


def unlabelled(page: Page) -> list[str]:
    """Form controls on the page without a <label for=…> naming them."""
    return page.eval_on_selector_all(
        "input, select, textarea",
        "ns => ns.filter(n => !n.id || !document.querySelector(`label[for='${n.id}']`)).map(n => n.outerHTML)",
    )


def expect_background(page: Page, selector: str, colour: str) -> None:
    """Retrying, like every `expect`: live refreshes may replace the element meanwhile."""
    expect(page.locator(selector).first).to_have_css("background-color", colour)


# -- tests -----------------------------------------------------------------------------------------


def test_ui_is_served_at_root_and_at_ui_with_every_page_routed_by_hash(page: Page, ui: Server) -> None:
    for base in ("/", "/ui/"):
        page.goto(f"{ui.url}{base}")
        expect(page.locator("h1")).to_have_text("Dashboard")
        expect(page.locator("#server-status")).to_have_attribute("data-state", "up")
    for route, heading in [
        ("sessions", "Sessions"),
        ("streams", "Streams"),
        ("tasks", "Tasks"),
        ("enqueue", "Enqueue a task"),
    ]:
        page.click(f'.nav a[data-route="{route}"]')
        expect(page.locator("h1")).to_have_text(heading)
        expect(page.locator(f'.nav a[data-route="{route}"]')).to_have_attribute("aria-current", "page")
        assert unlabelled(page) == []


def test_dashboard_is_dark_and_draws_the_hourly_and_per_tool_charts(
    page: Page, ui: Server, lib: Queue, clock: ShiftedClock
) -> None:
    stream = new_stream(lib, "charts")
    runs = [
        (5, "run-bash", False, 12),
        (5, "run-python", True, 95),
        (2, "run-bash", False, 40),
        (1, "run-python", False, 20),
    ]
    for hours_ago, tool, fail, seconds in runs:
        clock.ago(hours=hours_ago, seconds=seconds)
        task = lib.enqueue(stream, tool, {"n": hours_ago})
        lib.claim_task(task.id)
        clock.ago(hours=hours_ago)
        if fail:
            lib.fail(task.id, "boom")
        else:
            lib.complete(task.id, {"summary": "done"})
    clock.ago(seconds=0)

    open_page(page, ui, "dashboard")
    assert page.eval_on_selector("body", "n => getComputedStyle(n).backgroundColor") == "rgb(26, 26, 26)"
    assert page.eval_on_selector("body", "n => getComputedStyle(n).color") == "rgb(224, 224, 224)"
    expect_background(page, "#server-status .dot", GREEN)
    expect(page.locator(".chart.hourly g.hour")).to_have_count(24)
    expect(page.locator(".chart.hourly rect.bar.succeeded")).to_have_count(3)
    expect(page.locator(".chart.hourly rect.bar.failed")).to_have_count(1)
    expect(page.locator(".chart.tools g.tool")).to_have_count(2)
    expect(page.locator('.chart.tools g.tool[data-tool="run-python"] rect.bar.p90')).to_be_visible()
    expect(page.locator('[data-count="succeeded"] .card-value')).to_have_text("3")
    expect(page.locator('[data-count="failed"] .card-value')).to_have_text("1")
    expect(page.locator('[data-count="succeeded"] .card-sub')).to_have_text("3 in the last 24 h")
    screenshot(page, "dashboard")


def test_cli_enqueued_task_appears_on_dashboard_and_task_list_without_reload(
    page: Page, ui: Server, lib: Queue, sparkq: RunSparkq
) -> None:
    new_stream(lib, "live")
    open_page(page, ui, "dashboard")
    page.evaluate("window.__noReload = true")
    queued = page.locator('[data-count="queued"] .card-value')
    expect(queued).not_to_have_text("–")
    before = int(queued.inner_text())

    first = sparkq("enqueue", "run-bash", '{"script": "a.sh"}', "--stream", "live", cwd=ui.folder)
    assert first.returncode == 0, first.stderr
    first_id = first.stdout.strip()
    expect(queued).to_have_text(str(before + 1), timeout=BY_EVENT)
    expect(page.locator(f'#recent-tasks tr[data-task-id="{first_id}"]')).to_be_visible(timeout=BY_EVENT)

    page.click('.nav a[data-route="tasks"]')
    expect(page.locator(f'#tasks-table tr[data-task-id="{first_id}"]')).to_be_visible()
    second = sparkq("enqueue", "run-bash", '{"script": "b.sh"}', "--stream", "live", cwd=ui.folder)
    assert second.returncode == 0, second.stderr
    second_id = second.stdout.strip()
    expect(page.locator(f'#tasks-table tr[data-task-id="{second_id}"]')).to_be_visible(timeout=BY_EVENT)

    # completed by the CLI: the row's status changes in place
    assert sparkq("claim", "--stream", "live", cwd=ui.folder).returncode == 0
    done = sparkq("complete", first_id, "--result", '{"summary": "built"}', cwd=ui.folder)
    assert done.returncode == 0, done.stderr
    expect(page.locator(f'#tasks-table tr[data-task-id="{first_id}"] .badge')).to_have_text(
        "succeeded", timeout=BY_EVENT
    )
    assert page.evaluate("window.__noReload") is True


def test_sessions_and_streams_are_created_with_keyboard_usable_modals_and_ended_with_confirmation(
    page: Page, ui: Server
) -> None:
    open_page(page, ui, "sessions")
    opener = page.locator("#new-session")
    opener.click()
    name = page.locator("#session-form input[name=name]")
    expect(name).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#session-form")).to_have_count(0)
    expect(opener).to_be_focused()

    opener.click()
    name.press("Enter")
    expect(page.locator("#session-form .field-error").first).to_have_text("A name is required")
    name.fill("ui-made")
    page.fill("#session-form textarea[name=description]", "made in the browser")
    name.press("Enter")
    expect(page.locator("#session-form")).to_have_count(0)
    row = page.locator('#sessions-table tr[data-name="ui-made"]')
    expect(row).to_contain_text("made in the browser")
    expect(row.locator(".badge")).to_have_text("active")

    # a duplicate name: the API's message, in words, inside the modal
    opener.click()
    name.fill("ui-made")
    name.press("Enter")
    expect(page.locator("#session-form .form-message.error")).to_contain_text("ui-made")
    page.keyboard.press("Escape")

    open_page(page, ui, "streams")
    page.click("#new-stream")
    stream_name = page.locator("#stream-form input[name=name]")
    expect(stream_name).to_be_focused()
    assert unlabelled(page) == []
    stream_name.fill("ui-lane")
    page.locator("#stream-form select[name=session]").select_option(label="ui-made")
    page.fill("#stream-form textarea[name=instructions]", "Make the login work.\nTests pass.")
    screenshot(page, "streams-create-modal")
    page.click("#stream-form button[type=submit]")
    lane = page.locator('#streams-table tr[data-name="ui-lane"]')
    expect(lane).to_contain_text("ui-made")
    expect(lane.locator(".instructions-preview")).to_have_text("Make the login work.")
    expect(lane).to_contain_text("0 queued")
    screenshot(page, "streams")

    # ending asks first; Cancel changes nothing
    lane.locator("button", has_text="End").click()
    dialog = page.locator(".modal[role=dialog]")
    expect(dialog).to_contain_text("End stream")
    dialog.locator("button", has_text="Cancel").click()
    expect(lane.locator(".badge")).to_have_text("active")
    lane.locator("button", has_text="End").click()
    dialog.locator("button", has_text="End stream").click()
    expect(lane.locator(".badge")).to_have_text("ended")

    open_page(page, ui, "sessions")
    row = page.locator('#sessions-table tr[data-name="ui-made"]')
    expect(row.locator("td").nth(3)).to_have_text("0 active / 1")
    screenshot(page, "sessions")
    row.locator("button", has_text="End").click()
    page.locator(".modal button", has_text="End session").click()
    expect(row.locator(".badge")).to_have_text("ended")
    sessions = httpx.get(f"{ui.url}/api/sessions", timeout=10, verify=TLS).json()["sessions"]
    assert [s["status"] for s in sessions if s["name"] == "ui-made"] == ["ended"]


def test_enqueue_form_validates_inline_and_enqueues_nothing_when_invalid(page: Page, ui: Server, lib: Queue) -> None:
    stream = new_stream(lib, "form-lane")
    total = httpx.get(f"{ui.url}/api/tasks", params={"stream_id": stream}, timeout=10, verify=TLS).json()["total"]
    open_page(page, ui, "enqueue")
    page.click("#enqueue-submit")
    expect(page.locator("#enqueue-stream-error")).to_have_text("Choose a stream")
    expect(page.locator("#enqueue-tool-error")).to_have_text("Choose a tool")
    expect(page.locator("#enqueue-stream")).to_be_focused()
    assert unlabelled(page) == []

    page.locator("#enqueue-stream").select_option(stream)
    page.locator("#enqueue-tool").select_option("run-bash")
    page.fill("#enqueue-payload", '{"script": ')
    page.click("#enqueue-submit")
    expect(page.locator("#enqueue-payload-error")).to_contain_text("not valid JSON")
    expect(page.locator("#enqueue-stream-error")).to_have_text("")
    page.fill("#enqueue-payload", '["a list"]')
    page.click("#enqueue-submit")
    expect(page.locator("#enqueue-payload-error")).to_contain_text("must be a JSON object")
    expect(page.locator(".enqueue-message")).not_to_contain_text("enqueued")
    after = httpx.get(f"{ui.url}/api/tasks", params={"stream_id": stream}, timeout=10, verify=TLS).json()["total"]
    assert after == total


def test_enqueue_form_prefills_the_template_completes_script_paths_and_reports_the_new_id(
    page: Page, ui: Server, lib: Queue
) -> None:
    stream = new_stream(lib, "deploys")
    open_page(page, ui, "enqueue")
    page.locator("#enqueue-stream").select_option(stream)
    page.locator("#enqueue-tool").select_option("deploy")
    payload = page.locator("#enqueue-payload")
    expect(payload).to_have_value(re.compile(r'"environment": "staging"'))

    script = page.locator("datalist option").first
    expect(script).to_have_attribute("value", re.compile(r"build-docs\.sh$"))
    path = script.get_attribute("value")
    page.fill("#enqueue-script", path)
    page.press("#enqueue-script", "Tab")
    expect(payload).to_have_value(re.compile(r'"script": '))
    page.locator("#enqueue-class").select_option("FAST_SCRIPT")
    page.fill("#enqueue-timeout", "45")
    page.click("#enqueue-submit")

    message = page.locator(".enqueue-message")
    expect(message).to_have_text(re.compile(r"^Task tsk_[0-9a-f]+ enqueued$"))
    task_id = message.inner_text().split()[1]
    task = api_task(ui, task_id)
    assert task["payload"] == {"branch": "main", "environment": "staging", "script": path}
    assert (task["tool_name"], task["task_class"], task["timeout"], task["stream"]["id"]) == (
        "deploy",
        "FAST_SCRIPT",
        45,
        stream,
    )
    screenshot(page, "enqueue")

    # an API refusal is shown in words: a payload over the server's body limit (8 MiB). Laying out
    # 9 MiB of text in the textarea can take the browser many seconds on a loaded machine, so this
    # click and this answer get a liveness bound of their own (not a speed target)
    page.eval_on_selector("#enqueue-payload", "n => { n.value = JSON.stringify({blob: 'x'.repeat(9 << 20)}); }")
    page.click("#enqueue-submit", timeout=HEAVY)
    expect(message).to_contain_text("larger than", timeout=HEAVY)
    expect(message).not_to_contain_text("enqueued")


def test_task_detail_claims_completes_fails_and_requeues_from_the_ui(page: Page, ui: Server, lib: Queue) -> None:
    stream = new_stream(lib, "detail-lane", "Follow the style guide.")
    first = lib.enqueue(stream, "run-bash", {"script": "first.sh"}).id
    second = lib.enqueue(stream, "run-bash", {"script": "second.sh"}).id

    open_page(page, ui, f"tasks/{first}")
    expect(page.locator("#payload")).to_contain_text('"script": "first.sh"')
    expect(page.locator("#instructions")).to_have_text("Follow the style guide.")
    page.click("#claim")
    expect(page.locator("h1 .badge")).to_have_text("running")

    page.click("#complete")
    summary = page.locator("#complete-form input[name=summary]")
    expect(summary).to_be_focused()
    assert unlabelled(page) == []
    summary.fill("Built the thing")
    page.fill("#complete-form textarea[name=result]", "[1, 2]")
    summary.press("Enter")
    expect(page.locator("#complete-form .field-error").nth(1)).to_contain_text("JSON object")
    assert api_task(ui, first)["status"] == "running"
    page.fill("#complete-form textarea[name=result]", '{"files_changed": 2}')
    page.fill("#complete-form textarea[name=stdout]", "compiling\nok")
    page.click("#complete-form button[type=submit]")
    expect(page.locator("#result-summary")).to_have_text("Built the thing")
    expect(page.locator("#result-data")).to_contain_text('"files_changed": 2')
    expect(page.locator("#stdout")).to_have_text("compiling\nok")
    expect(page.locator("#timing")).to_contain_text("Finished")
    done = api_task(ui, first)
    assert (done["status"], done["result"], done["stdout"]) == (
        "succeeded",
        {"files_changed": 2, "summary": "Built the thing"},
        "compiling\nok",
    )
    screenshot(page, "task-detail")

    page.click("#requeue")
    expect(page.locator("#task-id")).not_to_have_text(first)
    expect(page.locator("h1 .badge")).to_have_text("queued")
    copy = page.locator("#task-id").inner_text()
    assert api_task(ui, copy)["requeued_from"] == first

    lib.claim_task(second)
    open_page(page, ui, f"tasks/{second}")
    page.click("#fail")
    page.fill("#fail-form input[name=error_message]", "tests fail: 3 errors")
    page.fill("#fail-form textarea[name=stderr]", "Traceback: boom")
    page.click("#fail-form button[type=submit]")
    confirm = page.locator(".modal", has_text="Mark task")
    expect(confirm).to_be_visible()
    confirm.locator("button", has_text="Mark failed").click()
    expect(page.locator("#task-error")).to_have_text("tests fail: 3 errors")
    expect(page.locator("#stderr")).to_have_text("Traceback: boom")
    assert api_task(ui, second)["status"] == "failed"

    # the task list's requeue button on a finished row
    open_page(page, ui, f"tasks?stream_id={stream}")
    row = page.locator(f'#tasks-table tr[data-task-id="{second}"]')
    row.locator("button.requeue").click()
    expect(page.locator("#page-info")).to_have_text("1–4 of 4")


def test_a_modal_never_outlives_its_page(page: Page, ui: Server, lib: Queue) -> None:
    stream = new_stream(lib, "modal-lane")
    task = lib.enqueue(stream, "run-bash", {"script": "x.sh"}).id
    lib.claim_task(task)
    open_page(page, ui, f"tasks?stream_id={stream}")
    page.locator(f'#tasks-table a[href="#/tasks/{task}"]').click()
    expect(page.locator("h1 .badge")).to_have_text("running")

    # the Fail… form, then Back: the list shows, with no form left over it
    page.click("#fail")
    expect(page.locator("#fail-form")).to_be_visible()
    page.go_back()
    expect(page.locator(f'#tasks-table tr[data-task-id="{task}"]')).to_be_visible()
    expect(page.locator("dialog")).to_have_count(0)

    # the confirmation over the form, then Back: both go, and nothing was failed
    page.go_forward()
    expect(page.locator("h1 .badge")).to_have_text("running")
    page.click("#fail")
    page.fill("#fail-form input[name=error_message]", "from another page")
    page.click("#fail-form button[type=submit]")
    expect(page.locator(".modal", has_text="Mark task")).to_be_visible()
    page.go_back()
    expect(page.locator(f'#tasks-table tr[data-task-id="{task}"]')).to_be_visible()
    expect(page.locator("dialog")).to_have_count(0)
    page.keyboard.press("Enter")  # what would have confirmed the dialog, had it stayed
    expect(page.locator(f'#tasks-table tr[data-task-id="{task}"]')).to_contain_text("running")
    assert api_task(ui, task)["status"] == "running"


def test_modals_are_native_dialogs_escape_and_backdrop_cancel_and_focus_starts_inside(
    page: Page, ui: Server, lib: Queue
) -> None:
    stream = new_stream(lib, "dialog-lane")
    task = lib.enqueue(stream, "run-bash", {"script": "x.sh"}).id
    lib.claim_task(task)
    open_page(page, ui, f"tasks/{task}")
    expect(page.locator("h1 .badge")).to_have_text("running")
    form = page.locator("#fail-form")
    inside = "() => !!document.activeElement && !!document.activeElement.closest('dialog.modal[open]')"

    # a modal <dialog> (the browser makes the page behind inert and keeps focus in it), focus inside
    page.click("#fail")
    expect(form).to_be_visible()
    assert page.eval_on_selector("dialog.modal", "d => d.open && d.matches(':modal')") is True
    assert page.evaluate(inside) is True
    expect(form.locator("input[name=error_message]")).to_be_focused()

    # Escape closes it without acting, and focus goes back to the button that opened it
    form.locator("input[name=error_message]").fill("not meant")
    page.keyboard.press("Escape")
    expect(page.locator("dialog")).to_have_count(0)
    expect(page.locator("#fail")).to_be_focused()

    # a click on the backdrop closes it too; a click inside it does not
    page.click("#fail")
    page.click("#fail-form label")
    expect(form).to_be_visible()
    page.mouse.click(5, 5)
    expect(page.locator("dialog")).to_have_count(0)

    # the confirmation over the form: Escape, then a backdrop click, answer no and close only it
    page.click("#fail")
    page.fill("#fail-form input[name=error_message]", "still not meant")
    for dismiss in (lambda: page.keyboard.press("Escape"), lambda: page.mouse.click(5, 5)):
        page.click("#fail-form button[type=submit]")
        confirm = page.locator("dialog.modal", has_text="Mark task")
        expect(confirm).to_be_visible()
        assert page.evaluate(inside) is True
        expect(confirm.locator("button", has_text="Mark failed")).to_be_focused()
        dismiss()
        expect(confirm).to_have_count(0)
        expect(form).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("dialog")).to_have_count(0)
    expect(page.locator("h1 .badge")).to_have_text("running")
    assert api_task(ui, task)["status"] == "running"


#: wraps the page's fetch to record its API requests in batches, one per run of script: a refresh
#: starts all its requests at once (before any answer comes), so each batch is what one refresh asked
#: for (the server indicator's /api/health checks aside). An init script runs before the UI's own.
RECORD_REQUESTS = """
window.__batches = [];
let batch = null;
const realFetch = window.fetch;
window.fetch = function (input, init) {
  const path = new URL(input instanceof Request ? input.url : String(input), location.href).pathname;
  if (path !== "/api/health") {
    if (!batch) {
      batch = [];
      window.__batches.push(batch);
      queueMicrotask(() => { batch = null; });
    }
    batch.push(path);
  }
  return realFetch.call(this, input, init);
};
"""


def batches(page: Page, *, clear: bool = False) -> list[list[str]]:
    got = page.evaluate("window.__batches.map((b) => b.slice())")
    if clear:
        page.evaluate("window.__batches.length = 0")
    return got


def test_a_refresh_of_the_dashboard_the_task_list_or_the_sessions_is_one_request(page: Page, tmp_path: Path) -> None:
    srv = Server(tmp_path, free_port())  # its own server: only this test's changes refresh its pages
    try:
        q = open_queue(tmp_path / "sparkq.db")
        q.create_session("counted")
        stream = q.create_stream("counted-lane", "counted").id
        page.add_init_script(RECORD_REQUESTS)

        open_page(page, srv, "dashboard")
        expect(page.locator('[data-count="queued"] .card-value')).to_have_text("0")
        batches(page, clear=True)
        task = q.enqueue(stream, "run-bash", {}).id  # an event: the dashboard refreshes
        expect(page.locator(f'#recent-tasks tr[data-task-id="{task}"]')).to_be_visible(timeout=BY_EVENT)
        expect(page.locator('[data-count="queued"] .card-value')).to_have_text("1")
        refreshes = batches(page, clear=True)
        assert refreshes and all(b == ["/api/overview"] for b in refreshes), refreshes

        page.evaluate("location.hash = '#/tasks'")
        expect(page.locator(f'#tasks-table tr[data-task-id="{task}"]')).to_contain_text("counted-lane")
        # as the page mounts (the tool filter's options come from the registry, read once)
        assert sorted(batches(page, clear=True)[0]) == ["/api/streams", "/api/tasks", "/api/tools"]
        second = q.enqueue(stream, "run-bash", {}).id
        expect(page.locator(f'#tasks-table tr[data-task-id="{second}"]')).to_contain_text("counted-lane")
        refreshes = batches(page, clear=True)
        assert refreshes and all(b == ["/api/tasks"] for b in refreshes), refreshes

        # the stream list is read again after a stream event: a new stream joins the filter
        q.create_stream("later-lane", "counted")
        expect(page.locator("select[name=stream] option", has_text="later-lane")).to_have_count(1, timeout=BY_EVENT)
        assert ["/api/streams", "/api/tasks"] in [sorted(b) for b in batches(page)]

        # the sessions page: a task event refreshes it with /api/sessions alone (streams come with their events)
        page.evaluate("location.hash = '#/sessions'")
        expect(page.locator('#sessions-table tr[data-name="counted"] td').nth(3)).to_have_text("2")
        assert sorted(batches(page, clear=True)[-1]) == ["/api/sessions", "/api/streams"]
        q.enqueue(stream, "run-bash", {})
        page.wait_for_function("() => window.__batches.length > 0", timeout=BY_EVENT)
        refreshes = batches(page, clear=True)
        assert all(b == ["/api/sessions"] for b in refreshes), refreshes
        q.create_stream("third-lane", "counted")
        expect(page.locator('#sessions-table tr[data-name="counted"] td').nth(3)).to_have_text("3", timeout=BY_EVENT)
    finally:
        srv.stop()


def test_stale_rows_are_yellow_and_auto_failed_rows_red(
    page: Page, ui: Server, lib: Queue, clock: ShiftedClock
) -> None:
    stream = new_stream(lib, "slow-lane")
    clock.ago(seconds=70)  # claimed 70 s ago with a 60 s timeout: stale, not yet dead (120 s)
    stale = lib.enqueue(stream, "run-bash", {"script": "slow.sh"}, timeout=60).id
    lib.claim_task(stale)
    clock.ago(seconds=30)  # claimed 30 s ago with a 10 s timeout: dead, so the server's sweep fails it
    dead = lib.enqueue(stream, "run-bash", {"script": "hung.sh"}, timeout=10).id
    lib.claim_task(dead)
    clock.ago(seconds=0)
    fine = lib.enqueue(stream, "run-bash", {"script": "quick.sh"}).id
    # a worker's failure in the sweep's own words is a reported failure: neither red nor bannered
    lookalike = lib.enqueue(stream, "run-bash", {"script": "copycat.sh"}).id
    lib.claim_task(lookalike)
    lib.fail(lookalike, AUTO_FAIL_MESSAGE.format(timeout=10), error_type="Copycat")

    open_page(page, ui, f"tasks?stream_id={stream}")
    stale_row = page.locator(f'tr[data-task-id="{stale}"]')
    dead_row = page.locator(f'tr[data-task-id="{dead}"]')
    expect(stale_row).to_have_class(re.compile(r"\bstale\b"))
    expect(stale_row.locator(".warn-mark")).to_have_text("⚠ ")
    expect(stale_row.locator(".badge")).to_contain_text("stale")
    expect(dead_row).to_have_class(re.compile(r"\bauto-failed\b"), timeout=15_000)
    expect(dead_row.locator(".badge")).to_have_text("failed (auto)")
    expect_background(page, f'tr[data-task-id="{stale}"] td', STALE_BG)
    expect_background(page, f'tr[data-task-id="{dead}"] td', AUTO_FAILED_BG)
    expect_background(page, f'tr[data-task-id="{fine}"] td', "rgba(0, 0, 0, 0)")
    lookalike_row = page.locator(f'tr[data-task-id="{lookalike}"]')
    expect(lookalike_row.locator(".badge")).to_have_text("failed")
    expect(lookalike_row).not_to_have_class(re.compile(r"\bauto-failed\b"))
    screenshot(page, "tasks")

    page.click(f'tr[data-task-id="{dead}"] td:nth-child(2)')  # a row click opens the detail
    expect(page.locator("#task-id")).to_have_text(dead)
    expect(page.locator(".banner.danger")).to_contain_text("Auto-failed")

    open_page(page, ui, f"tasks/{lookalike}")
    expect(page.locator("#task-error")).to_have_text(AUTO_FAIL_MESSAGE.format(timeout=10))
    expect(page.locator("#task-error-type")).to_have_text("Copycat")
    expect(page.locator(".banner.danger")).to_have_count(0)


def test_untrusted_text_is_shown_literally_and_never_runs(page: Page, ui: Server, lib: Queue) -> None:
    session = lib.create_session("xss-session", EVIL)
    stream = lib.create_stream("xss-lane", session.id, EVIL).id
    ok = lib.enqueue(stream, "run-bash", {"note": EVIL}).id
    lib.claim_task(ok)
    lib.complete(ok, {"summary": EVIL, "html": EVIL}, stdout=EVIL, stderr=EVIL)
    bad = lib.enqueue(stream, "run-bash", {"note": EVIL}).id
    lib.claim_task(bad)
    lib.fail(bad, EVIL)

    open_page(page, ui, f"tasks/{ok}")
    expect(page.locator("#result-summary")).to_have_text(EVIL)
    expect(page.locator("#stdout")).to_have_text(EVIL)
    expect(page.locator("#stderr")).to_have_text(EVIL)
    expect(page.locator("#instructions")).to_have_text(EVIL)
    expect(page.locator("#payload")).to_contain_text(SCRIPT_TAG)
    expect(page.locator("#payload")).to_contain_text("<img src=x onerror=")
    screenshot(page, "task-detail-untrusted-text")
    open_page(page, ui, f"tasks/{bad}")
    expect(page.locator("#task-error")).to_have_text(EVIL)
    open_page(page, ui, f"dashboard?stream_id={stream}")
    expect(page.locator(f'#recent-tasks tr[data-task-id="{ok}"] .summary-cell')).to_have_text(EVIL)
    open_page(page, ui, "sessions")
    expect(page.locator('#sessions-table tr[data-name="xss-session"]')).to_contain_text(EVIL)
    open_page(page, ui, "streams")
    expect(page.locator('#streams-table tr[data-name="xss-lane"] .instructions-preview')).to_contain_text(SCRIPT_TAG)

    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("#app img, #app script").count() == 0


def test_task_list_is_paginated_and_filtered_by_the_server(page: Page, ui: Server, lib: Queue) -> None:
    stream = new_stream(lib, "bulk")
    for n in range(120):
        lib.enqueue(stream, "run-bash", {"n": n})
    lib.claim_task(lib.list_tasks(stream=stream, limit=1, newest_first=False).tasks[0].id)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))

    open_page(page, ui, f"tasks?stream_id={stream}")
    rows = page.locator("#tasks-table tbody tr.task-row")
    expect(page.locator("#page-info")).to_have_text("1–50 of 120")
    expect(rows).to_have_count(50)
    first_page_ids = rows.evaluate_all("rs => rs.map(r => r.dataset.taskId)")
    page.click("#next-page")
    expect(page.locator("#page-info")).to_have_text("51–100 of 120")
    expect(rows).to_have_count(50)
    assert not set(first_page_ids) & set(rows.evaluate_all("rs => rs.map(r => r.dataset.taskId)"))
    page.click("#next-page")
    expect(page.locator("#page-info")).to_have_text("101–120 of 120")
    expect(rows).to_have_count(20)
    expect(page.locator("#next-page")).to_be_disabled()
    page.click("#prev-page")
    expect(page.locator("#page-info")).to_have_text("51–100 of 120")

    page.locator("select[name=status]").select_option("running")
    expect(page.locator("#page-info")).to_have_text("1–1 of 1")
    expect(rows.locator(".badge")).to_have_text("running")

    lists = [url for url in requests if re.search(r"/api/tasks\?", url)]
    assert lists, requests
    assert all(re.search(r"[?&]limit=50(&|$)", url) for url in lists), lists
    assert any("status=running" in url and f"stream_id={stream}" in url for url in lists), lists


def test_server_indicator_turns_red_when_the_server_stops_and_green_when_it_returns(page: Page, tmp_path: Path) -> None:
    port = free_port()
    srv = Server(tmp_path, port)
    try:
        open_page(page, srv, "dashboard")
        indicator = page.locator("#server-status")
        srv.stop()
        expect(indicator).to_have_attribute("data-state", "down", timeout=15_000)
        expect_background(page, "#server-status .dot", RED)
        expect(indicator).to_contain_text("unreachable")
        screenshot(page, "server-down")
        srv = Server(tmp_path, port)
        expect(indicator).to_have_attribute("data-state", "up", timeout=15_000)
        expect_background(page, "#server-status .dot", GREEN)
        # and the page works again: a task enqueued now shows up live
        q = open_queue(tmp_path / "sparkq.db")
        session = q.create_session("back")
        task = q.enqueue(q.create_stream("again", session.id).id, "run-bash", {}).id
        expect(page.locator(f'#recent-tasks tr[data-task-id="{task}"]')).to_be_visible(timeout=15_000)
    finally:
        srv.stop()
