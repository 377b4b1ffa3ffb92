"""`sparkq mcp` over stdio, driven by the MCP SDK's own client: the tools, the worker loop, every refusal.

One server process serves the module (each test works in streams of its own); refusals are
compared with what the CLI says for the same mistake, word for word.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SPARKQ, _clean_env
from tests.integration.cli_support import enqueued_elsewhere, library_queue, make_stream
from tests.integration.mcp_support import (
    McpClient,
    answer,
    cli_error,
    listed_tools,
    refusal,
    stdio_server,
)

MISSING = "tsk_000000000000"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mcp-stdio")


@pytest.fixture(scope="module")
def mcp(folder: Path) -> Iterator[McpClient]:
    library_queue(folder)  # the database and its project, before the server opens it
    client = McpClient(stdio_server(folder))
    try:
        yield client
    finally:
        client.close()


def running(folder: Path, stream: str, **payload: Any) -> str:
    """A task claimed in `stream` (created when new); its id."""
    queue = library_queue(folder)
    if not any(s.stream.name == stream for s in queue.list_streams()):
        make_stream(folder, stream, instructions=f"Work on {stream}")
    task_id = queue.enqueue(stream, "run-bash", payload).id
    queue.claim_task(task_id)
    return task_id


# -- the tools ------------------------------------------------------------------------------------


def test_tools_list_has_the_eight_tools_in_under_8_kb(mcp: McpClient) -> None:
    listing = listed_tools(mcp, "stdio")
    for tool in listing.tools:
        assert tool.input_schema["type"] == "object"
        assert tool.input_schema["additionalProperties"] is False, tool.name
        assert tool.description and len(tool.description) < 500, tool.name
    read_only = {t.name for t in listing.tools if t.annotations is not None and t.annotations.read_only_hint}
    assert read_only == {"streams", "tasks", "task"}
    assert mcp.client.instructions is not None and "QUESTION" not in mcp.client.instructions
    fail = next(t for t in listing.tools if t.name == "fail")
    assert "QUESTION:" in (fail.description or "")  # how to escalate is taught where it is used


# -- the worker loop ------------------------------------------------------------------------------


def test_the_worker_loop_streams_claim_heartbeat_complete(mcp: McpClient, folder: Path, tmp_path: Path) -> None:
    queue = make_stream(folder, "loop", instructions="Add login; done when tests pass")
    queued = queue.enqueue("loop", "run-bash", {"script": "scripts/test.sh"}).id

    [stream] = [s for s in mcp.ok("streams") if s["name"] == "loop"]
    assert stream["instructions"] == "Add login; done when tests pass"
    assert stream["task_counts"]["queued"] == 1

    task = mcp.ok("claim", stream="loop")
    assert (task["id"], task["status"], task["payload"]) == (queued, "running", {"script": "scripts/test.sh"})
    assert task["stream"]["instructions"] == "Add login; done when tests pass"

    beat = mcp.ok("heartbeat", task_id=queued, note="tests written; 3/5 pass")
    assert beat == {"id": queued, "status": "running", "progress": "tests written; 3/5 pass"}
    assert library_queue(folder).get_task(queued).progress == "tests written; 3/5 pass"

    out = tmp_path / "out.log"
    out.write_text("line\n" * 50_000)  # 250 KB: too much for an argument, read from the file
    done = mcp.ok(
        "complete",
        task_id=queued,
        summary="Added POST /login; 14 tests pass",
        result={"files": ["src/auth.py"]},
        stdout_file=str(out),
        stderr="2 warnings",
    )
    assert done == {"id": queued, "status": "succeeded"}
    stored = library_queue(folder).get_task(queued)
    assert stored.result == {"summary": "Added POST /login; 14 tests pass", "files": ["src/auth.py"]}
    assert (stored.stdout, stored.stderr) == (out.read_text(), "2 warnings")

    detail = mcp.ok("task", task_id=queued)
    assert detail["result"]["summary"] == "Added POST /login; 14 tests pass"
    assert detail["stream"]["name"] == "loop"
    listed = mcp.ok("tasks", stream="loop", search="POST /login")
    assert [t["id"] for t in listed["tasks"]] == [queued] and listed["total"] == 1
    assert "stdout" not in listed["tasks"][0]  # a list leaves the bulky fields to `task`
    assert mcp.ok("claim", stream="loop").startswith("No task was queued in stream 'loop'")


def test_claim_then_fail_with_a_question(mcp: McpClient, folder: Path, tmp_path: Path) -> None:
    queue = make_stream(folder, "asks")
    queued = queue.enqueue("asks", "llm-sonnet", {"prompt": "remove v1?"}).id
    assert mcp.ok("claim", stream="asks")["id"] == queued
    err = tmp_path / "err.log"
    err.write_text("AssertionError: v1 still routed\n")
    question = "QUESTION: keep the v1 /login endpoint? (a) keep both (b) remove v1 now"
    failed = mcp.ok("fail", task_id=queued, error=question, error_type="Question", stderr_file=str(err))
    assert failed == {"id": queued, "status": "failed"}
    stored = library_queue(folder).get_task(queued)
    assert (stored.error, stored.error_type, stored.stderr) == (question, "Question", err.read_text())
    listed = mcp.ok("tasks", status="failed", search="QUESTION:")
    assert queued in [t["id"] for t in listed["tasks"]]


def test_enqueue_queues_at_the_back_of_the_stream(mcp: McpClient, folder: Path) -> None:
    make_stream(folder, "fifo")
    first = mcp.ok("enqueue", stream="fifo", tool="run-bash", payload={"n": 1})
    second = mcp.ok("enqueue", stream="fifo", tool="llm-haiku", payload={"n": 2}, timeout=45)
    assert (first["status"], second["timeout"]) == ("queued", 45)
    assert mcp.ok("claim", stream="fifo")["id"] == first["id"]
    assert mcp.ok("claim", stream="fifo")["id"] == second["id"]


def test_a_blocking_claim_is_woken_by_an_enqueue_from_another_process(mcp: McpClient, folder: Path) -> None:
    make_stream(folder, "wake")
    waiting = mcp.start("claim", {"stream": "wake", "wait": 60})
    time.sleep(0.5)
    assert not waiting.done()  # nothing queued yet: the claim waits
    task_id = enqueued_elsewhere(folder, "wake", '{"script": "scripts/build.sh"}')
    task = answer(waiting.result(timeout=60))
    assert (task["id"], task["status"]) == (task_id, "running")


def test_a_blocking_claim_on_a_stream_ended_meanwhile_is_refused(mcp: McpClient, folder: Path) -> None:
    make_stream(folder, "ending")
    waiting = mcp.start("claim", {"stream": "ending", "wait": 60})
    time.sleep(0.5)
    ended = subprocess.run(
        [SPARKQ, "stream", "end", "ending"], cwd=folder, capture_output=True, text=True, env=_clean_env(), timeout=60
    )
    assert ended.returncode == 0, ended.stderr
    words = refusal(waiting.result(timeout=60))
    assert words == cli_error(folder, "claim", "--stream", "ending")
    assert "stop this worker's loop" in words


# -- refusals: the CLI's words --------------------------------------------------------------------


@pytest.fixture(scope="module")
def refusals(folder: Path) -> dict[str, str]:
    """Tasks and streams in the states the refusals need."""
    queue = make_stream(folder, "errs")
    make_stream(folder, "gone")
    queue.end_stream("gone")
    done = running(folder, "errs")
    queue.complete(done, {"summary": "ok"})
    failed = running(folder, "errs")
    queue.fail(failed, "broke")
    return {"running": running(folder, "errs"), "done": done, "failed": failed}


SAME_WORDS: list[tuple[str, str, Callable[[dict[str, str]], dict[str, Any]], Callable[[dict[str, str]], list[str]]]] = [
    (
        "complete an unknown task",
        "complete",
        lambda t: {"task_id": MISSING, "summary": "x"},
        lambda t: ["complete", MISSING, "--result", '{"summary": "x"}'],
    ),
    (
        "fail an unknown task",
        "fail",
        lambda t: {"task_id": MISSING, "error": "x"},
        lambda t: ["fail", MISSING, "--error", "x"],
    ),
    ("heartbeat an unknown task", "heartbeat", lambda t: {"task_id": MISSING}, lambda t: ["heartbeat", MISSING]),
    ("show an unknown task", "task", lambda t: {"task_id": MISSING}, lambda t: ["task", MISSING]),
    ("claim from an unknown stream", "claim", lambda t: {"stream": "nope"}, lambda t: ["claim", "--stream", "nope"]),
    ("claim from an ended stream", "claim", lambda t: {"stream": "gone"}, lambda t: ["claim", "--stream", "gone"]),
    (
        "enqueue into an ended stream",
        "enqueue",
        lambda t: {"stream": "gone", "tool": "run-bash", "payload": {}},
        lambda t: ["enqueue", "run-bash", "{}", "--stream", "gone"],
    ),
    (
        "enqueue an unknown tool",
        "enqueue",
        lambda t: {"stream": "errs", "tool": "no-such-tool", "payload": {}},
        lambda t: ["enqueue", "no-such-tool", "{}", "--stream", "errs"],
    ),
    (
        "enqueue a script path outside the project",
        "enqueue",
        lambda t: {"stream": "errs", "tool": "run-bash", "payload": {"script": "../../etc/passwd"}},
        lambda t: ["enqueue", "run-bash", '{"script": "../../etc/passwd"}', "--stream", "errs"],
    ),
    (
        "complete with a blank summary",
        "complete",
        lambda t: {"task_id": t["running"], "summary": "  "},
        lambda t: ["complete", t["running"], "--result", '{"summary": "  "}'],
    ),
    (
        "complete a task that already succeeded",
        "complete",
        lambda t: {"task_id": t["done"], "summary": "again"},
        lambda t: ["complete", t["done"], "--result", '{"summary": "again"}'],
    ),
    (
        "fail a task that already failed",
        "fail",
        lambda t: {"task_id": t["failed"], "error": "again"},
        lambda t: ["fail", t["failed"], "--error", "again"],
    ),
    (
        "heartbeat a task that has failed",
        "heartbeat",
        lambda t: {"task_id": t["failed"], "note": "still here"},
        lambda t: ["heartbeat", t["failed"], "--note", "still here"],
    ),
    (
        "heartbeat with a blank note",
        "heartbeat",
        lambda t: {"task_id": t["running"], "note": " "},
        lambda t: ["heartbeat", t["running"], "--note", " "],
    ),
    (
        "complete with an output file that is not there",
        "complete",
        lambda t: {"task_id": t["running"], "summary": "x", "stdout_file": "/no/such/out.log"},
        lambda t: ["complete", t["running"], "--result", '{"summary": "x"}', "--stdout-file", "/no/such/out.log"],
    ),
    (
        "search for too long a text",
        "tasks",
        lambda t: {"search": "x" * 5000},
        lambda t: ["tasks", "--search", "x" * 5000],
    ),
]


@pytest.mark.parametrize(
    ("tool", "arguments", "cli"), [case[1:] for case in SAME_WORDS], ids=[c[0] for c in SAME_WORDS]
)
def test_a_refusal_is_a_tool_error_with_the_cli_words(
    mcp: McpClient,
    folder: Path,
    refusals: dict[str, str],
    tool: str,
    arguments: Callable[[dict[str, str]], dict[str, Any]],
    cli: Callable[[dict[str, str]], list[str]],
) -> None:
    words = mcp.refused(tool, **arguments(refusals))
    assert words == cli_error(folder, *cli(refusals))
    assert library_queue(folder).get_task(refusals["running"]).status == "running"  # nothing changed


BAD_ARGUMENTS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("claim", {"stream": "errs", "strem": "x"}, ["Unknown argument 'strem' for claim", "it takes: stream, wait"]),
    ("claim", {"stream": "errs", "wait": "60"}, ["'wait' of claim must be a number, got a string"]),
    ("claim", {"stream": "errs", "wait": 601}, ["'wait' of claim must be at most 600"]),
    ("claim", {"stream": "errs", "wait": -1}, ["'wait' of claim must be at least 0"]),
    ("claim", {"stream": 7}, ["'stream' of claim must be a string, got an integer"]),
    ("complete", {"task_id": "{running}"}, ["complete needs the argument 'summary'"]),
    (
        "complete",
        {"task_id": "{running}", "summary": "x", "result": ["a"]},
        ["'result' of complete must be a JSON object"],
    ),
    (
        "complete",
        {"task_id": "{running}", "summary": "x", "result": {"summary": "y"}},
        ["summary argument, not inside result"],
    ),
    (
        "complete",
        {"task_id": "{running}", "summary": "x", "stdout": "a", "stdout_file": "/tmp/a"},
        ["either stdout or stdout_file"],
    ),
    (
        "complete",
        {"task_id": "{running}", "summary": "x", "stderr_file": "-"},
        ["stderr_file needs the path of a file"],
    ),
    ("fail", {"task_id": "{running}"}, ["fail needs the argument 'error'"]),
    (
        "enqueue",
        {"stream": "errs", "tool": "run-bash", "payload": {}, "timeout": True},
        ["'timeout' of enqueue must be an integer, got a boolean"],
    ),
    (
        "enqueue",
        {"stream": "errs", "tool": "run-bash", "payload": {}, "task_class": "HUGE"},
        ["'task_class' of enqueue must be one of: FAST_SCRIPT"],
    ),
    (
        "enqueue",
        {"stream": "errs", "tool": "run-bash", "payload": "{}"},
        ["'payload' of enqueue must be a JSON object, got a string"],
    ),
    ("tasks", {"status": "done"}, ["'status' of tasks must be one of: queued, running, succeeded, failed, cancelled"]),
    ("tasks", {"limit": 0}, ["'limit' of tasks must be at least 1"]),
    ("streams", {"stream": "errs"}, ["Unknown argument 'stream' for streams; it takes: status"]),
    ("claims", {}, ["Unknown tool 'claims'; the tools are: streams, claim, complete"]),
]


@pytest.mark.parametrize(("tool", "arguments", "words"), BAD_ARGUMENTS)
def test_unknown_and_invalid_arguments_are_refused_clearly(
    mcp: McpClient, folder: Path, refusals: dict[str, str], tool: str, arguments: dict[str, Any], words: list[str]
) -> None:
    filled = {k: refusals["running"] if v == "{running}" else v for k, v in arguments.items()}
    said = mcp.refused(tool, **filled)
    for part in words:
        assert part in said
    assert "\n" not in said
    assert library_queue(folder).get_task(refusals["running"]).status == "running"


def test_claim_without_a_stream_or_a_default_names_where_work_waits(mcp: McpClient, folder: Path) -> None:
    make_stream(folder, "waiting").enqueue("waiting", "run-bash", {})
    said = mcp.refused("claim")
    assert said.startswith("claim needs a stream: pass stream (the streams tool lists them)")
    assert "`sparkq mcp --stream NAME`" in said and "waiting (1 queued)" in said


# -- the default stream, and a missing SDK ----------------------------------------------------------


def test_stream_option_makes_a_default_stream_for_claim_and_enqueue(folder: Path) -> None:
    make_stream(folder, "dflt")
    client = McpClient(stdio_server(folder, "--stream", "dflt"))
    try:
        tools = {t.name: t for t in client.list_tools().tools}
        assert "required" not in tools["claim"].input_schema
        assert "(default: dflt)" in tools["claim"].input_schema["properties"]["stream"]["description"]
        queued = client.ok("enqueue", tool="run-bash", payload={"script": "scripts/a.sh"})
        assert library_queue(folder).get_task(queued["id"]).stream_id == library_queue(folder).get_stream("dflt").id
        assert client.ok("claim")["id"] == queued["id"]
        assert client.ok("claim", stream="errs").startswith("No task was queued in stream 'errs'")  # another one
    finally:
        client.close()


def test_without_the_extra_sparkq_mcp_says_how_to_install_it(folder: Path, tmp_path: Path) -> None:
    # an `mcp` module that cannot be imported, first on the path: what a plain `pip install sparkq` leaves
    (tmp_path / "mcp.py").write_text("raise ModuleNotFoundError(\"No module named 'mcp'\", name='mcp')\n")
    result = subprocess.run(
        [SPARKQ, "mcp", "--stream", "errs"],
        cwd=folder,
        capture_output=True,
        text=True,
        env=_clean_env({"PYTHONPATH": str(tmp_path)}),
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: `sparkq mcp` needs the MCP SDK, which is not installed (mcp is missing): pip install 'sparkq[mcp]'\n"
    )


def test_queue_commands_never_import_the_sdk(folder: Path) -> None:
    probe = (
        "import sys; from sparkq_entry.cli import main; main(['claim', '--stream', 'errs']); "
        "main(['tasks', '--limit', '1']); print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('mcp', 'mcp_types', 'pydantic', 'starlette'))))"
    )
    result = subprocess.run(
        [str(Path(SPARKQ).parent / "python"), "-c", "import json; " + probe],
        cwd=folder,
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_the_transcript_script_records_a_worker_loop(tmp_path: Path) -> None:
    out = tmp_path / "transcript.md"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [str(Path(SPARKQ).parent / "python"), str(root / "scripts" / "mcp_transcript.py"), str(out)],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    for step in ('→ `claim` `{"wait": 30}`', "→ `heartbeat`", "→ `complete`", "QUESTION:", "**tool error** (isError)"):
        assert step in text
    assert '"status": "succeeded"' in text and "14 passed" not in text  # the output went to the task, not the page
