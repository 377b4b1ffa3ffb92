"""Input limits: how large and how strange task content may be, and what happens beyond.

Payload and result are structured data a worker acts on: past their limit they are refused,
because cutting JSON would corrupt it. stdout, stderr and the error message are text a person
reads: past their limit they keep their head and their tail (the end of an agent's output is
usually where the failure is), with a marker line in the middle that records the original size.

Every value must also be JSON that any reader gets back unchanged (RFC 7493, I-JSON): no NaN or
infinities, no integer beyond ±(2**53 - 1), no lone surrogates, only string keys, at most
`MAX_JSON_DEPTH` levels of nesting. The `Queue` applies these rules, so the library, the CLI
and the HTTP API accept and refuse exactly the same things.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .errors import InvalidInput, TooLarge

KIB = 1024
MIB = 1024 * KIB

#: payload and result, measured as SparkQ stores them: compact JSON, UTF-8 (refused beyond)
MAX_PAYLOAD_BYTES = 256 * KIB
MAX_RESULT_BYTES = 256 * KIB
#: stdout and stderr, each, in UTF-8 bytes (truncated beyond)
MAX_OUTPUT_BYTES = 1 * MIB
#: the error message of a failed task, in UTF-8 bytes (truncated beyond)
MAX_ERROR_BYTES = 64 * KIB
#: a running task's progress note, in UTF-8 bytes (refused beyond: a note is a line or two, the latest kept)
MAX_PROGRESS_BYTES = 1 * KIB
#: objects and arrays nested deeper than this are refused (never a real payload; deep data can exhaust a stack)
MAX_JSON_DEPTH = 64
#: the largest integer every JSON reader holds exactly (a JavaScript number, jq, Go's float64)
MAX_JSON_INTEGER = 2**53 - 1

#: the payload key that names a script for a worker to run (SPEC §6: `{"script": "scripts/test.sh"}`)
SCRIPT_KEY = "script"

TRUNCATION_MARKER = (
    "\n[… SparkQ truncated this output: {total:,} bytes in all; the middle {omitted:,} bytes are left out …]\n"
)
#: the share of the room kept from the head of a truncated text; the rest comes from its tail
_HEAD_SHARE = 4  # one quarter

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"[A-Za-z]:")


# -- payload and result: refused beyond their limit ----------------------------------------------


def check_payload(payload: object) -> dict[str, Any]:
    """Return `payload` if it is a JSON object within the limits whose `script` is a safe path."""
    if not isinstance(payload, dict):
        raise InvalidInput('The payload must be a JSON object, e.g. {"script": "scripts/build.sh"}')
    check_json(payload, "payload")
    _check_size(payload, "payload", MAX_PAYLOAD_BYTES)
    check_script(payload)
    return payload


def check_result(result: object) -> object:
    """Return `result` if it is JSON within the limits (the summary rule is the state machine's)."""
    check_json(result, "result")
    _check_size(result, "result", MAX_RESULT_BYTES)
    return result


def encoded_size(value: object) -> int:
    """Bytes of `value` as SparkQ stores it: compact JSON, UTF-8, non-ASCII unescaped."""
    return len(_ENCODER.encode(value).encode("utf-8"))


def _check_size(value: object, what: str, limit: int) -> None:
    size = encoded_size(value)
    if size > limit:
        raise TooLarge(
            f"The {what} is {size:,} bytes of JSON, larger than the {human_size(limit)} ({limit:,} bytes) "
            f"SparkQ accepts; put large data in a file and pass its path in the {what}"
        )


def check_json(value: object, what: str) -> None:
    """Raise InvalidInput unless `value` is JSON that every reader gets back unchanged.

    Walks without recursion, so a hostile depth costs no stack; names where the problem is
    (e.g. `payload.items[3].size`).
    """
    # (value, depth of enclosing containers, parent entry, key or index) - the path is built only on error
    stack: list[tuple[Any, int, Any, Any]] = [(value, 0, None, None)]
    while stack:
        entry = stack.pop()
        item, depth = entry[0], entry[1]
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, str):
            if not item.isascii() and (bad := _lone_surrogate(item)) is not None:
                raise _not_unicode(what, item[bad], _path(entry, what))
        elif isinstance(item, int):
            if not -MAX_JSON_INTEGER <= item <= MAX_JSON_INTEGER:
                raise InvalidInput(
                    f"The {what} holds the integer {_shown_int(item)} at {_path(entry, what)}, " + INTEGER_RULE
                )
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidInput(
                    f"The {what} holds {item!r} at {_path(entry, what)}, which is not a JSON number; "
                    "use null or a string"
                )
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise InvalidInput(f"The {what} is nested more than {MAX_JSON_DEPTH} levels deep; flatten it")
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise InvalidInput(
                            f"The {what} has the key {key!r} at {_path(entry, what)}; JSON object keys are strings"
                        )
                    if not key.isascii() and (bad := _lone_surrogate(key)) is not None:
                        raise _not_unicode(what, key[bad], _path((None, 0, entry, key), what) + " (a key)")
                    stack.append((child, depth + 1, entry, key))
            else:
                stack.extend((child, depth + 1, entry, index) for index, child in enumerate(item))
        else:
            raise InvalidInput(
                f"The {what} holds a {type(item).__name__} at {_path(entry, what)}, which JSON cannot carry; "
                "use objects, arrays, strings, numbers, true, false and null"
            )


