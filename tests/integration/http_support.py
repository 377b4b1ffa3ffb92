"""The server's app in this process, over a real SQLite file: Litestar's test client, no socket."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from litestar.testing.transport import TestClientTransport

from sparkq_adapters import config
from sparkq_entry.asgi import build_app

#: the port the app believes it serves; its Host and Origin checks expect it
PORT = 8420


@contextmanager
def local_api(folder: Path) -> Iterator[TestClient]:  # type: ignore[type-arg]
    """The app `sparkq run` builds for the database in `folder` (default settings), its lifespan running."""
    app = build_app(config.defaults(folder), PORT)
    with TestClient(app, base_url=f"http://127.0.0.1:{PORT}") as client:
        client.headers["content-type"] = "application/json"  # state changes must say JSON (the guard)
        yield client


def get_scope(path: str, query: str = "", headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Build the ASGI scope of `GET path?query` from a loopback client to the app on PORT."""
    extra = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", f"127.0.0.1:{PORT}".encode()), *extra],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", PORT),
    }


def event_kinds(folder: Path, task_id: str) -> list[str]:
    """The kinds of the events recorded about a task in `folder`'s database, oldest first."""
    conn = sqlite3.connect(folder / "sparkq.db")
    try:
        return [
            kind for (kind,) in conn.execute("SELECT kind FROM events WHERE subject_id = ? ORDER BY seq", (task_id,))
        ]
    finally:
        conn.close()


class _AppTransport(httpx.BaseTransport):
    """Requests handed to the app of a running `TestClient` (whose transport is no full httpx transport)."""

    def __init__(self, app_client: TestClient) -> None:  # type: ignore[type-arg]
        self._inner = TestClientTransport(client=app_client, raise_server_exceptions=False)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)


class AppServer:
    """What `sparkq run --port PORT` serves in `folder`, built in this process: no socket, no child process.

    The `server` fixture under the `in_process` mark: the same `folder`, `port`, `url` and `client()`
    as a real `Server`, its lifespan (sweep, purge, event hub) running until `stop()`. An error in
    a handler is the 500 a client would get, not an exception in the test.
    """

    def __init__(self, folder: Path, port: int = PORT) -> None:
        self.folder = folder
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        app = build_app(config.load(cwd=folder), port)
        self._app_client = TestClient(app, base_url=self.url, raise_server_exceptions=False)
        self._app_client.__enter__()

    @property
    def pid(self) -> int:
        """The serving process's PID, which `/api/status` reports: this one."""
        return os.getpid()

    def client(self) -> httpx.Client:
        """A client of the app, like `Server.client()`: JSON content type, no redirects followed."""
        return httpx.Client(
            transport=_AppTransport(self._app_client),
            base_url=self.url,
            headers={"content-type": "application/json"},
            timeout=10,
        )

    def stop(self) -> None:
        self._app_client.__exit__(None, None, None)


@contextmanager
def server_log(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Let `caplog` see (only) the `sparkq.server` log while the block runs.

    Building the app configures logging (Litestar's default `LoggingConfig`), which replaces the
    root logger's handlers, caplog's among them; so its handler listens on our logger itself, before
    or after the app is built, and the records stop there (they would reach it twice otherwise).
    """
    logger = logging.getLogger("sparkq.server")
    propagate = logger.propagate
    logger.addHandler(caplog.handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(caplog.handler)
        logger.propagate = propagate
