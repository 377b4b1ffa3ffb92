"""The bootstrap, the one place that names concrete adapters: config -> store -> Queue -> frontends.

The CLI gets a `Context` (`cli_context`) that opens the queue on first use; the server
(`asgi.build_app`) opens it at start and hands it to Litestar. Both build it here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkq_adapters.cli.common import Context, UsageError
from sparkq_adapters.clock import RandomIds, SystemClock
from sparkq_adapters.config import ConfigError, Settings, postgres_name, redact_url
from sparkq_adapters.sqlite import SqliteStore
from sparkq_domain import Clock, IdFactory, Queue, Registry, Store
from sparkq_domain.errors import Conflict, InvalidInput, NotFound

if TYPE_CHECKING:
    from sparkq_adapters.postgres import PostgresStore
    from sparkq_adapters.postgres.changes import ChangeFeed as PostgresFeed
    from sparkq_adapters.sqlite.changes import ChangeFeed as SqliteFeed
    from sparkq_adapters.transfer import Ends


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
    return _postgres(url, settings.file.database.schema, settings.file.database.pool_size)


def _postgres(url: str, schema: str, pool_size: int | None = None) -> PostgresStore:
    try:
        import psycopg  # noqa: F401  # the driver of the `postgres` extra
    except ImportError as exc:
        raise ConfigError(
            f"The database URL {redact_url(url)} selects PostgreSQL, but its driver is not installed "
            f"({exc.name or 'psycopg'} is missing): pip install 'sparkq[postgres]'"
        ) from None
    from sparkq_adapters.postgres import PostgresStore

    if pool_size is None:  # the store's own default
        return PostgresStore(url, schema=schema)
    return PostgresStore(url, schema=schema, pool_size=pool_size)


def transfer_ends(settings: Settings, to: str, schema: str | None = None) -> Ends:
    """The two ends of `sparkq migrate --to TO`: the configured database, and the URL or path `to`.

    A PostgreSQL target keeps its tables in `schema` (default: the configured `database.schema`). A
    source file that does not exist, a target that is the source, and a target path that cannot be a
    database file are refused here, before anything is opened or made.
    """
    from sparkq_adapters.database_id import database_id, is_postgres_url, postgres_id
    from sparkq_adapters.transfer import Ends

    source_id = database_id(settings)
    if settings.database_url is not None:
        from sparkq_adapters.postgres import transfer as pg_transfer

        source: AbstractContextManager[Any] = pg_transfer.source(postgres_store(settings))
    else:
        db = settings.db_path
        if not db.exists():
            raise NotFound(f"There is no database at {db} to migrate; check database.path in {settings.source_name}")
        from sparkq_adapters.sqlite import transfer as sqlite_transfer

        _migrated_sqlite(settings, db)
        source = sqlite_transfer.source(db, busy_timeout_ms=settings.file.database.busy_timeout_ms)

    chosen_schema = schema or settings.file.database.schema
    if is_postgres_url(to):
        from sparkq_adapters.postgres import transfer as pg_transfer

        target_name = postgres_name(to, chosen_schema)
        if postgres_id(to, chosen_schema) == source_id:
            raise Conflict(
                f"The target {target_name} is the configured database itself; "
                "name another database, or another schema with --schema"
            )
        target: AbstractContextManager[Any] = pg_transfer.target(_postgres(to, chosen_schema))
        next_step = f"To use it: database.url: {redact_url(to)} in sparkq.yml (or $SPARKQ_DATABASE_URL)"
        if chosen_schema != "sparkq":
            next_step += f", with database.schema: {chosen_schema}"
    else:
        if schema is not None:
            raise UsageError("--schema names a PostgreSQL schema; the target here is a SQLite file")
        path = Path(to).expanduser().absolute()
        if isinstance(source_id, Path) and path.exists() and os.path.samefile(path, source_id):
            raise Conflict(f"The target {path} is the configured database itself; name a new file")
        if path.is_dir():
            raise InvalidInput(f"The target {path} is a folder; name a database file in it, e.g. {path / 'sparkq.db'}")
        if not path.parent.is_dir():
            raise InvalidInput(f"Cannot create {path}: the folder {path.parent} does not exist")
        target = _sqlite_target(settings, path)
        target_name = str(path)
        next_step = f"To use it: database.path: {path} in sparkq.yml, without database.url or $SPARKQ_DATABASE_URL"
    return Ends(
        source=source,
        target=target,
        source_name=settings.database_name,
        target_name=target_name,
        next_step=next_step,
    )


def _migrated_sqlite(settings: Settings, db: Path) -> None:
    """Open the file once through its store: created or brought to this SparkQ's schema by its migrations."""
    store = SqliteStore(db, busy_timeout_ms=settings.file.database.busy_timeout_ms)
    try:
        with store.read():
            pass
    finally:
        store.close()


@contextmanager
def _sqlite_target(settings: Settings, path: Path) -> Iterator[Any]:
    """A SQLite target: made by its store's migrations; a file made here is removed again if the copy fails."""
    from sparkq_adapters.sqlite import transfer as sqlite_transfer
    from sparkq_adapters.sqlite.forensics import sibling

    made = not path.exists()
    try:
        _migrated_sqlite(settings, path)
        with sqlite_transfer.target(path, busy_timeout_ms=settings.file.database.busy_timeout_ms) as end:
            yield end
    except BaseException:
        if made:
            for leftover in (path, *(sibling(path, suffix) for suffix in ("-wal", "-shm", "-writer"))):
                leftover.unlink(missing_ok=True)
        raise


def feed_from_settings(settings: Settings) -> SqliteFeed | PostgresFeed:
    """The change feed (SSE, long polls, `claim --wait`) of the configured database, on a connection of its own.

    Its counter moves whenever another connection commits (`PRAGMA data_version`, or PostgreSQL's
    NOTIFY); on PostgreSQL its `wake_fd` is the LISTEN socket that waiters block on.
    """
    if settings.database_url is not None:
        from sparkq_adapters.postgres.changes import ChangeFeed

        return ChangeFeed(postgres_store(settings))
    from sparkq_adapters.sqlite import changes

    return changes.ChangeFeed(settings.db_path, busy_timeout_ms=settings.file.database.busy_timeout_ms)


def cli_context(config_path: str | None) -> Context:
    """What every `sparkq` command runs on, for the global `--config PATH` (None: the usual search)."""
    return Context(
        config_path,
        open_queue=queue_from_settings,
        change_feed=feed_from_settings,
        server_app=_server_app,
        transfer_ends=transfer_ends,
    )


def _server_app(settings: Settings, port: int) -> Any:
    # imported only by `sparkq run`: queue commands never load Litestar or uvicorn
    from .asgi import build_app

    return build_app(settings, port)


def _ids() -> IdFactory:
    return RandomIds()
