"""Request bodies of the API, as attrs classes (Litestar validates and documents them)."""

from __future__ import annotations

from typing import Any

import attrs


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
