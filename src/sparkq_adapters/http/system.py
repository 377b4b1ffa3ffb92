"""Health, status, the tool registry and script index, and config reload."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import attrs
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK

from sparkq_domain import Queue
from sparkq_domain.overview import MAX_OVERVIEW_TASKS, ActiveWork, Overview, active_work, overview

from ..clock import format_time
from ..local_api import server_url
from ..serialization import counts_to_dict, session_to_dict, stats_to_dict, stream_counts_to_dict, task_row_dict
from .bodies import NoBody
from .contract import (
    Health,
    OverviewOut,
    ReloadOut,
    ScriptList,
    StatsOut,
    StatusOut,
    ToolList,
    answers,
    reads,
    writes,
)


@runtime_checkable
class Catalog(Protocol):
    """What the server knows besides the queue: the tools, the scripts, and how to reload them."""

    def tools(self) -> Sequence[dict[str, Any]]: ...
    def scripts(self) -> Sequence[dict[str, Any]]: ...
    def reload(self) -> dict[str, Any]: ...


@attrs.frozen(kw_only=True)
class ServerInfo:
    pid: int
    port: int
    started_at: str
    #: the loopback address it listens on (sparkq.yml's server.host)
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return server_url(self.host, self.port)


def health(queue: Queue) -> dict[str, Any]:
    return {"status": "ok", "timestamp": format_time(queue.now())}


@get(["/health", "/api/health"], sync_to_thread=False, tags=["system"], responses=reads())
def health_check(queue: NamedDependency[Queue]) -> Health:
    """Liveness: `{"status": "ok", "timestamp": …}`."""
    return Health(**health(queue))


class SystemController(Controller):
    path = "/api"
    tags = ("system",)

    @get("/status", sync_to_thread=True, responses=answers(200, StatusOut, reads(507)))
    def status(self, queue: NamedDependency[Queue], server: NamedDependency[ServerInfo]) -> dict[str, Any]:
        """The server, task counts per status, the active sessions with their streams, the stale tasks.

        What `sparkq status --json` shows of the queue, with this server. Dead tasks are auto-failed
        first: 507 when that write finds the disk full.
        """
        return status_json(active_work(queue), server)

    @get("/overview", sync_to_thread=True, responses=answers(200, OverviewOut, reads(400, 404, 507)))
    def overview(
        self,
        queue: NamedDependency[Queue],
        stream_id: str | None = Parameter(default=None, description="Newest tasks of this stream only (id or name)"),
        limit: int = Parameter(
            default=10, ge=1, le=MAX_OVERVIEW_TASKS, description=f"Newest tasks to include, 1 to {MAX_OVERVIEW_TASKS}"
        ),
    ) -> dict[str, Any]:
        """Everything the dashboard shows, in one answer (one request per refresh).

        `counts`: tasks per status over all streams; `sessions`: how many are active and ended;
        `streams`: every stream with its session's name and task counts (as `GET /api/streams`);
        `tasks`/`total`: the newest `limit` task rows (as `GET /api/tasks`), of `stream_id` if given;
        `stats`: as `GET /api/stats`. 404 when `stream_id` names no stream; 507 when dead tasks are due
        to be auto-failed and the disk is full.
        """
        return overview_json(overview(queue, stream=stream_id, limit=limit))

    @get("/stats", sync_to_thread=True, responses=answers(200, StatsOut, reads()))
    def stats(self, queue: NamedDependency[Queue]) -> dict[str, Any]:
        """Tasks finished per hour over the last 24 h (succeeded/failed), and per-tool median/p90 durations."""
        return stats_to_dict(queue.stats())

    @get("/tools", sync_to_thread=True, responses=answers(200, ToolList, reads()))
    def tools(self, catalog: NamedDependency[Catalog]) -> dict[str, Any]:
        """The tool registry: name, task class, resolved timeout, description, payload template."""
        return {"tools": list(catalog.tools())}

    @get("/scripts", sync_to_thread=True, responses=answers(200, ScriptList, reads()))
    def scripts(self, catalog: NamedDependency[Catalog]) -> dict[str, Any]:
        """The script index built from `script_dirs` (name, path, description, inputs, outputs, tags)."""
        return {"scripts": list(catalog.scripts())}

    @post("/reload", sync_to_thread=True, status_code=HTTP_200_OK, responses=answers(200, ReloadOut, writes(422)))
    def reload(self, catalog: NamedDependency[Catalog], data: JSONBody[NoBody | None] = None) -> dict[str, Any]:
        """Re-read sparkq.yml's tools and rebuild the script index.

        A server started without a config file looks for ./sparkq.yml in its start folder again, as
        the CLI would, so `sparkq setup` then `sparkq reload` needs no restart. Answers the file read,
        the counts, and warnings (script folders that cannot be read, a database it cannot switch to).
        """
        return catalog.reload()


def status_json(work: ActiveWork, server: ServerInfo) -> dict[str, Any]:
    """`GET /api/status`: the read side's `ActiveWork`, each active session with its streams, and `server`."""
    return {
        "server": {
            "status": "running",
            "pid": server.pid,
            "port": server.port,
            "url": server.url,
            "started_at": server.started_at,
        },
        "counts": counts_to_dict(work.counts),
        "sessions": [
            {**session_to_dict(s), "streams": [stream_counts_to_dict(c) for c in work.streams_of(s)]}
            for s in work.sessions
        ],
        "stale": work.stale,
    }


def overview_json(view: Overview) -> dict[str, Any]:
    """`GET /api/overview`: the read side's `Overview`, its rows as the task list's and its stats as `/api/stats`."""
    return {
        "generated_at": format_time(view.generated_at),
        "counts": counts_to_dict(view.counts),
        "sessions": {"active": view.active_sessions, "ended": view.ended_sessions},
        "streams": [stream_counts_to_dict(s) for s in view.streams],
        "tasks": [task_row_dict(t, view.generated_at) for t in view.newest.tasks],
        "total": view.newest.total,
        "stats": stats_to_dict(view.stats),
    }
