"""`create_app`: the Litestar application around a `Queue`, wrapped in the local-origin guard."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import attrs
from litestar import Litestar
from litestar.di import Provide
from litestar.handlers import asgi
from litestar.openapi import OpenAPIConfig
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router

from sparkq_domain import Queue
from sparkq_domain.errors import SparkQError

from ..version import version
from .bodies import BODIES, StrictJSONRequest, read_body
from .contract import LiveJSONRenderPlugin, refine
from .errors import EXCEPTION_HANDLERS
from .events import EventHub, Feed, events
from .security import (
    BODY_TIMEOUT_SECONDS,
    ASGIApp,
    LocalOnly,
    Receive,
    Scope,
    Send,
    json_posts_only,
    loopback_hosts,
    reply_error,
)
from .sessions import SessionController
from .streams import Claims, StreamController
from .system import Catalog, ServerInfo, SystemController, health_check
from .tasks import TaskController

log = logging.getLogger("sparkq.server")


@attrs.frozen(kw_only=True)
class ServerOptions:
    port: int
    max_body_bytes: int = 8 * 1024 * 1024
    #: a request body must arrive within this many seconds of its first byte being read (408 after)
    body_timeout_seconds: float = BODY_TIMEOUT_SECONDS
    #: the static UI bundle; None serves no UI
    ui_dir: Path | None = None
    #: finished tasks older than this are purged once, in the background, at start
    purge_older_than: timedelta | None = timedelta(days=3)
    #: how often running tasks are checked for death (2x timeout)
    sweep_interval_seconds: float = 2.0
    #: how often old events are pruned from the change feed
    prune_interval_seconds: float = 600.0


def create_app(queue: Queue, catalog: Catalog, server: ServerInfo, options: ServerOptions, feed: Feed) -> ASGIApp:
    """Build the ASGI app: API + UI + live events + OpenAPI at /schema + MCP at /mcp, behind the `LocalOnly` guard."""
    hub = EventHub(feed)
    claims = Claims(queue, hub)
    mcp = _McpMount(queue, claims, options)

    @asynccontextmanager
    async def background(_: Litestar) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(_sweep_dead(queue, options.sweep_interval_seconds)),
            asyncio.create_task(hub.run()),
        ]
        # The purge at start trims the change feed as well: two trimmers taking turns would leave other
        # writers no gap between their batches, so the periodic trim then first runs one interval later.
        first_prune = 0.0 if options.purge_older_than is None else options.prune_interval_seconds
        tasks.append(asyncio.create_task(_prune_events(feed, options.prune_interval_seconds, first_prune)))
        if options.purge_older_than is not None:
            tasks.append(asyncio.create_task(_purge(queue, feed, options.purge_older_than)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    route_handlers: list[Any] = [
        health_check,
        events,
        SessionController,
        StreamController,
        TaskController,
        SystemController,
        asgi("/mcp", name="mcp", copy_scope=True)(mcp),  # the SDK's app gets its own copy of the scope
    ]
    if options.ui_dir is not None:
        route_handlers.append(
            create_static_files_router(path="/ui", directories=[options.ui_dir], html_mode=True, name="ui")
        )
        route_handlers.append(
            create_static_files_router(path="/", directories=[options.ui_dir], html_mode=True, name="root")
        )

    app = Litestar(
        route_handlers=route_handlers,
        dependencies={
            "queue": Provide(_constant(queue), use_cache=True, sync_to_thread=False),
            "catalog": Provide(_constant(catalog), use_cache=True, sync_to_thread=False),
            "server": Provide(_constant(server), use_cache=True, sync_to_thread=False),
            "hub": Provide(_constant(hub), use_cache=True, sync_to_thread=False),
            "claims": Provide(_constant(claims), use_cache=True, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(
            title="SparkQ",
            version=version(),
            description="A local task queue: queue work, walk away, review results later.",
            path="/schema",
            use_handler_docstrings=True,  # each endpoint's docstring is its description
            # the JSON document itself: browser UIs for it load scripts from CDNs (offline here, and
            # blocked by our CSP)
            render_plugins=[
                LiveJSONRenderPlugin(lambda: [t["name"] for t in catalog.tools()], path=["/", "/openapi.json"])
            ],
        ),
        lifespan=[background, mcp.lifespan],
        request_max_body_size=options.max_body_bytes,
        request_class=StrictJSONRequest,  # every JSON body, by SparkQ's strict reader
        before_request=read_body,  # ... checked before any handler runs, also where a route takes no body
        debug=False,
    )
    refine(app.openapi_schema, BODIES)
    _allow_every_method(app)
    return LocalOnly(
        app,
        port=options.port,
        max_body_bytes=options.max_body_bytes,
        body_timeout_seconds=options.body_timeout_seconds,
    )


class _McpMount:
    """/mcp: the MCP tools over streamable HTTP, the SDK loaded by the first request to it.

    Importing the SDK (pydantic, starlette, …) would add about half a second to every server
    start, for an endpoint many servers never see used. Its session manager then runs in a task
    group of the app's lifespan, and stops with it. Without the `mcp` extra, /mcp answers 404
    saying how to install it.
    """

    def __init__(self, queue: Queue, claims: Claims, options: ServerOptions) -> None:
        self._queue = queue
        self._claims = claims
        self._options = options
        self._served: ASGIApp | None = None
        self._loading = asyncio.Lock()
        self._group: anyio.abc.TaskGroup | None = None

    @asynccontextmanager
    async def lifespan(self, _: Litestar) -> AsyncIterator[None]:
        async with anyio.create_task_group() as group:
            self._group = group
            try:
                yield
            finally:
                group.cancel_scope.cancel()
                self._group = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        served = self._served
        if served is None:
            async with self._loading:
                if self._served is None:
                    self._served = await self._load()
                served = self._served
        await served(scope, receive, send)

    async def _load(self) -> ASGIApp:
        try:
            endpoint_class = await asyncio.to_thread(_http_endpoint_class)
        except ImportError as exc:
            from ..mcp import sdk_missing

            problem = f"{sdk_missing(exc, 'MCP over HTTP (/mcp)').message}, then restart the server"
            log.warning("/mcp: %s", problem)

            async def absent(scope: Scope, receive: Receive, send: Send) -> None:
                await reply_error(send, 404, "not_found", problem, secured=False)

            return absent
        endpoint = endpoint_class(
            self._queue,
            self._claims.next,
            hosts=loopback_hosts(self._options.port),  # the guard's own allow-list, for the SDK's second check
            max_body_bytes=self._options.max_body_bytes,
        )
        if self._group is None:
            raise RuntimeError("/mcp was called outside the app's lifespan")
        started = asyncio.Event()

        async def run() -> None:
            async with endpoint.lifespan():
                started.set()
                await asyncio.Event().wait()  # until the lifespan's task group is cancelled

        self._group.start_soon(run)
        await started.wait()
        return json_posts_only(endpoint)


def _http_endpoint_class() -> Any:
    from ..mcp.server import HttpEndpoint

    return HttpEndpoint


def _allow_every_method(app: Litestar) -> None:
    """Make each path's OPTIONS answer list all of its methods, not only those of its first handler.

    Litestar 2.x builds the OPTIONS handler with the path's first route and keeps it when later
    handlers join the path (litestar-org/litestar#4169, fixed in 3.0): point it at the whole route.
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "OPTIONS" not in route.route_handler_map:
            continue
        options = route.route_handler_map["OPTIONS"][0].fn
        for cell in getattr(options, "__closure__", None) or ():
            if isinstance(cell.cell_contents, HTTPRoute):
                cell.cell_contents = route


def _constant(value: Any) -> Callable[[], Any]:
    def provide() -> Any:
        return value

    return provide


async def _purge(queue: Queue, feed: Feed, older_than: timedelta) -> None:
    try:
        deleted = await asyncio.to_thread(queue.purge, older_than)
        log.info("purged %d finished task(s) older than %d day(s)", deleted, older_than.days)
        # then the change feed, down to the events kept for resuming clients (the feed is the store's
        # upkeep, not the Queue's: its purge batches only trim as they go)
        await asyncio.to_thread(feed.prune)
    except SparkQError as exc:
        # a storage problem (a read-only, damaged or locked file): its message says what to do
        log.warning("purge at start skipped, the server goes on: %s", exc.message)
    except Exception:
        log.exception("purge at start failed; the server goes on")


async def _prune_events(feed: Feed, interval: float, first_after: float = 0.0) -> None:
    await asyncio.sleep(first_after)
    while True:
        try:
            await asyncio.to_thread(feed.prune)
        except Exception:
            log.exception("pruning old events failed; retrying later")
        await asyncio.sleep(interval)


async def _sweep_dead(queue: Queue, interval: float) -> None:
    problem = None  # a storage problem is logged once, not every interval while it lasts
    while True:
        try:
            failed = await asyncio.to_thread(queue.sweep_dead)
            problem = None
            for task in failed:
                log.warning("auto-failed %s: no complete/fail within 2x its timeout (%ss)", task.id, task.timeout)
        except SparkQError as exc:
            if exc.message != problem:
                log.warning("dead-task sweep failed, retrying every %gs: %s", interval, exc.message)
            problem = exc.message
        except Exception:
            log.exception("dead-task sweep failed; retrying")
        await asyncio.sleep(interval)
