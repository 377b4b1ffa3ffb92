"""/mcp on a real `sparkq run`: the SDK's own client over streamable HTTP, and the attacks the REST guard stops.

One server serves the module; each test works in streams of its own.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.conftest import SPARKQ, _clean_env, unmeasured
from tests.integration.cli_support import enqueued_elsewhere, library_queue, make_stream
from tests.integration.conftest import Server, free_port
from tests.integration.mcp_support import McpClient, answer, cli_error, listed_tools
from tests.integration.test_http_security import raw_request
from tests.integration.test_watch_cli import left_then_enqueued


@pytest.fixture(scope="module")
def mcp(shared_server: Server) -> Iterator[McpClient]:
    client = McpClient(shared_server.url + "/mcp")
    try:
        yield client
    finally:
        client.close()


def test_tools_list_over_http_reads_no_files_and_stays_under_8_kb(mcp: McpClient) -> None:
    listing = listed_tools(mcp, "HTTP")
    complete = next(t for t in listing.tools if t.name == "complete")
    assert "stdout_file" not in complete.input_schema["properties"]


def test_the_worker_loop_over_http(mcp: McpClient, shared_server: Server) -> None:
    queue = make_stream(shared_server.folder, "web", instructions="Ship it")
    first = queue.enqueue("web", "run-bash", {"script": "scripts/a.sh"}).id
    second = queue.enqueue("web", "run-bash", {"script": "scripts/b.sh"}).id
    [stream] = [s for s in mcp.ok("streams") if s["name"] == "web"]
    assert (stream["instructions"], stream["task_counts"]["queued"]) == ("Ship it", 2)

    task = mcp.ok("claim", stream="web")
    assert (task["id"], task["stream"]["instructions"]) == (first, "Ship it")
    assert mcp.ok("heartbeat", task_id=first, note="half way")["progress"] == "half way"
    assert mcp.ok("complete", task_id=first, summary="Built a; 3 tests pass", stdout="ok\n")["status"] == "succeeded"

    assert mcp.ok("claim", stream="web")["id"] == second
    assert mcp.ok("fail", task_id=second, error="QUESTION: a or b?")["status"] == "failed"

    stored = library_queue(shared_server.folder)
    assert (stored.get_task(first).result, stored.get_task(first).stdout) == (
        {"summary": "Built a; 3 tests pass"},
        "ok\n",
    )
    assert stored.get_task(second).error == "QUESTION: a or b?"
    assert mcp.ok("task", task_id=second)["status"] == "failed"


def test_the_2026_protocol_works_too(shared_server: Server) -> None:
    queue = make_stream(shared_server.folder, "modern")
    queued = queue.enqueue("modern", "run-bash", {}).id
    client = McpClient(shared_server.url + "/mcp", mode="auto")  # probes server/discover first
    try:
        assert client.client.protocol_version == "2026-07-28"
        assert client.ok("claim", stream="modern")["id"] == queued
        assert client.ok("complete", task_id=queued, summary="Done the modern way")["status"] == "succeeded"
    finally:
        client.close()


def test_a_blocking_claim_over_http_is_woken_by_an_enqueue_from_another_process(
    mcp: McpClient, shared_server: Server
) -> None:
    make_stream(shared_server.folder, "webwake")
    waiting = mcp.start("claim", {"stream": "webwake", "wait": 60})
    time.sleep(0.5)
    assert not waiting.done()
    task_id = enqueued_elsewhere(shared_server.folder, "webwake")
    assert answer(waiting.result(timeout=60))["id"] == task_id


def test_a_blocking_claim_whose_client_left_claims_nothing(mcp: McpClient, shared_server: Server) -> None:
    make_stream(shared_server.folder, "webleft")
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "claim", "arguments": {"stream": "webleft", "wait": 30}},
    }
    task_id = left_then_enqueued(shared_server, "webleft", "/mcp", call, MCP_HEADERS)
    assert library_queue(shared_server.folder).get_task(task_id).status == "queued"  # not handed to nobody
    assert mcp.ok("claim", stream="webleft")["id"] == task_id


def test_refusals_over_http_have_the_cli_words(mcp: McpClient, shared_server: Server) -> None:
    folder = shared_server.folder
    queue = make_stream(folder, "webgone")
    queue.end_stream("webgone")
    make_stream(folder, "weberr")
    running = queue.enqueue("weberr", "run-bash", {}).id
    queue.claim_task(running)
    assert mcp.refused("claim", stream="webgone") == cli_error(folder, "claim", "--stream", "webgone")
    assert mcp.refused("heartbeat", task_id="tsk_000000000000") == cli_error(folder, "heartbeat", "tsk_000000000000")
    assert mcp.refused("complete", task_id=running, summary="") == cli_error(
        folder, "complete", running, "--result", '{"summary": ""}'
    )
    said = mcp.refused("complete", task_id=running, summary="x", stdout_file="/etc/passwd")
    assert said.startswith("Unknown argument 'stdout_file' for complete (a server reads output files only over stdio")
    assert library_queue(folder).get_task(running).status == "running"


# -- the local-origin guard, in front of /mcp ----------------------------------------------------------

#: a JSON-RPC call that would queue a task if it got through
ENQUEUE_CALL = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "enqueue", "arguments": {"stream": "target", "tool": "run-bash", "payload": {"cmd": "x"}}},
    }
)
MCP_HEADERS = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25"}


@pytest.fixture
def target(shared_server: Server) -> Server:
    """A stream `target` with no tasks (emptied before each test)."""
    queue = library_queue(shared_server.folder)
    if not any(s.stream.name == "target" for s in queue.list_streams()):
        make_stream(shared_server.folder, "target")
    queue.cancel_stream("target")
    return shared_server


def queued_in_target(server: Server) -> int:
    return library_queue(server.folder).stream_counts("target").counts["queued"]


def test_a_same_origin_json_call_goes_through(target: Server) -> None:
    # the control for the refusals below: this very request queues a task when nothing is wrong with it
    response = httpx.post(
        target.url + "/mcp",
        content=ENQUEUE_CALL,
        headers={**MCP_HEADERS, "content-type": "application/json", "origin": target.url},
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["isError"] is False
    assert queued_in_target(target) == 1


@pytest.mark.parametrize(
    "host", ["evil.example:{port}", "127.0.0.1", "127.0.0.1:1", "localhost.evil.example:{port}", "0.0.0.0:{port}", ""]
)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_a_foreign_host_is_refused_at_mcp(target: Server, host: str, method: str) -> None:
    body = ENQUEUE_CALL.encode()
    head = (
        f"{method} /mcp HTTP/1.1\r\nHost: {host.format(port=target.port)}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    )
    status, _, answer_body = raw_request(target, head, body)
    assert status == 403
    assert json.loads(answer_body)["error"]["code"] == "forbidden_host"
    assert queued_in_target(target) == 0


@pytest.mark.parametrize(
    "origin",
    ["http://evil.example", "null", "http://localhost:1", "https://127.0.0.1:{port}", "http://evil.example:{port}"],
)
def test_a_foreign_origin_is_refused_at_mcp(target: Server, origin: str) -> None:
    response = httpx.post(
        target.url + "/mcp",
        content=ENQUEUE_CALL,
        headers={**MCP_HEADERS, "content-type": "application/json", "origin": origin.format(port=target.port)},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden_origin"
    assert queued_in_target(target) == 0


def test_dns_rebinding_is_refused_at_mcp(target: Server) -> None:
    # a page on evil.example whose name now resolves to 127.0.0.1: same origin to the browser, foreign Host to us
    evil = f"evil.example:{target.port}"
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: {evil}\r\nOrigin: http://{evil}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\nContent-Length: {len(ENQUEUE_CALL)}\r\nConnection: close\r\n"
    )
    status, _, body = raw_request(target, head, ENQUEUE_CALL.encode())
    assert (status, json.loads(body)["error"]["code"]) == (403, "forbidden_host")
    assert queued_in_target(target) == 0


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_cross_site_fetch_is_refused_at_mcp(target: Server, site: str) -> None:
    response = httpx.post(
        target.url + "/mcp",
        content=ENQUEUE_CALL,
        headers={**MCP_HEADERS, "content-type": "application/json", "sec-fetch-site": site},
    )
    assert response.status_code == 403
    assert queued_in_target(target) == 0


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_simple_content_types_are_refused_at_mcp(target: Server, content_type: str | None) -> None:
    # what a <form> or a no-preflight fetch() from any page could send
    headers = {**MCP_HEADERS, **({"content-type": content_type} if content_type else {})}
    response = httpx.post(target.url + "/mcp", content=ENQUEUE_CALL, headers=headers)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert "content-security-policy" in response.headers and "access-control-allow-origin" not in response.headers
    assert queued_in_target(target) == 0


def test_an_oversized_body_is_refused_at_mcp_before_it_is_read(target: Server) -> None:
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{target.port}\r\nContent-Type: application/json\r\n"
        "Accept: application/json, text/event-stream\r\nContent-Length: 999999999\r\nConnection: close\r\n"
    )
    status, _, body = raw_request(target, head, ENQUEUE_CALL.encode())
    assert (status, json.loads(body)["error"]["code"]) == (413, "too_large")
    assert queued_in_target(target) == 0


def test_the_sdk_checks_host_and_origin_itself_behind_the_guard(tmp_path: Path) -> None:
    from sparkq_adapters.http.security import loopback_hosts
    from sparkq_adapters.mcp.server import HttpEndpoint

    queue = make_stream(tmp_path, "target")

    async def no_wait(stream: str, seconds: float) -> None:
        return None

    def status_of(host: str, origin: str | None) -> int:
        """POST the enqueue call straight to the endpoint, without the `LocalOnly` guard around it."""
        # a new endpoint per call: its session manager runs once
        endpoint = HttpEndpoint(queue, no_wait, hosts=loopback_hosts(8765), max_body_bytes=1024 * 1024)
        headers = {**MCP_HEADERS, "content-type": "application/json", **({"origin": origin} if origin else {})}

        async def ask() -> int:
            transport = httpx.ASGITransport(app=endpoint)
            async with endpoint.lifespan(), httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as web:
                return (await web.post("/mcp", content=ENQUEUE_CALL, headers=headers)).status_code

        return anyio.run(ask)

    assert status_of("evil.example:8765", None) == 421
    assert status_of("127.0.0.1:8765", "http://evil.example") == 403
    assert queue.stream_counts("target").counts["queued"] == 0
    assert status_of("127.0.0.1:8765", "http://127.0.0.1:8765") == 200  # the control: a local call is served
    assert queue.stream_counts("target").counts["queued"] == 1


def test_without_the_extra_mcp_answers_404_naming_it(
    workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mcp.py").write_text("raise ModuleNotFoundError(\"No module named 'mcp'\", name='mcp')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    server = Server(workdir, free_port())
    try:
        for method in ("GET", "POST"):
            response = httpx.request(
                method, server.url + "/mcp", content=ENQUEUE_CALL, headers={"content-type": "application/json"}
            )
            assert response.status_code == 404
            error = response.json()["error"]
            assert error["code"] == "not_found"
            assert error["message"] == (
                "MCP over HTTP (/mcp) needs the MCP SDK, which is not installed (mcp is missing): "
                "pip install 'sparkq[mcp]', then restart the server"
            )
        assert httpx.get(server.url + "/api/health").status_code == 200  # the rest of the server works
    finally:
        server.stop()


def test_a_server_loads_the_sdk_only_when_mcp_is_first_called(workdir: Path) -> None:
    # the SDK costs about half a second to import: a server that never sees /mcp never pays it
    probe = (
        "import sys; from sparkq_adapters import config; from sparkq_entry.asgi import build_app; "
        "build_app(config.load(), 8765); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types')))"
    )
    result = subprocess.run(
        [str(Path(SPARKQ).parent / "python"), "-c", probe],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=unmeasured(_clean_env()),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
