"""The server's app in this process, over a real SQLite file: Litestar's test client, no socket."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from litestar.testing import TestClient

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
