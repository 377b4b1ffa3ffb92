"""`/api/sessions`: bounded periods of work."""

from __future__ import annotations

from litestar import Controller, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter

from sparkq_domain import Queue, Session

from ..serialization import session_to_dict
from .bodies import NoBody, SessionCreate, SessionUpdate
from .contract import STATUSES, OneSession, SessionList, SessionOut, reads, writes


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
    ) -> SessionList:
        """List sessions, optionally only `active` or `ended` ones."""
        return SessionList(sessions=[_out(s) for s in queue.list_sessions(status)])

    @post("/", sync_to_thread=True, responses=writes(409, 422))
    def create_session(self, queue: NamedDependency[Queue], data: JSONBody[SessionCreate]) -> OneSession:
        """Start a session (name: 1-64 letters, digits, `.`, `_`, `-`; `instructions` is an alias of `description`)."""
        return OneSession(session=_out(queue.create_session(data.name, data.text)))

    @get("/{session_ref:str}", sync_to_thread=True, responses=reads(404))
    def get_session(self, queue: NamedDependency[Queue], session_ref: FromPath[str]) -> OneSession:
        """One session, by id or name."""
        return OneSession(session=_out(queue.get_session(session_ref)))

    @put("/{session_ref:str}", sync_to_thread=True, responses=writes(404, 422))
    def update_session(
        self, queue: NamedDependency[Queue], session_ref: FromPath[str], data: JSONBody[SessionUpdate]
    ) -> OneSession:
        """Change a session's description (or send it as `instructions`, its alias)."""
        return OneSession(session=_out(queue.describe_session(session_ref, data.text)))

    @put("/{session_ref:str}/end", sync_to_thread=True, responses=writes(404, 409))
    def end_session(
        self, queue: NamedDependency[Queue], session_ref: FromPath[str], data: JSONBody[NoBody | None] = None
    ) -> OneSession:
        """End a session and every active stream in it."""
        return OneSession(session=_out(queue.end_session(session_ref)))


def _out(session: Session) -> SessionOut:
    # one rendering of a session (serialization.session_to_dict), typed for the OpenAPI document
    return SessionOut(**session_to_dict(session))
