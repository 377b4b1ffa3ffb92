"""Wire formats: JSON input parsing, entity -> JSON dicts, and the cattrs converters (config, request bodies).

The entity -> dict functions are plain functions rather than cattrs: the CLI calls them on every
`peek`/`claim`, and importing cattrs would cost that hot path ~20 ms per call. A task's comes from
its record (`records.TASK`), which the SQLite adapter maps its rows with too.
cattrs is imported only when a config file is structured.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sparkq_domain import Registry, Session, Stats, Stream, StreamCounts, Task, TaskStatus
from sparkq_domain.errors import InvalidInput
from sparkq_domain.limits import INTEGER_RULE, MAX_JSON_INTEGER, quoted, shown_integer

from .clock import format_optional, format_time
from .records import TASK

if TYPE_CHECKING:
    import cattrs


# -- input -----------------------------------------------------------------------------------------


class Refused(ValueError):
    """Text that Python's parser reads but SparkQ refuses; the message completes "The payload …"."""


def _reject_constant(name: str) -> Any:
    raise Refused(f"is not valid JSON: {name} is not a JSON number; use null or a string")


_MAX_DIGITS = len(str(MAX_JSON_INTEGER))


def _parse_int(digits: str) -> int:
    # more digits than any accepted integer has: refused before int(), which is slow on thousands of digits
    if len(digits.lstrip("-")) <= _MAX_DIGITS:
        value = int(digits)
        if abs(value) <= MAX_JSON_INTEGER:
            return value
    raise Refused(f"holds the integer {shown_integer(digits)}, {INTEGER_RULE}")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Refused(f"holds the number {text[:24]}, too large for a JSON number (it overflows to infinity)")
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise Refused(f"has the key {json.dumps(key)[:80]} twice in one object; keys must be unique")
            seen.add(key)
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_constant=_reject_constant, parse_int=_parse_int, parse_float=_parse_float
)


def loads(text: str | bytes) -> Any:
    """Parse strict JSON: UTF-8 only; NaN, Infinity, out-of-range numbers and repeated keys refused.

    Raises UnicodeDecodeError, RecursionError (absurd nesting) or ValueError; `json_problem`
    words a ValueError for the user.
    """
    if isinstance(text, bytes):
        # strict UTF-8 (json.loads would accept UTF-16/32 and surrogates encoded in UTF-8)
        text = text.decode("utf-8")
    return _DECODER.decode(text)


def json_problem(exc: ValueError, what: str) -> str:
    """The message for a ValueError raised by `loads`, naming `what` was read."""
    if isinstance(exc, json.JSONDecodeError):
        return f"The {what} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    if isinstance(exc, Refused):
        return f"The {what} {exc}"
    return f"The {what} is not valid JSON: {exc}"


def parse_json(text: str | bytes, what: str) -> Any:
    """Parse strict JSON (see `loads`), naming `what` in every error.

    Depth, text and size rules are the domain's (`sparkq_domain.limits`), applied by the `Queue`.
    """
    try:
        return loads(text)
    except RecursionError:
        raise InvalidInput(f"The {what} is nested too deeply to read") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"The {what} is not valid UTF-8 text") from None
    except ValueError as exc:
        raise InvalidInput(json_problem(exc, what)) from None


def parse_json_object(text: str | bytes, what: str, example: str = '{"key": "value"}') -> dict[str, Any]:
    value = parse_json(text, what)
    if not isinstance(value, dict):
        raise InvalidInput(f"The {what} must be a JSON object, e.g. {example}; got {type(value).__name__}")
    return value


def dumps(value: Any, *, pretty: bool = False) -> str:
    if pretty:
        return json.dumps(value, ensure_ascii=False, indent=2)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# -- output ----------------------------------------------------------------------------------------


def task_to_dict(task: Task) -> dict[str, Any]:
    """The §2 task object: `payload` and `result` as JSON objects, times as ISO-8601 with `Z`."""
    return TASK.to_dict(task)


#: the bulky fields a task list leaves out unless asked (`?full=true`)
BULKY_FIELDS = ("payload", "result", "stdout", "stderr")


def task_row_dict(task: Task, now: datetime, *, full: bool = False) -> dict[str, Any]:
    """A task for lists and views: the §2 fields (bulky ones only when `full`) plus derived flags."""
    row = task_to_dict(task)
    if not full:
        for name in BULKY_FIELDS:
            del row[name]
    duration = task.duration()
    running = task.running_for(now)
    row["summary"] = task.result.get("summary") if task.result else None
    row["stale"] = task.is_stale(now)
    row["auto_failed"] = task.auto_failed
    row["duration_seconds"] = duration.total_seconds() if duration is not None else None
    row["running_seconds"] = running.total_seconds() if running is not None else None
    return row


def stream_ref(stream: Stream) -> dict[str, Any]:
    """What a worker gets with a claimed task."""
    return {"id": stream.id, "name": stream.name, "instructions": stream.instructions}


def claimed_to_dict(task: Task, stream: Stream) -> dict[str, Any]:
    return {**task_to_dict(task), "stream": stream_ref(stream)}


def session_to_dict(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "project_id": session.project_id,
        "name": session.name,
        "description": session.description,
        "status": session.status.value,
        "started_at": format_time(session.started_at),
        "ended_at": format_optional(session.ended_at),
        "created_at": format_time(session.created_at),
        "updated_at": format_time(session.updated_at),
    }


