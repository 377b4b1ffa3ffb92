"""`/api/sessions`: bounded periods of work."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter

from sparkq_domain import Queue

from ..serialization import session_to_dict
from .bodies import NoBody, SessionCreate, SessionUpdate
from .contract import STATUSES, reads, writes


class SessionController(Controller):
    path = "/api/sessions"
    tags = ("sessions",)

    @get("/", sync_to_thread=True, responses=reads(400, 422))
    def list_sessions(
        self,
        queue: NamedDependency[Queue],
        status: str | None = Parameter(
            default=None, description="Only active or ended sessions", schema_extra={"enum": STATUSES}
        ),
    ) -> dict[str, Any]:
        """List sessions, optionally only `active` or `ended` ones."""
        return {"sessions": [session_to_dict(s) for s in queue.list_sessions(status)]}

    @post("/", sync_to_thread=True, responses=writes(409, 422))
    def create_session(self, queue: NamedDependency[Queue], data: JSONBody[SessionCreate]) -> dict[str, Any]:
        """Start a session (name: 1-64 letters, digits, `.`, `_`, `-`; `instructions` is an alias of `description`)."""
        return {"session": session_to_dict(queue.create_session(data.name, data.text))}

    @get("/{session_ref:str}", sync_to_thread=True, responses=reads(404))
    def get_session(self, queue: NamedDependency[Queue], session_ref: FromPath[str]) -> dict[str, Any]:
        """One session, by id or name."""
        return {"session": session_to_dict(queue.get_session(session_ref))}

    @put("/{session_ref:str}", sync_to_thread=True, responses=writes(404, 422))
    def update_session(
        self, queue: NamedDependency[Queue], session_ref: FromPath[str], data: JSONBody[SessionUpdate]
    ) -> dict[str, Any]:
        """Change a session's description (or send it as `instructions`, its alias)."""
        return {"session": session_to_dict(queue.describe_session(session_ref, data.text))}

    @put("/{session_ref:str}/end", sync_to_thread=True, responses=writes(404, 409))
    def end_session(
        self, queue: NamedDependency[Queue], session_ref: FromPath[str], data: JSONBody[NoBody | None] = None
    ) -> dict[str, Any]:
        """End a session and every active stream in it."""
        return {"session": session_to_dict(queue.end_session(session_ref))}
