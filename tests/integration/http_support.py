"""The server's app in this process, over a real SQLite file: Litestar's test client, no socket."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
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
