"""The local-origin guard against a real server: no web page may change SparkQ (SPEC §5).

Raw sockets are used where an HTTP client would normalise what we want to send (Host).
"""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest

from tests.integration.conftest import TLS, Server

JSON = {"content-type": "application/json"}


def raw_request(server: Server, head: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send bytes exactly as given; return (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n" + body)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    head_bytes, _, rest = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, rest


def tasks_in(server: Server) -> int:
    return int(httpx.get(server.url + "/api/tasks", verify=TLS).json()["total"])


@pytest.fixture(scope="module")
def ready(shared_server: Server) -> Server:
    """One server for the module, with session `s` and stream `st`: each test counts the tasks it adds."""
    with shared_server.client() as api:
        api.post("/api/sessions", json={"name": "s"}).raise_for_status()
        api.post("/api/streams", json={"name": "st", "session_id": "s"}).raise_for_status()
    return shared_server


ENQUEUE = json.dumps({"stream_id": "st", "tool_name": "run-bash", "payload": {"cmd": "rm -rf ~"}}).encode()


@pytest.mark.parametrize(
    "host",
    ["evil.example:{port}", "127.0.0.1", "127.0.0.1:1", "localhost.evil.example:{port}", "0.0.0.0:{port}", ""],
)
def test_requests_for_a_foreign_host_are_refused_on_every_route(ready: Server, host: str) -> None:
    value = host.format(port=ready.port)
    for path in ("/api/health", "/", "/ui/", "/api/tasks", "/schema"):
        status, _, body = raw_request(ready, f"GET {path} HTTP/1.1\r\nHost: {value}\r\nConnection: close\r\n")
        assert status == 403, (path, value)
        assert json.loads(body)["error"]["code"] == "forbidden_host"


def test_a_request_without_host_is_refused(ready: Server) -> None:
    status, _, _ = raw_request(ready, "GET /api/health HTTP/1.0\r\n")
    assert status in (400, 403)


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}"])
def test_loopback_hosts_are_served(ready: Server, host: str) -> None:
    status, _, _ = raw_request(
        ready, f"GET /api/health HTTP/1.1\r\nHost: {host.format(port=ready.port)}\r\nConnection: close\r\n"
    )
    assert status == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:1", "https://127.0.0.1:{port}"])
def test_cross_origin_state_changes_are_refused(ready: Server, origin: str) -> None:
    before = tasks_in(ready)
    response = httpx.post(
        ready.url + "/api/tasks",
        content=ENQUEUE,
        headers={**JSON, "origin": origin.format(port=ready.port)},
        verify=TLS,
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden_origin"
    assert tasks_in(ready) == before


def test_same_origin_state_changes_are_accepted(ready: Server) -> None:
    before = tasks_in(ready)
    response = httpx.post(ready.url + "/api/tasks", content=ENQUEUE, headers={**JSON, "origin": ready.url}, verify=TLS)
    assert response.status_code == 201
    assert tasks_in(ready) == before + 1


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_sec_fetch_site_cross_site_is_refused(ready: Server, site: str) -> None:
    before = tasks_in(ready)
    response = httpx.post(
        ready.url + "/api/tasks", content=ENQUEUE, headers={**JSON, "sec-fetch-site": site}, verify=TLS
    )
    assert response.status_code == 403
    assert tasks_in(ready) == before


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_state_changes_need_a_json_content_type(ready: Server, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    before = tasks_in(ready)
    response = httpx.post(ready.url + "/api/tasks", content=ENQUEUE, headers=headers, verify=TLS)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert tasks_in(ready) == before


def test_body_less_state_changes_need_a_json_content_type_too(ready: Server) -> None:
    with ready.client() as api:
        task = api.post("/api/tasks", content=ENQUEUE).json()["task"]
    for method, path in (
        ("POST", "/api/streams/st/claim"),
        ("POST", f"/api/tasks/{task['id']}/claim"),
        ("POST", f"/api/tasks/{task['id']}/requeue"),
        ("PUT", "/api/streams/st/end"),
        ("PUT", "/api/sessions/s/end"),
    ):
        assert httpx.request(method, ready.url + path, verify=TLS).status_code == 415, path
    assert httpx.get(ready.url + f"/api/tasks/{task['id']}", verify=TLS).json()["task"]["status"] == "queued"
    assert httpx.get(ready.url + "/api/streams/st", verify=TLS).json()["stream"]["status"] == "active"


def test_gets_never_change_state(ready: Server) -> None:
    with ready.client() as api:
        task = api.post("/api/tasks", content=ENQUEUE).json()["task"]
    for path in ("/api/streams/st/claim", f"/api/tasks/{task['id']}/claim", "/api/sessions/s/end"):
        assert httpx.get(ready.url + path, verify=TLS).status_code in (404, 405)
    assert httpx.get(ready.url + "/api/streams/st/peek", verify=TLS).json()["status"] == "queued"
    assert httpx.get(ready.url + f"/api/tasks/{task['id']}", verify=TLS).json()["task"]["status"] == "queued"


def test_oversized_bodies_are_refused_with_413(workdir: Any) -> None:
    from tests.integration.conftest import Server, free_port

    (workdir / "sparkq.yml").write_text("server: {max_body_bytes: 4096}\n")
    srv = Server(workdir, free_port())
    try:
        big = json.dumps({"result": {"summary": "x" * 10_000}}).encode()
        declared = httpx.post(srv.url + "/api/tasks/tsk_x/complete", content=big, headers=JSON, verify=TLS)
        assert declared.status_code == 413
        assert "4096" in declared.json()["error"]["message"]

        def chunks() -> Any:
            for _ in range(10):
                yield b" " * 1024

        streamed = httpx.post(srv.url + "/api/tasks/tsk_x/complete", content=chunks(), headers=JSON, verify=TLS)
        assert streamed.status_code == 413
        assert streamed.json()["error"]["status"] == 413
    finally:
        srv.stop()


def test_no_cors_headers_and_strict_security_headers_everywhere(ready: Server) -> None:
    for method, path in (("GET", "/api/tasks"), ("OPTIONS", "/api/tasks"), ("GET", "/nope"), ("GET", "/schema")):
        response = httpx.request(method, ready.url + path, headers={"origin": "http://evil.example"}, verify=TLS)
        assert not [h for h in response.headers if h.lower().startswith("access-control-")], path
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
