"""Request bodies of the API: how every JSON body is read, and the attrs classes Litestar validates
and documents them with."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
from litestar import Request
from litestar.exceptions import ClientException

from ..serialization import json_problem, loads


class StrictJSONRequest(Request[Any, Any, Any]):
    """A request whose JSON body is read by SparkQ's strict parser, as the CLI reads its arguments.

    Litestar's decoder takes the last of two equal keys and words its errors for programmers;
    this one refuses repeated keys, NaN/Infinity and numbers no JSON reader holds exactly, and
    says what is wrong in the body. A body that is not UTF-8 or is absurdly nested raises on to
    the error mapping (400 `bad_encoding` / `too_deep`); the content rules (depth, size, script
    paths) are the domain's, applied by the `Queue`.
    """

    async def json(self) -> Any:
        body = await self.body() or b"null"
        if len(body) > PARSE_IN_THREAD_BYTES:
            # up to ~1 s for a hostile 8 MiB body of tiny objects: not on the event loop (events, health)
            return await asyncio.to_thread(_parse_body, body)
        return _parse_body(body)


#: bodies larger than this are parsed in a worker thread
PARSE_IN_THREAD_BYTES = 256 * 1024


def _parse_body(body: bytes) -> Any:
    try:
        return loads(body)
    except (UnicodeDecodeError, RecursionError):
        raise  # ValueErrors too, but mapped to their own codes (bad_encoding, too_deep)
    except ValueError as exc:
        raise ClientException(detail=json_problem(exc, "request body")) from None


@attrs.define(kw_only=True)
class SessionCreate:
    name: str
    description: str | None = None


@attrs.define(kw_only=True)
class SessionUpdate:
    description: str | None


@attrs.define(kw_only=True)
class StreamCreate:
    name: str
    #: the session's id (`ses_…`) or name
    session_id: str
    instructions: str | None = None


@attrs.define(kw_only=True)
class StreamUpdate:
    instructions: str | None


@attrs.define(kw_only=True)
class TaskCreate:
    #: the stream's id (`str_…`) or name
    stream_id: str
    tool_name: str
    payload: dict[str, Any]
    task_class: str | None = None
    timeout: int | None = None


@attrs.define(kw_only=True)
class TaskComplete:
    """Either `result` (an object with a non-empty `summary`) or `result_summary` (+ `result_data`)."""

    result: dict[str, Any] | None = None
    result_summary: str | None = None
    result_data: dict[str, Any] | None = None
    stdout: str | None = None
    stderr: str | None = None

    def to_result(self) -> Any:
        if self.result is not None:
            return self.result
        if self.result_summary is not None:
            return {**(self.result_data or {}), "summary": self.result_summary}
        return {}


@attrs.define(kw_only=True)
class TaskFail:
    error_message: str
    #: a short category such as `TestFailure`; stored as a prefix of the error
    error_type: str | None = None
    stdout: str | None = None
    stderr: str | None = None

    def to_error(self) -> str:
        if self.error_type and self.error_type.strip() and self.error_message.strip():
            return f"{self.error_type.strip()}: {self.error_message}"
        return self.error_message
