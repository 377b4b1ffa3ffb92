"""`/api/sessions`: bounded periods of work."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post, put

from sparkq_domain import Queue

from ..serialization import session_to_dict
from .bodies import SessionCreate, SessionUpdate


class SessionController(Controller):
    path = "/api/sessions"
    tags = ("sessions",)

    @get("/", sync_to_thread=True)
    def list_sessions(self, queue: Queue, status: str | None = None) -> dict[str, Any]:
        """List sessions, optionally only `active` or `ended` ones."""
        return {"sessions": [session_to_dict(s) for s in queue.list_sessions(status)]}

    @post("/", sync_to_thread=True)
    def create_session(self, queue: Queue, data: SessionCreate) -> dict[str, Any]:
        """Start a session (name: 1-64 letters, digits, `.`, `_`, `-`; `instructions` is an alias of `description`)."""
        return {"session": session_to_dict(queue.create_session(data.name, data.text))}

    @get("/{session_ref:str}", sync_to_thread=True)
    def get_session(self, queue: Queue, session_ref: str) -> dict[str, Any]:
        """One session, by id or name."""
        return {"session": session_to_dict(queue.get_session(session_ref))}

    @put("/{session_ref:str}", sync_to_thread=True)
    def update_session(self, queue: Queue, session_ref: str, data: SessionUpdate) -> dict[str, Any]:
        """Change a session's description (or send it as `instructions`, its alias)."""
        return {"session": session_to_dict(queue.describe_session(session_ref, data.text))}

    @put("/{session_ref:str}/end", sync_to_thread=True)
    def end_session(self, queue: Queue, session_ref: str) -> dict[str, Any]:
        """End a session and every active stream in it."""
        return {"session": session_to_dict(queue.end_session(session_ref))}
