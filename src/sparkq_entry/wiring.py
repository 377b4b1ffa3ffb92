"""The bootstrap, the one place that names concrete adapters: config -> store -> Queue -> frontends.

The CLI gets a `Context` (`cli_context`) that opens the queue on first use; the server
(`asgi.build_app`) opens it at start and hands it to Litestar. Both build it here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkq_adapters.cli.common import Context
from sparkq_adapters.clock import RandomIds, SystemClock
from sparkq_adapters.config import ConfigError, Settings, redact_url
from sparkq_adapters.sqlite import SqliteStore
from sparkq_domain import Clock, IdFactory, Queue, Registry, Store

if TYPE_CHECKING:
    from sparkq_adapters.postgres import PostgresStore
    from sparkq_adapters.postgres.changes import ChangeFeed as PostgresFeed
    from sparkq_adapters.sqlite.changes import ChangeFeed as SqliteFeed


def open_queue(
    path: str | os.PathLike[str] = "sparkq.db",
    *,
    registry: Registry | None = None,
    project: str | None = None,
    synchronous: str = "normal",
    clock: Clock | None = None,
) -> Queue:
    """Open (creating if needed) the SparkQ database at `path` and return its `Queue`.

    The project row is created on first use, named `project` or after the file's folder.
    """
    db = Path(path).resolve()
    store: Store = SqliteStore(db, synchronous=synchronous)
    queue = Queue(store, clock or SystemClock(), _ids(), registry)
    queue.ensure_project(project or db.parent.name or "sparkq")
    return queue


def queue_from_settings(
    settings: Settings,
    *,
    clock: Clock | None = None,
    check_pages: bool = False,
    check_progress: Callable[[int, int], None] | None = None,
    background_checkpoints: bool = False,
) -> Queue:
    """The queue that a CLI command or the server uses, built from the loaded config.

    `check_pages` reads every page of the file before anything else (about a second per GB),
    telling `check_progress` (pages done, pages in all): the server does, once at start; CLI calls
    must stay quick, and do not. `background_checkpoints` (the server) moves WAL checkpoints out of
    the commits into a thread of the store.
    """
    db = settings.file.database
    store: Store
    if settings.database_url is not None:
        store = postgres_store(settings)
    else:
        store = SqliteStore(
            settings.db_path,
            synchronous=db.synchronous,
            busy_timeout_ms=db.busy_timeout_ms,
            check_pages=check_pages,
            check_progress=check_progress,
            background_checkpoints=background_checkpoints,
        )
    queue = Queue(store, clock or SystemClock(), _ids(), settings.registry())
    project = settings.file.project
    queue.ensure_project(settings.project_name, project.repo_path, project.prd_path)
    return queue


def postgres_store(settings: Settings) -> PostgresStore:
    """The PostgreSQL store of `database.url` / `$SPARKQ_DATABASE_URL`; psycopg is imported only here."""
    url = settings.database_url
    assert url is not None
    try:
        import psycopg  # noqa: F401  # the driver of the `postgres` extra
    except ImportError as exc:
        raise ConfigError(
            f"The database URL {redact_url(url)} selects PostgreSQL, but its driver is not installed "
            f"({exc.name or 'psycopg'} is missing): pip install 'sparkq[postgres]'"
        ) from None
    from sparkq_adapters.postgres import PostgresStore

    return PostgresStore(url, schema=settings.file.database.schema)


def feed_from_settings(settings: Settings) -> SqliteFeed | PostgresFeed:
    """The change feed (SSE, long polls) of the configured database, on a connection of its own."""
    if settings.database_url is not None:
        from sparkq_adapters.postgres.changes import ChangeFeed

        return ChangeFeed(postgres_store(settings))
    from sparkq_adapters.sqlite import changes

    return changes.ChangeFeed(settings.db_path, busy_timeout_ms=settings.file.database.busy_timeout_ms)


def data_version_from_settings(settings: Settings) -> Callable[[], int]:
    """A counter that moves whenever another connection commits: `PRAGMA data_version`, or PostgreSQL's NOTIFY."""
    return feed_from_settings(settings).data_version


def cli_context(config_path: str | None) -> Context:
    """What every `sparkq` command runs on, for the global `--config PATH` (None: the usual search)."""
    return Context(
        config_path, open_queue=queue_from_settings, data_version=data_version_from_settings, server_app=_server_app
    )


def _server_app(settings: Settings, port: int) -> Any:
    # imported only by `sparkq run`: queue commands never load Litestar or uvicorn
    from .asgi import build_app

    return build_app(settings, port)


def _ids() -> IdFactory:
    return RandomIds()
