"""`/api/streams`: feature lanes, and the worker protocol over HTTP (peek, claim)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post, put
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from sparkq_domain import Queue

from ..serialization import claimed_to_dict, stream_counts_to_dict, task_to_dict
from .bodies import StreamCreate, StreamUpdate


class StreamController(Controller):
    path = "/api/streams"
    tags = ("streams",)

    @get("/", sync_to_thread=True)
    def list_streams(self, queue: Queue, session_id: str | None = None, status: str | None = None) -> dict[str, Any]:
        """List streams with their task counts; filter by session (id or name) and status."""
        return {"streams": [stream_counts_to_dict(s) for s in queue.list_streams(session_id, status)]}

    @post("/", sync_to_thread=True)
    def create_stream(self, queue: Queue, data: StreamCreate) -> dict[str, Any]:
        """Create a stream in an active session (stream names are unique across sessions)."""
        stream = queue.create_stream(data.name, data.session_id, data.instructions)
        return {"stream": stream_counts_to_dict(queue.stream_counts(stream.id))}

    @get("/{stream_ref:str}", sync_to_thread=True)
    def get_stream(self, queue: Queue, stream_ref: str) -> dict[str, Any]:
        """One stream, by id or name, with its task counts."""
        return {"stream": stream_counts_to_dict(queue.stream_counts(stream_ref))}

    @put("/{stream_ref:str}", sync_to_thread=True)
    def update_stream(self, queue: Queue, stream_ref: str, data: StreamUpdate) -> dict[str, Any]:
        """Replace a stream's instructions."""
        stream = queue.instruct_stream(stream_ref, data.instructions)
        return {"stream": stream_counts_to_dict(queue.stream_counts(stream.id))}

    @put("/{stream_ref:str}/end", sync_to_thread=True)
    def end_stream(self, queue: Queue, stream_ref: str) -> dict[str, Any]:
        """End a stream: it accepts no tasks and its queued tasks are no longer claimable."""
        stream = queue.end_stream(stream_ref)
        return {"stream": stream_counts_to_dict(queue.stream_counts(stream.id))}

    @get("/{stream_ref:str}/peek", sync_to_thread=True)
    def peek(self, queue: Queue, stream_ref: str) -> Response[Any]:
        """The next queued task of the stream, unchanged (the CLI's `peek` JSON); 204 when there is none."""
        task = queue.peek(stream_ref)
        if task is None:
            return Response(content=None, status_code=HTTP_204_NO_CONTENT)
        return Response(content=task_to_dict(task), status_code=HTTP_200_OK)

    @post("/{stream_ref:str}/claim", sync_to_thread=True, status_code=HTTP_200_OK)
    def claim(self, queue: Queue, stream_ref: str) -> Response[Any]:
        """Claim the oldest queued task of the stream (the CLI's `claim` JSON); 204 when there is none."""
        claimed = queue.claim(stream_ref)
        if claimed is None:
            return Response(content=None, status_code=HTTP_204_NO_CONTENT)
        return Response(content=claimed_to_dict(claimed.task, claimed.stream), status_code=HTTP_200_OK)