def stream_to_dict(stream: Stream) -> dict[str, Any]:
    return {
        "id": stream.id,
        "session_id": stream.session_id,
        "name": stream.name,
        "instructions": stream.instructions,
        "status": stream.status.value,
        "created_at": format_time(stream.created_at),
        "updated_at": format_time(stream.updated_at),
    }


def counts_to_dict(counts: Mapping[TaskStatus, int]) -> dict[str, int]:
    return {status.value: counts.get(status, 0) for status in TaskStatus}


def stream_counts_to_dict(item: StreamCounts) -> dict[str, Any]:
    return {
        **stream_to_dict(item.stream),
        "session_name": item.session_name,
        "task_counts": counts_to_dict(item.counts),
    }


def stats_to_dict(stats: Stats) -> dict[str, Any]:
    return {
        "generated_at": format_time(stats.generated_at),
        "finished_per_hour": [
            {"hour": h.hour.strftime("%Y-%m-%dT%H:00:00Z"), "succeeded": h.succeeded, "failed": h.failed}
            for h in stats.finished_per_hour
        ],
        "tools": [
            {
                "tool_name": t.tool_name,
                "count": t.count,
                "median_seconds": round(t.median_seconds, 3),
                "p90_seconds": round(t.p90_seconds, 3),
            }
            for t in stats.tools
        ],
    }


def tool_dicts(registry: Registry) -> list[dict[str, Any]]:
    """The tool registry as JSON objects (timeouts resolved), in configuration order."""
    items = []
    for name, tool in registry.tools.items():
        task_class, timeout = registry.resolve(name)
        items.append(
            {
                "name": name,
                "task_class": task_class.value,
                "timeout": timeout,
                "description": tool.description,
                "payload_template": tool.payload_template,
            }
        )
    return items


# -- request bodies (a converter of their own: strict JSON types, worded for JSON) -----------------

T = TypeVar("T")


#: what `BodyMismatch` says of a key the body lacks
REQUIRED = "is required"


class BodyMismatch(ValueError):
    """A JSON object that does not fit a body type: what is wrong with which key, and the unknown keys."""

    def __init__(self, problems: list[tuple[str, str]], unknown: list[str]) -> None:
        super().__init__(problems, unknown)
        #: (key, what is wrong with it), e.g. ("timeout", "must be an integer, got a string: '77'")
        self.problems = problems
        #: keys the type does not have, sorted
        self.unknown = unknown


class _WrongType(ValueError):
    def __init__(self, expected: str, got: Any) -> None:
        super().__init__(expected, got)
        self.expected = expected
        self.got = got


def json_kind(value: Any) -> str:
    """What a JSON value is, for an error message: `null`, `a string: 'x'`, `the number 7`, `an array`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {quoted(value)}"
    if isinstance(value, str):
        return f"a string: {quoted(value)}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _exact(expected: str, *types: type) -> Any:
    def hook(value: Any, _: Any) -> Any:
        # bool is an int to Python, never to a JSON reader: `true` is not a timeout
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise _WrongType(expected, value)
        return value

    return hook


def _integer(value: Any, _: Any) -> Any:
    # a number without a fraction is an integer to JSON and JSON Schema (77.0 is 77); "77", true and 77.5 are not
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_JSON_INTEGER:
        return int(value)
    return _exact("an integer", int)(value, _)


_body_converter: cattrs.Converter | None = None


def body_converter() -> cattrs.Converter:
    """The converter of request bodies: unknown keys are errors and types are exact (no "77" -> 77)."""
    global _body_converter
    if _body_converter is None:
        import cattrs

        conv = cattrs.Converter(forbid_extra_keys=True)
        conv.register_structure_hook(str, _exact("a string", str))
        conv.register_structure_hook(int, _integer)
        conv.register_structure_hook(float, _exact("a number", int, float))
        conv.register_structure_hook(bool, _exact("true or false", bool))
        # the values inside a payload or result are the domain's to check (`sparkq_domain.limits`)
        conv.register_structure_hook_func(lambda t: t == dict[str, Any], _exact("a JSON object", dict))
        _body_converter = conv
    return _body_converter


def structure_body(value: dict[str, Any], cls: type[T]) -> T:
    """Build the attrs class `cls` from a JSON object, strictly; raises `BodyMismatch` naming every problem."""
    from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError

    try:
        return body_converter().structure(value, cls)
    except ClassValidationError as exc:
        problems: list[tuple[str, str]] = []
        unknown: list[str] = []
        with_notes, without_notes = exc.group_exceptions()
        for error, note in with_notes:
            if isinstance(error, KeyError):
                problems.append((note.name, REQUIRED))
            elif isinstance(error, _WrongType):
                problems.append((note.name, f"must be {error.expected}, got {json_kind(error.got)}"))
            else:  # pragma: no cover - the hooks above raise only _WrongType
                problems.append((note.name, f"is not valid ({type(error).__name__})"))
        for error in without_notes:
            if isinstance(error, ForbiddenExtraKeysError):
                unknown.extend(sorted(map(str, error.extra_fields)))
        raise BodyMismatch(problems, unknown) from None
