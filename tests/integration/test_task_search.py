"""Reviewing tasks: `sparkq tasks` with its SUMMARY/ERROR column, --search and --tool; `GET /api/tasks?q=&tool=`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from sparkq_domain import Queue
from sparkq_domain.review import MAX_SEARCH_CHARS
from tests.integration.conftest import Server

from .cli_support import make_stream, ok, ok_json, refused

if TYPE_CHECKING:
    from tests.conftest import RunSparkq

pytestmark = pytest.mark.in_process

LONG_SUMMARY = "Migrated the users table to the new schema; " + "every index rebuilt and checked, " * 8 + "THE END"


def _arrange(workdir: Path) -> tuple[Queue, dict[str, str]]:
    """A success with a long summary, an escalation, a plain failure, a running task with a note, a queued one."""
    queue = make_stream(workdir)
    ids = {
        "ok": queue.enqueue("auth", "run-python", {"script": "migrate.py"}).id,
        "question": queue.enqueue("auth", "run-bash", {"script": "deploy.sh"}).id,
        "broke": queue.enqueue("auth", "run-bash", {"script": "build.sh"}).id,
        "note": queue.enqueue("auth", "llm-haiku", {"prompt": "review 100% of it"}).id,
        "queued": queue.enqueue("auth", "run-bash", {"script": "later.sh"}).id,
    }
    for _ in range(4):
        queue.claim("auth")
    queue.complete(ids["ok"], {"summary": LONG_SUMMARY})
    queue.fail(ids["question"], "QUESTION: which region do I deploy to?")
    queue.fail(ids["broke"], "tests fail in users_test.py")
    queue.heartbeat(ids["note"], "read 3 of 12 files")
    return queue, ids


def _rows(out: str) -> dict[str, str]:
    lines = out.splitlines()
    return {line.split()[0]: line for line in lines[1:] if line.startswith("tsk_")}


def test_tasks_shows_summary_error_and_progress_note_marking_questions(sparkq: RunSparkq, workdir: Path) -> None:
    _, ids = _arrange(workdir)
    out = ok(sparkq("tasks", env={"COLUMNS": "200"}))
    assert out.splitlines()[0].split() == ["ID", "STREAM", "TOOL", "STATUS", "CREATED", "DURATION", "SUMMARY/ERROR"]
    rows = _rows(out)
    assert rows[ids["question"]].endswith("? QUESTION: which region do I deploy to?")
    assert rows[ids["broke"]].endswith("  tests fail in users_test.py")
    assert "?" not in rows[ids["broke"]]
    assert rows[ids["note"]].endswith("  read 3 of 12 files")
    assert rows[ids["ok"]].split("  ")[-1].startswith("Migrated the users table")
    assert rows[ids["queued"]].rstrip().endswith("-")  # nothing to say yet: DURATION is its last cell


def test_the_summary_column_is_cut_to_the_terminal_and_json_has_the_whole_text(
    sparkq: RunSparkq, workdir: Path
) -> None:
    _, ids = _arrange(workdir)
    for width in (100, 140):
        out = ok(sparkq("tasks", env={"COLUMNS": str(width)}))
        assert all(len(line) <= width for line in out.splitlines()), out
        assert _rows(out)[ids["ok"]].endswith("…")
    tasks = {t["id"]: t for t in ok_json(sparkq("tasks", "--json", env={"COLUMNS": "100"}))}
    assert tasks[ids["ok"]]["summary"] == LONG_SUMMARY
    assert tasks[ids["question"]]["error"] == "QUESTION: which region do I deploy to?"
    assert tasks[ids["note"]]["progress"] == "read 3 of 12 files"


def test_the_question_mark_is_coloured_on_a_terminal_only(workdir: Path) -> None:
    from sparkq_adapters.cli import output

    queue, ids = _arrange(workdir)
    task = queue.get_task(ids["question"])
    names = {task.stream_id: "auth"}
    painted = "\n".join(output.tasks_table([task], names, queue.now(), width=200, color=True))
    assert "\x1b[1;35m? QUESTION: which region" in painted
    plain = "\n".join(output.tasks_table([task], names, queue.now(), width=200, color=False))
    assert "\x1b" not in plain and "? QUESTION: which region" in plain


def test_tasks_search_and_tool_filter_the_list(sparkq: RunSparkq, workdir: Path) -> None:
    _, ids = _arrange(workdir)

    def listed(*args: str) -> list[str]:
        return [t["id"] for t in ok_json(sparkq("tasks", "--json", *args))]

    assert listed("--search", "USERS") == [ids["broke"], ids["ok"]]
    assert listed("--search", "question:") == [ids["question"]]
    assert listed("--search", "3 of 12") == [ids["note"]]
    assert listed("--search", "later.sh") == [ids["queued"]]
    assert listed("--search", "100%") == [ids["note"]]
    assert listed("--search", ids["ok"][4:]) == [ids["ok"]]
    assert listed("--tool", "run-bash") == [ids["queued"], ids["broke"], ids["question"]]
    assert listed("--tool", "run-bash", "--status", "failed", "--search", "region") == [ids["question"]]
    assert listed("--tool", "no-such-tool") == []
    assert ok(sparkq("tasks", "--search", "nothing like it")) == "No tasks match these filters.\n"
    # a tool name that matches no task and is not in the registry either: probably a typo, so say which are
    assert ok(sparkq("tasks", "--tool", "run-bsh")) == (
        "No tasks match these filters. No tool 'run-bsh' is in the registry either; known tools: "
        "llm-haiku, llm-sonnet, run-bash, run-bash-fast, run-migrations, run-python.\n"
    )
    assert ok(sparkq("tasks", "--tool", "run-migrations")) == "No tasks match these filters.\n"


def test_tasks_search_beyond_its_limit_is_refused_naming_it(sparkq: RunSparkq, workdir: Path) -> None:
    _arrange(workdir)
    message = refused(sparkq("tasks", "--search", "x" * (MAX_SEARCH_CHARS + 1)))
    assert f"{MAX_SEARCH_CHARS + 1} characters: at most {MAX_SEARCH_CHARS}" in message


# -- HTTP --------------------------------------------------------------------------------------------------------


@pytest.fixture
def api(server: Server) -> httpx.Client:
    with server.client() as client:
        yield client


def _listed(api: httpx.Client, **params: Any) -> list[str]:
    response = api.get("/api/tasks", params={"order": "oldest", **params})
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == len(page["tasks"])
    return [t["id"] for t in page["tasks"]]


def test_api_tasks_takes_q_and_tool(api: httpx.Client, workdir: Path) -> None:
    _, ids = _arrange(workdir)
    assert _listed(api, q="users") == [ids["ok"], ids["broke"]]
    assert _listed(api, q="QUESTION:", tool="run-bash") == [ids["question"]]
    assert _listed(api, tool="llm-haiku") == [ids["note"]]
    assert _listed(api, q="read 3", status="running") == [ids["note"]]
    assert _listed(api, q="_test") == [ids["broke"]]
    assert _listed(api, q="") == list(ids.values())
    assert _listed(api, tool="no-such-tool") == []
    [row] = api.get("/api/tasks", params={"q": "3 of 12"}).json()["tasks"]
    assert (row["status"], row["progress"]) == ("running", "read 3 of 12 files")


def test_api_q_beyond_its_limit_is_a_400_naming_the_limit(api: httpx.Client, workdir: Path) -> None:
    _arrange(workdir)
    assert _listed(api, q="x" * MAX_SEARCH_CHARS) == []
    response = api.get("/api/tasks", params={"q": "x" * (MAX_SEARCH_CHARS + 1)})
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert message.startswith("Invalid query parameter q:")
    assert f"length <= {MAX_SEARCH_CHARS}" in message, message


def test_api_q_with_a_nul_character_is_refused_in_words(api: httpx.Client, workdir: Path) -> None:
    _arrange(workdir)
    response = api.get("/api/tasks", params={"q": "tables\x00nothing"})
    assert response.status_code == 422, response.text
    assert "NUL character" in response.json()["error"]["message"]


def test_the_openapi_document_describes_q_and_tool(api: httpx.Client) -> None:
    params = {p["name"]: p for p in api.get("/schema/openapi.json").json()["paths"]["/api/tasks"]["get"]["parameters"]}
    assert "summary" in params["q"]["description"] and "progress note" in params["q"]["description"]
    schema = params["q"]["schema"]
    assert MAX_SEARCH_CHARS in [s.get("maxLength") for s in [schema, *schema.get("oneOf", [])]]
    assert "exact name" in params["tool"]["description"]


def test_a_search_whose_page_ends_the_list_reads_the_tasks_once(tmp_path: Path) -> None:
    from sparkq_adapters.clock import SystemClock
    from sparkq_adapters.sqlite import SqliteStore
    from tests.fakes import SequentialIds

    store = SqliteStore(tmp_path / "sparkq.db")
    try:
        queue = Queue(store, SystemClock(), SequentialIds())
        queue.ensure_project("p")
        queue.create_session("s")
        queue.create_stream("a", "s")
        for n in range(30):
            queue.enqueue("a", "run-bash", {"n": n, "word": "rare" if n % 10 == 0 else "common"})
        seen: list[str] = []
        conn = store.connection()
        # the statements of the search (the sweep's own read before it is not one)
        conn.set_trace_callback(lambda sql: seen.append(sql) if "LIKE" in sql else None)
        try:
            assert queue.list_tasks(search="RARE", limit=50).total == 3
            assert len(seen) == 1 and "COUNT" not in seen[0]  # the page held them all: no count
            seen.clear()
            assert queue.list_tasks(search="common", limit=5).total == 27
            assert len(seen) == 2 and "COUNT(*)" in seen[1]  # a full page: the rest are counted
        finally:
            conn.set_trace_callback(None)
    finally:
        store.close()
