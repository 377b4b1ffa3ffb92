"""Request bodies have a read timeout: a client that trickles its body cannot hold a connection forever.

A real uvicorn serves the real app on a free loopback port, in a thread of the test (its body timeout
set to 1 s instead of 30); raw sockets send what an HTTP client would not.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from sparkq_adapters import config
from sparkq_entry.asgi import build_app
from tests.integration.conftest import TLS, free_port
from tests.integration.threaded_uvicorn import ThreadedUvicorn

BODY_TIMEOUT = 1.0
#: every socket read of these tests gives up after this long: a server that never answers fails the test
BOUND = 30.0


def serve(folder: Path) -> ThreadedUvicorn:
    """Serve the app of a fresh folder, its body timeout BODY_TIMEOUT."""
    port = free_port()
    app = build_app(config.defaults(folder), port, body_timeout_seconds=BODY_TIMEOUT)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    return ThreadedUvicorn(server, port, bound=BOUND)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ThreadedUvicorn]:
    srv = serve(tmp_path)
    try:
        with httpx.Client(base_url=srv.url, headers={"content-type": "application/json"}, verify=TLS) as api:
            api.post("/api/sessions", json={"name": "s"}).raise_for_status()
            api.post("/api/streams", json={"name": "st", "session_id": "s"}).raise_for_status()
        yield srv
    finally:
        srv.stop()


def head(srv: ThreadedUvicorn, path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes, bool]:
    """Read until the server closes: (status, headers, body, closed); `closed` False if it kept it open."""
    sock.settimeout(BOUND)
    data = b""
    closed = False
    try:
        while chunk := sock.recv(65536):
            data += chunk
        closed = True
    except TimeoutError:
        pass
    except ConnectionResetError:
        closed = True
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    assert lines[0], "the server sent nothing"
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body, closed


def test_a_body_that_stops_arriving_gets_a_408_naming_the_timeout_and_the_connection_closes(
    served: ThreadedUvicorn,
) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=BOUND) as sock:
        sock.sendall(head(served, "/api/sessions", 100) + b'{"name": "slow')  # and then nothing more
        status, headers, body, closed = read_answer(sock)
    assert status == 408
    assert headers["connection"] == "close" and closed
    error = json.loads(body)["error"]
    assert (error["status"], error["code"]) == (408, "request_timeout")
    assert error["message"] == "The request body did not arrive within 1 seconds; send the whole body at once"
    assert [s["name"] for s in httpx.get(served.url + "/api/sessions", verify=TLS).json()["sessions"]] == ["s"]


def test_a_body_trickled_a_byte_at_a_time_is_cut_off_by_the_total_deadline(served: ThreadedUvicorn) -> None:
    # each byte arrives well within the timeout: only a deadline for the whole body stops this client
    body = json.dumps({"name": "trickled", "description": "x" * 10_000}).encode()
    with socket.create_connection(("127.0.0.1", served.port), timeout=BOUND) as sock:
        sock.sendall(head(served, "/api/sessions", len(body)))
        stop = threading.Event()

        def trickle() -> None:
            for byte in body:
                if stop.wait(BODY_TIMEOUT / 10):
                    return
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    return  # the server closed the connection: what the test waits for

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        try:
            status, _, answer, closed = read_answer(sock)
        finally:
            stop.set()
            sender.join(BOUND)
    assert status == 408 and closed
    assert json.loads(answer)["error"]["code"] == "request_timeout"
    assert [s["name"] for s in httpx.get(served.url + "/api/sessions", verify=TLS).json()["sessions"]] == ["s"]


def test_a_body_that_arrives_is_served_and_the_connection_kept_alive(served: ThreadedUvicorn) -> None:
    body = json.dumps({"name": "quick"}).encode()
    with socket.create_connection(("127.0.0.1", served.port), timeout=BOUND) as sock:
        sock.sendall(head(served, "/api/sessions", len(body)) + body)
        sock.settimeout(BOUND)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 201 ")
        assert b"connection: close" not in first.lower()


def test_waiting_after_the_body_is_not_cut_off_a_long_poll_claim_and_an_event_stream_outlive_the_timeout(
    served: ThreadedUvicorn,
) -> None:
    with httpx.Client(
        base_url=served.url, headers={"content-type": "application/json"}, timeout=BOUND, verify=TLS
    ) as api:
        # the claim waits three body timeouts for work that never comes: 204, not 408
        waited = api.post("/api/streams/st/claim", params={"wait": 3 * BODY_TIMEOUT}, json={})
        assert waited.status_code == 204, waited.text
        with api.stream("GET", "/api/events") as events:
            assert events.status_code == 200
            lines = events.iter_lines()
            assert next(lines).startswith(":")  # the stream's opening comment
            time.sleep(2 * BODY_TIMEOUT)  # past the timeout: an event must still arrive
            api.post("/api/sessions", json={"name": "later"}).raise_for_status()
            seen: list[str] = []
            for line in lines:  # an event stream never ends: read until the event is in
                if line.startswith(("event:", "data:")):
                    seen.append(line)
                if len(seen) == 2:
                    break
            assert seen[0] == "event: session.created" and '"kind": "session.created"' in seen[1]
