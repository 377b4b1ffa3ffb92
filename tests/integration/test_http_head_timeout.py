"""A request's head has a deadline: a client that sends nothing, or trickles its headers, cannot hold a connection.

The app `sparkq run` builds, served by uvicorn with `sparkq run`'s own config (`server_config`:
uvloop, the bounded httptools protocol) in a thread of the test, its head timeout 1 s instead of 5;
raw sockets send what an HTTP client would not.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from sparkq_adapters import config
from sparkq_adapters.server import bind_loopback, server_config
from sparkq_entry.asgi import build_app
from tests.integration.conftest import TLS, free_port
from tests.integration.threaded_uvicorn import ThreadedUvicorn

HEAD_TIMEOUT = 1
#: every socket read of these tests gives up after this long: a server that never answers fails the test
BOUND = 15.0


def serve(folder: Path) -> ThreadedUvicorn:
    """Serve the app of a fresh folder with `sparkq run`'s config, on a socket bound as `sparkq run` binds it."""
    port = free_port()
    app = build_app(config.defaults(folder), port)
    server = uvicorn.Server(server_config(app, head_timeout_seconds=HEAD_TIMEOUT))
    return ThreadedUvicorn(server, port, bound=BOUND, sockets=[bind_loopback("127.0.0.1", port)])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ThreadedUvicorn]:
    srv = serve(tmp_path)
    try:
        yield srv
    finally:
        srv.stop()


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the test fails if it never does)."""
    sock.settimeout(BOUND)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {BOUND:g} s; it sent {data[:200]!r}")
    return data


def test_headers_that_stop_arriving_get_a_408_naming_the_timeout_and_the_connection_closes(
    served: ThreadedUvicorn,
) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=BOUND) as sock:
        sock.sendall(f"GET /api/sessions HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nAccept: ".encode())
        answer = read_until_closed(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert lines[0] == "HTTP/1.1 408 Request Timeout"
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    assert headers["x-content-type-options"] == "nosniff"  # the guard's headers, as on every answer
    assert int(headers["content-length"]) == len(body)
    error = json.loads(body)["error"]
    assert (error["status"], error["code"]) == (408, "request_timeout")
    assert error["message"] == (
        "The request's headers did not arrive within 1 seconds; send the request line and all headers at once"
    )


def test_headers_trickled_a_line_at_a_time_are_cut_off_by_the_deadline(served: ThreadedUvicorn) -> None:
    # each line arrives well within the timeout: only a deadline for the whole head stops this client
    with socket.create_connection(("127.0.0.1", served.port), timeout=BOUND) as sock:
        sock.sendall(f"GET /api/sessions HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n".encode())
        stop = threading.Event()

        def trickle() -> None:
            n = 0
            while not stop.wait(HEAD_TIMEOUT / 10):
                n += 1
                try:
                    sock.sendall(f"X-Slow-{n}: {n}\r\n".encode())
                except OSError:
                    return  # the server closed the connection: what the test waits for

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        try:
            answer = read_until_closed(sock)
        finally:
            stop.set()
            sender.join(BOUND)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "request_timeout"


def test_a_connection_that_never_sends_a_byte_is_closed_without_an_answer(served: ThreadedUvicorn) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=BOUND) as sock:
        assert read_until_closed(sock) == b""


def test_a_kept_alive_connection_serves_requests_until_it_idles_past_the_timeout(served: ThreadedUvicorn) -> None:
    request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", served.port), timeout=BOUND) as sock:
        for _ in range(3):  # each answer starts the head's clock again
            sock.sendall(request)
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
            assert b"connection: close" not in answer.lower()
        assert read_until_closed(sock) == b""  # then idle: closed, nothing sent
    assert httpx.get(served.url + "/health", timeout=BOUND, verify=TLS).status_code == 200
