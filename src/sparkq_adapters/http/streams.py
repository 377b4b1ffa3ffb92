"""`/api/streams`: feature lanes, and the worker protocol over HTTP (peek, claim)."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
from litestar import Controller, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK

from sparkq_domain import Claimed, Queue

from ..serialization import claimed_to_dict, stream_counts_to_dict, task_to_dict
from ..waiting import MAX_HTTP_WAIT_SECONDS, claim_waiting_async, claimer
from .answers import NO_TASK, Answer
from .bodies import NoBody, StreamCreate, StreamUpdate
from .contract import STATUSES, ClaimedTask, OneStream, StreamList, TaskOut, answers, no_task, reads, writes
from .events import EventHub
from .security import client_departure

#: `sync_to_thread` of the worker protocol's handlers (enqueue, claim, complete, fail, peek, a task, a
#: page of tasks): they run on the event loop. Each is one short transaction (a fraction of a
#: millisecond), and the hop to a pool thread and back cost more than the work itself (a fifth to
#: a third of the time of a request); writers queue for the store's writer lock in any case.
#: Handlers whose work grows with the data (counts of every stream, stats) stay in the pool.
INLINE = False


@attrs.frozen
class Claims:
    """Claims of a stream's next task: from the queue, now or once the hub sees a change.

    One dependency rather than two (the queue and the hub): Litestar resolves two or more of a
    handler's dependencies in an anyio task group per request, which cost a quarter of a claim.
    """

    queue: Queue
    hub: EventHub

    async def next(self, stream_ref: str, wait: float | None) -> Claimed | None:
        """Claim the stream's next task; with `wait`, wait up to that many seconds for one to be queued."""
        if wait is None:
            return self.queue.claim(stream_ref)  # on the loop, as INLINE handlers are
        claim = claimer(self.queue, stream_ref)
        # a client that went away meanwhile (REST or /mcp) ends the wait: no task is claimed for nobody
        return await claim_waiting_async(lambda: asyncio.to_thread(claim), self.hub, wait, gone=client_departure())


class StreamController(Controller):
    path = "/api/streams"
    tags = ("streams",)

    @get("/", sync_to_thread=True, responses=answers(200, StreamList, reads(400, 404, 422)))
    def list_streams(
        self,
        queue: NamedDependency[Queue],
        session_id: FromQuery[str | None] = None,
        status: str | None = Parameter(
            default=None, description="Only active or ended streams", schema_extra={"enum": STATUSES}
        ),
    ) -> dict[str, Any]:
        """List streams with their task counts; filter by session (id or name) and status."""
        return {"streams": [stream_counts_to_dict(s) for s in queue.list_streams(session_id, status)]}

    @post("/", sync_to_thread=True, responses=answers(201, OneStream, writes(404, 409, 422)))
    def create_stream(self, queue: NamedDependency[Queue], data: JSONBody[StreamCreate]) -> dict[str, Any]:
        """Create a stream in an active session (stream names are unique across sessions)."""
        stream = queue.create_stream(data.name, data.session_id, data.instructions)
        return {"stream": stream_counts_to_dict(queue.stream_counts(stream.id))}

    @get("/{stream_ref:str}", sync_to_thread=True, responses=answers(200, OneStream, reads(404)))
    def get_stream(self, queue: NamedDependency[Queue], stream_ref: FromPath[str]) -> dict[str, Any]:
        """One stream, by id or name, with its task counts."""
        return {"stream": stream_counts_to_dict(queue.stream_counts(stream_ref))}

    @put("/{stream_ref:str}", sync_to_thread=True, responses=answers(200, OneStream, writes(404, 409, 422)))
    def update_stream(
        self, queue: NamedDependency[Queue], stream_ref: FromPath[str], data: JSONBody[StreamUpdate]
    ) -> dict[str, Any]:
        """Replace a stream's instructions; the next task claimed from it carries them (409 once it has ended)."""
        stream = queue.instruct_stream(stream_ref, data.instructions)
        return {"stream": stream_counts_to_dict(queue.stream_counts(stream.id))}

    @put("/{stream_ref:str}/end", sync_to_thread=True, responses=answers(200, OneStream, writes(404, 409)))
    def end_stream(
        self, queue: NamedDependency[Queue], stream_ref: FromPath[str], data: JSONBody[NoBody | None] = None
    ) -> dict[str, Any]:
        """End a stream: it accepts no tasks, and its queued tasks are cancelled (reason: stream ended)."""
        stream = queue.end_stream(stream_ref)
        return {"stream": stream_counts_to_dict(queue.stream_counts(stream.id))}

    @get("/{stream_ref:str}/peek", sync_to_thread=INLINE, responses=no_task(answers(200, TaskOut, reads(404, 409))))
    def peek(self, queue: NamedDependency[Queue], stream_ref: FromPath[str]) -> Answer:
        """The next queued task of the stream, unchanged (the CLI's `peek` JSON); 204 when there is none.

        409 `stream_ended` when the stream (or its session) has ended: it will never have work again.
        """
        task = queue.peek(stream_ref)
        return NO_TASK if task is None else Answer(task_to_dict(task))

    @post(
        "/{stream_ref:str}/claim",
        status_code=HTTP_200_OK,
        responses=no_task(answers(200, ClaimedTask, writes(404, 409))),
    )
    async def claim(
        self,
        claims: NamedDependency[Claims],
        stream_ref: FromPath[str],
        wait: float | None = Parameter(
            default=None,
            ge=0,
            le=MAX_HTTP_WAIT_SECONDS,
            description=f"Seconds to wait for a task, 0 to {MAX_HTTP_WAIT_SECONDS:g}",
            schema_extra={"minimum": 0},  # Litestar leaves out a falsy bound of an optional parameter
        ),
        data: JSONBody[NoBody | None] = None,
    ) -> Answer:
        """Claim the oldest queued task of the stream (the CLI's `claim` JSON); 204 when there is none.

        With `?wait=SECONDS` (at most 60) the request waits for a task to be queued and returns
        as soon as one is claimed; 204 when the time is up. A client that disconnects ends the
        wait, and no task is claimed for it. 409 `stream_ended` when the stream (or its session)
        has ended: stop the worker's loop.
        """
        claimed = await claims.next(stream_ref, wait)
        return NO_TASK if claimed is None else Answer(claimed_to_dict(claimed.task, claimed.stream))
