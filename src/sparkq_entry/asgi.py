"""The server's composition: settings -> queue + catalog -> the guarded Litestar app.

`uvicorn --factory sparkq_entry.asgi:app` serves it too (port from sparkq.yml), though
`sparkq run` is the supported way: it also holds the lockfile.
"""

from __future__ import annotations

import importlib.util
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from sparkq_adapters import config, scripts
from sparkq_adapters.clock import SystemClock, format_time
from sparkq_adapters.config import Settings
from sparkq_adapters.http.app import ServerOptions, create_app
from sparkq_adapters.http.security import BODY_TIMEOUT_SECONDS, ASGIApp
from sparkq_adapters.http.system import ServerInfo
from sparkq_adapters.serialization import tool_dicts
from sparkq_adapters.sqlite.changes import ChangeFeed
from sparkq_domain import Queue

from .wiring import queue_from_settings


class FileCatalog:
    """Tools from sparkq.yml and the script index, reloadable while the server runs."""

    def __init__(self, settings: Settings, queue: Queue) -> None:
        self._settings = settings
        self._queue = queue
        self._index = scripts.build_index_for(settings)

    def tools(self) -> list[dict[str, Any]]:
        return tool_dicts(self._queue.registry)

    def scripts(self) -> list[dict[str, Any]]:
        return self._index.to_list()

    def reload(self) -> dict[str, Any]:
        if self._settings.source is None:
            raise config.ConfigError(f"{config.CONFIG_NAME} not found")
        settings = config.load_file(self._settings.source)
        self._index = scripts.build_index_for(settings)
        self._queue.use_registry(settings.registry())
        self._settings = settings
        return {
            "tools": len(settings.registry().tools),
            "scripts": len(self._index.scripts),
            "warnings": list(self._index.warnings),
        }


def ui_dir() -> Path | None:
    """The static UI: the installed `sparkq_webui` folder, else `webui/` of a source checkout."""
    # `sparkq_webui` is a plain folder in the wheel (a namespace package): find it by its locations
    spec = importlib.util.find_spec("sparkq_webui")
    candidates = [Path(p) for p in (spec.submodule_search_locations or [])] if spec is not None else []
    candidates.append(Path(__file__).resolve().parents[2] / "webui")
    return next((folder for folder in candidates if (folder / "index.html").is_file()), None)


def build_app(settings: Settings, port: int, *, body_timeout_seconds: float = BODY_TIMEOUT_SECONDS) -> ASGIApp:
    # before serving, damage anywhere in the file: found now, it is refused before a write lands in it
    print(f"Checking the database {settings.db_path} (about a second per GB) …", flush=True)
    queue = queue_from_settings(settings, check_pages=True)
    server = ServerInfo(pid=os.getpid(), port=port, started_at=format_time(SystemClock().now()))
    options = ServerOptions(
        port=port,
        max_body_bytes=settings.file.server.max_body_bytes,
        ui_dir=ui_dir(),
        purge_older_than=timedelta(days=settings.file.purge.older_than_days),
        body_timeout_seconds=body_timeout_seconds,
    )
    feed = ChangeFeed(settings.db_path, busy_timeout_ms=settings.file.database.busy_timeout_ms)
    return create_app(queue, FileCatalog(settings, queue), server, options, feed)


def app() -> ASGIApp:
    """Factory for `uvicorn --factory sparkq_entry.asgi:app`."""
    settings = config.load()
    return build_app(settings, settings.file.server.port)