#: why a big integer is refused (the JSON parser of the adapters says the same)
INTEGER_RULE = (
    f"beyond ±{MAX_JSON_INTEGER:,} (2^53 - 1), which JSON readers such as JavaScript cannot hold exactly; "
    "send it as a string"
)


def shown_integer(digits: str) -> str:
    """An integer's digits, shortened when long: `123456789012…(5000 digits)`."""
    return digits if len(digits) <= 24 else f"{digits[:12]}…({len(digits.lstrip('-'))} digits)"


#: the most characters of a user's value that an error message quotes
MAX_QUOTED_CHARS = 200


def quoted(value: object) -> str:
    """`repr(value)` for an error message; a long text is cut to its first `MAX_QUOTED_CHARS` characters.

    Error messages name what was wrong, and the caller sent it: a 1 MB name echoed back whole
    helps nobody and costs both sides. Values that are not text are shown by their type unless small.
    """
    if isinstance(value, str):
        if len(value) <= MAX_QUOTED_CHARS:
            return repr(value)
        return f"{value[:MAX_QUOTED_CHARS] + '…'!r} ({len(value):,} characters)"
    if value is None or isinstance(value, bool | float) or (isinstance(value, int) and value.bit_length() <= 80):
        return repr(value)
    return f"a {type(value).__name__}"


def _shown_int(value: int) -> str:
    if value.bit_length() <= 80:
        return shown_integer(str(value))
    # str() of a huge integer is slow, and refused past 4300 digits
    return f"of about {int(value.bit_length() * math.log10(2)) + 1:,} digits"


def _path(entry: tuple[Any, int, Any, Any], what: str) -> str:
    parts: list[str] = []
    while entry is not None and entry[2] is not None:
        key = entry[3]
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif isinstance(key, str) and key.isidentifier():
            parts.append(f".{key}")
        else:
            parts.append(f"[{json.dumps(key)}]")
        entry = entry[2]
    return what + "".join(reversed(parts))


