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
from sparkq_adapters.cli import output
from sparkq_adapters.clock import SystemClock, format_time
from sparkq_adapters.config import Settings
from sparkq_adapters.http.app import ServerOptions, create_app
from sparkq_adapters.http.security import BODY_TIMEOUT_SECONDS, ASGIApp
from sparkq_adapters.http.system import ServerInfo
from sparkq_adapters.serialization import tool_dicts
from sparkq_domain import Queue

from .wiring import feed_from_settings, queue_from_settings


class FileCatalog:
    """Tools from sparkq.yml and the script index, reloadable while the server runs."""

    def __init__(self, settings: Settings, queue: Queue) -> None:
        self._settings = settings
        self._queue = queue
        self._index = scripts.build_index_for(settings)
        #: the database this server serves, whatever a reloaded file says (a file, or a PostgreSQL URL's id)
        self._database = _database(settings)
        self._database_name = _database_name(settings) if settings.database_url else str(self._database)

    def tools(self) -> list[dict[str, Any]]:
        return tool_dicts(self._queue.registry)

    def scripts(self) -> list[dict[str, Any]]:
        return self._index.to_list()

    def reload(self) -> dict[str, Any]:
        """Re-read the config file (looking for one again if the server started without) and rebuild the index."""
        # started on built-in defaults, the server looks the way the CLI does (`sparkq setup` may have
        # written ./sparkq.yml since): --config and $SPARKQ_CONFIG named no file, so that is the start folder's
        settings, index = config.reload(
            self._settings.source, cwd=self._settings.base_dir, where=", where the server was started"
        )
        path = settings.source
        self._queue.use_registry(settings.registry())
        self._settings, self._index = settings, index
        warnings = list(index.warnings)
        if _database(settings) != self._database:
            warnings.append(
                f"{path} names the database {_database_name(settings)}; this server serves {self._database_name} "
                "until it is restarted (tools and scripts are reloaded)"
            )
        return {
            "config": str(path),
            "tools": len(settings.registry().tools),
            "scripts": len(index.scripts),
            "warnings": warnings,
        }


def _database(settings: Settings) -> Path | str:
    """The database `settings` name: its file's real path, or a PostgreSQL database's id (no password)."""
    from sparkq_adapters.database_id import database_id

    found = database_id(settings)
    return found.resolve() if isinstance(found, Path) else found


def _database_name(settings: Settings) -> str:
    url = settings.database_url
    return settings.database_name if url is None else config.postgres_name(url, settings.file.database.schema)


def ui_dir() -> Path | None:
    """The static UI: `webui/` of a source checkout, else the installed `sparkq_webui` folder."""
    # the checkout first: an editable install also holds a `sparkq_webui` copy made at install
    # time, which would serve a stale UI after every edit of webui/
    candidates = [Path(__file__).resolve().parents[2] / "webui"]
    # `sparkq_webui` is a plain folder in the wheel (a namespace package): find it by its locations
    spec = importlib.util.find_spec("sparkq_webui")
    candidates += [Path(p) for p in (spec.submodule_search_locations or [])] if spec is not None else []
    return next((folder for folder in candidates if (folder / "index.html").is_file()), None)


def build_app(settings: Settings, port: int, *, body_timeout_seconds: float = BODY_TIMEOUT_SECONDS) -> ASGIApp:
    # before serving, damage anywhere in the file: found now, it is refused before a write lands in it
    if settings.database_url is None:  # a PostgreSQL server checks its own pages
        print(f"Checking the database {settings.db_path} (about a second per GB) …", flush=True)
    with output.progress_bar("Checking every page", "pages") as progress:
        # commits run on the event loop: a checkpoint inside one would stall every request in flight
        queue = queue_from_settings(settings, check_pages=True, check_progress=progress, background_checkpoints=True)
    server = ServerInfo(
        pid=os.getpid(), port=port, host=settings.file.server.host, started_at=format_time(SystemClock().now())
    )
    options = ServerOptions(
        port=port,
        max_body_bytes=settings.file.server.max_body_bytes,
        ui_dir=ui_dir(),
        purge_older_than=timedelta(days=settings.file.purge.older_than_days),
        body_timeout_seconds=body_timeout_seconds,
    )
    return create_app(queue, FileCatalog(settings, queue), server, options, feed_from_settings(settings))


def app() -> ASGIApp:
    """Factory for `uvicorn --factory sparkq_entry.asgi:app`."""
    settings = config.load()
    return build_app(settings, settings.file.server.port)
