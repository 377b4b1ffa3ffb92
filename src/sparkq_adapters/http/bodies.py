"""Request bodies of the API: how every JSON body is read and checked, and the attrs classes that
Litestar documents them with.

Every POST and PUT body is read by `StrictJSONRequest` before its handler runs (`read_body`):
the JSON must be strict (no repeated keys, NaN, or numbers no reader holds exactly) and must fit
the route's body type exactly. Unknown keys are refused (400 `unknown_key`, naming the key and
the accepted ones), types are exact (`"77"` is not a timeout), and where two keys say the same
thing (an alias, or two forms of a result) a body gives one of them; a route without a body
type takes `{}` or nothing. SparkQ never guesses what a body meant.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, ClassVar

import attrs
from litestar import Request
from litestar.exceptions import ClientException
from litestar.handlers import HTTPRouteHandler
from litestar.params import KwargDefinition
from litestar.types import Empty

from sparkq_domain.limits import MAX_QUOTED_CHARS, quoted

from ..serialization import REQUIRED, BodyMismatch, json_kind, json_problem, loads, structure_body
from .security import NotJSON, says_json

#: the methods whose bodies are read and checked (the guard lets only JSON through for these)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
#: bodies larger than this are parsed in a worker thread
PARSE_IN_THREAD_BYTES = 256 * 1024
#: at most this many unknown keys are named in one message
NAMED_KEYS = 5


class BodyRefused(ClientException):
    """A request body that is not what its route takes (400); `code` says how."""

    def __init__(self, message: str, *, code: str = "bad_request", details: list[dict[str, Any]] | None = None):
        super().__init__(detail=message, extra=details)
        self.code = code


class StrictJSONRequest(Request[Any, Any, Any]):
    """A request whose JSON body is read by SparkQ's strict parser and checked against its route.

    Litestar's decoder takes the last of two equal keys, ignores unknown keys, turns "77" into 77,
    and words its errors for programmers; this reader refuses all of that and says what is wrong
    in the body. A body that is not UTF-8 or is absurdly nested raises on to the error mapping
    (400 `bad_encoding` / `too_deep`); the content rules (depth, size, script paths) are the
    domain's, applied by the `Queue`.
    """

    async def json(self) -> Any:
        if self._json is Empty:
            if (cached := self._connection_state.json) is not Empty:
                self._json = cached
            else:
                body = await self.body()
                if len(body) > PARSE_IN_THREAD_BYTES:
                    # up to ~1 s for a hostile 8 MiB body of tiny objects: not on the event loop (events, health)
                    value = await asyncio.to_thread(_parse_body, body)
                else:
                    value = _parse_body(body)
                declared = body_type(self.route_handler)
                if declared is not OTHER_BODY:
                    check_body(value, declared, empty=not body.strip())
                self._json = self._connection_state.json = value
        return self._json


async def read_body(request: Request[Any, Any, Any]) -> None:
    """Read and check the body of every state change before its handler runs, also where it takes none."""
    if request.method in BODY_METHODS:
        if not says_json(request.headers.get("content-type")):
            raise NotJSON()  # what no form and no "simple" cross-origin request can send (security.py)
        await request.json()


#: `body_type` of a route whose body is not an attrs class: Litestar alone checks it (give routes attrs bodies)
OTHER_BODY: Any = object()


def body_type(handler: Any) -> Any:
    """The attrs class a route handler takes as its body (`data`); None when it takes none; else `OTHER_BODY`."""
    if not isinstance(handler, HTTPRouteHandler):
        return OTHER_BODY
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None or data.annotation == NoBody | None:
        return None  # `NoBody | None` documents the `{}` (or nothing) that a route without body fields takes
    return data.annotation if attrs.has(data.annotation) else OTHER_BODY


def _parse_body(body: bytes) -> Any:
    try:
        return loads(body or b"null")
    except (UnicodeDecodeError, RecursionError):
        raise  # ValueErrors too, but mapped to their own codes (bad_encoding, too_deep)
    except ValueError as exc:
        raise ClientException(detail=json_problem(exc, "request body")) from None


# -- the checks -------------------------------------------------------------------------------------


@attrs.frozen
class OneOf:
    """Keys that say the same thing: a body gives at most one of them (exactly one when `required`)."""

    keys: tuple[str, ...]
    required: bool = False
    #: how the keys relate, for the message
    note: str = ""

    def problem(self, body: dict[str, Any]) -> str | None:
        given = [key for key in self.keys if key in body]
        note = f" ({self.note})" if self.note else ""
        if len(given) > 1:
            return f"Give {' or '.join(given)}, not both{note}"
        if self.required and not given:
            return f"The body needs {' or '.join(self.keys)}{note}"
        return None


def check_body(value: Any, cls: type | None, *, empty: bool = False) -> None:
    """Raise `BodyRefused` unless the parsed body `value` fits the body type `cls` exactly."""
    if cls is None:
        if value is None or value == {}:
            return
        if isinstance(value, dict):
            raise BodyRefused(
                f"{_unknown(sorted(value))} in the body; this request takes no body fields: send {{}} or no body",
                code="unknown_key",
                details=[_unknown_detail(key) for key in sorted(value)[:NAMED_KEYS]],
            )
        raise BodyRefused(f"This request takes no body fields: send {{}} or no body, not {json_kind(value)}")
    accepted = "accepted: " + ", ".join(field.name for field in attrs.fields(cls))
    if not isinstance(value, dict):
        got = "an empty body" if empty else json_kind(value)
        raise BodyRefused(f"The request body must be a JSON object; got {got}. Keys {accepted}")
    try:
        structure_body(value, cls)
    except BodyMismatch as exc:
        parts = [f"{_unknown(exc.unknown)} in the body"] if exc.unknown else []
        parts += [f"{key} {problem}" for key, problem in exc.problems]
        if exc.unknown or any(problem == REQUIRED for _, problem in exc.problems):
            parts.append(accepted)
        details = [_unknown_detail(key) for key in exc.unknown[:NAMED_KEYS]]
        details += [{"key": key, "message": problem, "source": "body"} for key, problem in exc.problems]
        code = "unknown_key" if exc.unknown else "bad_request"
        raise BodyRefused("; ".join(parts), code=code, details=details) from None
    for rule in getattr(cls, "ONE_OF", ()):
        if (problem := rule.problem(value)) is not None:
            raise BodyRefused(problem)


def _unknown_detail(key: str) -> dict[str, Any]:
    return {"key": key[:MAX_QUOTED_CHARS], "message": "unknown key", "source": "body"}


def _unknown(keys: list[str]) -> str:
    named = ", ".join(quoted(key) for key in keys[:NAMED_KEYS])
    more = f" and {len(keys) - NAMED_KEYS:,} more" if len(keys) > NAMED_KEYS else ""
    return f"Unknown key{'s' if len(keys) > 1 else ''} {named}{more}"


# -- the bodies -------------------------------------------------------------------------------------


def _doc(text: str) -> KwargDefinition:
    """A field description for the OpenAPI schema (the rest of it: `contract.FIELD_RULES`)."""
    return KwargDefinition(description=text)


@attrs.define(kw_only=True)
class NoBody:
    """No body fields: send `{}`, or no body (with `Content-Type: application/json` all the same)."""


DESCRIPTION_ALIAS = "instructions is an alias of description"


class _Described:
    """A session body whose `description` may come under its seed-era name, `instructions`."""

    description: str | None
    instructions: str | None

    @property
    def text(self) -> str | None:
        """The description, from whichever of the two keys was given (the body check allows one)."""
        return self.description if self.description is not None else self.instructions


@attrs.define(kw_only=True)
class SessionCreate(_Described):
    ONE_OF: ClassVar[tuple[OneOf, ...]] = (OneOf(("description", "instructions"), note=DESCRIPTION_ALIAS),)

    name: Annotated[str, _doc("1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")]
    description: Annotated[str | None, _doc("What the session is for")] = None
    instructions: Annotated[
        str | None, _doc("The seed-era name of description, accepted as its alias; give one of the two")
    ] = None


@attrs.define(kw_only=True)
class SessionUpdate(_Described):
    ONE_OF: ClassVar[tuple[OneOf, ...]] = (
        OneOf(("description", "instructions"), required=True, note=DESCRIPTION_ALIAS),
    )

    description: Annotated[str | None, _doc("The new description (null clears it); this or instructions")] = None
    instructions: Annotated[
        str | None, _doc("The seed-era name of description, accepted as its alias; give one of the two")
    ] = None


@attrs.define(kw_only=True)
class StreamCreate:
    name: Annotated[str, _doc("1-64 letters, digits, '.', '_' or '-'; unique across sessions")]
    session_id: Annotated[str, _doc("The session's id (ses_…) or name")]
    instructions: Annotated[str | None, _doc("The mini-spec every worker receives with each task")] = None


@attrs.define(kw_only=True)
class StreamUpdate:
    instructions: Annotated[str | None, _doc("The new instructions (null clears them)")]


@attrs.define(kw_only=True)
class TaskCreate:
    stream_id: Annotated[str, _doc("The stream's id (str_…) or name")]
    tool_name: Annotated[str, _doc("A tool of the registry (GET /api/tools)")]
    payload: Annotated[dict[str, Any], _doc("The tool's input, a JSON object")]
    task_class: Annotated[str | None, _doc("FAST_SCRIPT, MEDIUM_SCRIPT, LLM_LITE or LLM_HEAVY")] = None
    timeout: Annotated[int | None, _doc("Seconds (an integer); default: the tool's, else its class's")] = None


RESULT_FORMS = "result is an object with a non-empty summary; result_summary is the summary alone, with result_data"


@attrs.define(kw_only=True)
class TaskComplete:
    """Either `result` (an object with a non-empty `summary`) or `result_summary` (+ `result_data`)."""

    ONE_OF: ClassVar[tuple[OneOf, ...]] = (
        OneOf(("result", "result_summary"), required=True, note=RESULT_FORMS),
        OneOf(("result", "result_data"), note="result_data goes with result_summary"),
    )

    result: Annotated[
        dict[str, Any] | None, _doc("An object with a non-empty string summary; or send result_summary")
    ] = None
    result_summary: Annotated[str | None, _doc("The summary alone, instead of result")] = None
    result_data: Annotated[dict[str, Any] | None, _doc("The rest of the result, with result_summary")] = None
    stdout: str | None = None
    stderr: str | None = None

    def to_result(self) -> Any:
        if self.result_summary is not None:
            return {**(self.result_data or {}), "summary": self.result_summary}
        return self.result if self.result is not None else {}


@attrs.define(kw_only=True)
class TaskFail:
    error_message: Annotated[str, _doc("What went wrong; stored as given")]
    error_type: Annotated[
        str | None, _doc("A short category such as TestFailure, stored apart from the message (blank: none)")
    ] = None
    stdout: str | None = None
    stderr: str | None = None


@attrs.define(kw_only=True)
class TaskHeartbeat:
    note: Annotated[
        str | None,
        _doc("Where the work stands, in a line or two (at most 1 KiB of UTF-8; the latest kept); omit for none"),
    ] = None


@attrs.define(kw_only=True)
class TaskCancel:
    reason: Annotated[str | None, _doc("Why it is cancelled (kept as the task's error); omit for none")] = None


@attrs.define(kw_only=True)
class TasksRequeue:
    status: Annotated[str, _doc("Which tasks to requeue: failed (auto-failed included) is the one status taken")]
    stream_id: Annotated[str | None, _doc("Only this stream's (its id str_… or name)")] = None
    since: Annotated[str | None, _doc("Only those that failed within this long: 12h, 3d, 2w")] = None
    dry_run: Annotated[bool, _doc("Change nothing; answer which tasks would be requeued (originals)")] = False


#: every body class of the API (the OpenAPI document says they take no other keys)
BODIES = (
    NoBody,
    SessionCreate,
    SessionUpdate,
    StreamCreate,
    StreamUpdate,
    TaskCreate,
    TaskComplete,
    TaskFail,
    TaskHeartbeat,
    TaskCancel,
    TasksRequeue,
)