def _lone_surrogate(text: str) -> int | None:
    """The index of the first lone surrogate in `text` (which no UTF-8 can carry), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _not_unicode(what: str, char: str, place: str) -> InvalidInput:
    return InvalidInput(
        f"The {what} holds text that is not valid Unicode (a lone surrogate \\u{ord(char):04x} at {place}); "
        "send UTF-8 text"
    )


# -- scripts: a worker runs what the payload names --------------------------------------------------


def script_problem(value: object) -> str | None:
    """What is wrong with `value` as a script path to run (None when it is a safe relative path)."""
    if not isinstance(value, str):
        return "is not a string"
    if not value.strip():
        return "is empty"
    if _CONTROL.search(value):
        return "contains a control character (such as NUL or a line break)"
    if "\\" in value:
        return "contains a backslash"
    if value.startswith("/"):
        return "is an absolute path"
    if value.startswith("~"):
        return "starts with '~' (a home folder)"
    if _DRIVE.match(value):
        return "names a drive"
    if value.startswith("-"):
        return "starts with '-' (it would read as an option)"
    if ".." in value.split("/"):
        return "goes up a folder with '..'"
    return None


def check_script(payload: dict[str, Any]) -> None:
    """Refuse a payload whose `script` could lead a worker outside the project folder."""
    if SCRIPT_KEY not in payload:
        return
    problem = script_problem(payload[SCRIPT_KEY])
    if problem is not None:
        raise InvalidInput(
            f'The payload\'s "{SCRIPT_KEY}" {problem}: give a path relative to the project folder, '
            'without ".." and not starting with "/", "~" or "-", e.g. "scripts/test.sh"'
        )


# -- output text: truncated beyond its limit ---------------------------------------------------------


def fit_text(text: str | None, limit: int, what: str) -> str | None:
    """`text` cut to `limit` UTF-8 bytes by `truncate_text`; text that is not Unicode is refused."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidInput(f"The {what} must be text, not {type(text).__name__}")
    if not text.isascii() and (bad := _lone_surrogate(text)) is not None:
        raise _not_unicode(what, text[bad], f"character {bad}")
    return truncate_text(text, limit)


def fit_output(text: str | None, what: str) -> str | None:
    """stdout or stderr within `MAX_OUTPUT_BYTES`."""
    return fit_text(text, MAX_OUTPUT_BYTES, what)


def fit_error(text: str | None) -> str | None:
    """An error message within `MAX_ERROR_BYTES`."""
    return fit_text(text, MAX_ERROR_BYTES, "error message")


def truncate_text(text: str, limit: int) -> str:
    """Return `text` if it fits in `limit` UTF-8 bytes; else its head and tail around a marker.

    The result, marker included, is at most `limit` bytes; it keeps a quarter of the room from
    the head and the rest from the tail, cut between characters (never inside one). The marker
    gives the original size and how much was left out. Text that fits is returned unchanged, so
    truncating twice changes nothing more.
    """
    data = text.encode("utf-8")
    total = len(data)
    if total <= limit:
        return text
    # the marker with the largest numbers it can carry: the real one is never longer
    room = limit - len(TRUNCATION_MARKER.format(total=total, omitted=total).encode("utf-8"))
    if room < 0:
        raise ValueError(f"limit {limit} leaves no room for the truncation marker")
    head_end = _char_start_at_or_before(data, room // _HEAD_SHARE)
    tail_start = _char_start_at_or_after(data, total - (room - head_end))
    marker = TRUNCATION_MARKER.format(total=total, omitted=tail_start - head_end)
    return data[:head_end].decode("utf-8") + marker + data[tail_start:].decode("utf-8")


def _char_start_at_or_before(data: bytes, index: int) -> int:
    while 0 < index < len(data) and data[index] & 0xC0 == 0x80:  # a UTF-8 continuation byte
        index -= 1
    return index


def _char_start_at_or_after(data: bytes, index: int) -> int:
    while index < len(data) and data[index] & 0xC0 == 0x80:
        index += 1
    return index


def human_size(size: int) -> str:
    """`262144` -> `256 KiB` (for messages that name a limit)."""
    if size % MIB == 0:
        return f"{size // MIB} MiB"
    if size % KIB == 0:
        return f"{size // KIB} KiB"
    return f"{size:,} bytes"
