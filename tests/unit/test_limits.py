"""Input limits (`sparkq_domain.limits`) and the strict JSON reader of the adapters.

Truncation is checked as properties with hypothesis; the JSON rules, the script-path rule and
the size limits with examples at and just past each edge, through the `Queue` (as every
frontend calls it) where what matters is what gets stored.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparkq_adapters.config import ServerConfig
from sparkq_adapters.scripts import build_index
from sparkq_adapters.serialization import loads, parse_json
from sparkq_domain import InvalidInput, Queue, TaskStatus, TooLarge
from sparkq_domain.limits import (
    MAX_ERROR_BYTES,
    MAX_JSON_DEPTH,
    MAX_JSON_INTEGER,
    MAX_OUTPUT_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_RESULT_BYTES,
    check_json,
    check_payload,
    encoded_size,
    fit_text,
    script_problem,
    truncate_text,
)

MARKER = re.compile(
    r"\n\[… SparkQ truncated this output: ([\d,]+) bytes in all; the middle ([\d,]+) bytes are left out …\]\n"
)

#: any Unicode text Python can encode as UTF-8 (no lone surrogates), weighted towards multi-byte characters
texts = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["é", "€", "𝄞", "👩", "\u200d", "\u200b", "ש", "\x00", "\n"]),
    ),
    max_size=3000,
)


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def nested(depth: int) -> dict[str, Any]:
    """`depth` objects inside each other, built without recursion."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


# -- truncation --------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(text=texts, limit=st.integers(min_value=200, max_value=4000))
def test_truncated_text_fits_keeps_head_and_tail_and_records_the_size(text: str, limit: int) -> None:
    out = truncate_text(text, limit)
    assert utf8_len(out) <= limit
    if utf8_len(text) <= limit:
        assert out == text
        return
    (match,) = list(MARKER.finditer(out))
    total, omitted = (int(g.replace(",", "")) for g in match.groups())
    head, tail = out[: match.start()], out[match.end() :]
    assert total == utf8_len(text)
    # head and tail are a prefix and a suffix of the text in characters: no character was split
    assert text.startswith(head) and text.endswith(tail)
    assert utf8_len(head) + omitted + utf8_len(tail) == total
    # the tail gets the larger share: the end of an output is where failures are
    assert utf8_len(tail) >= utf8_len(head)


@settings(max_examples=200, deadline=None)
@given(text=texts, limit=st.integers(min_value=200, max_value=4000))
def test_truncating_twice_changes_nothing_more(text: str, limit: int) -> None:
    once = truncate_text(text, limit)
    assert truncate_text(once, limit) == once


def test_output_exactly_at_the_limit_is_kept_whole_and_one_byte_more_is_cut() -> None:
    at = "a" * (MAX_OUTPUT_BYTES - 3) + "end"
    assert truncate_text(at, MAX_OUTPUT_BYTES) == at
    over = "b" + at
    out = truncate_text(over, MAX_OUTPUT_BYTES)
    assert utf8_len(out) <= MAX_OUTPUT_BYTES and out.startswith("b") and out.endswith("end")
    assert f"{MAX_OUTPUT_BYTES + 1:,} bytes in all" in out


def test_a_cut_never_splits_a_multibyte_character() -> None:
    text = "𝄞" * 10_000  # 4 bytes each
    out = truncate_text(text, 1001)
    head, tail = MARKER.split(out)[0], MARKER.split(out)[-1]
    assert set(head) <= {"𝄞"} and set(tail) <= {"𝄞"}
    assert utf8_len(out) <= 1001


def test_fit_text_passes_none_refuses_non_text_and_lone_surrogates() -> None:
    assert fit_text(None, 1000, "stdout") is None
    with pytest.raises(InvalidInput, match="stdout must be text"):
        fit_text(b"bytes", 1000, "stdout")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"stdout holds text that is not valid Unicode .*\\udcff at character 2"):
        fit_text("ab\udcffcd", 1000, "stdout")


# -- JSON rules --------------------------------------------------------------------------------------


def test_depth_64_is_accepted_and_65_refused() -> None:
    check_json(nested(MAX_JSON_DEPTH), "payload")
    check_json({"list": [[[]]]}, "payload")
    with pytest.raises(InvalidInput, match="nested more than 64 levels"):
        check_json(nested(MAX_JSON_DEPTH + 1), "payload")


def test_absurd_depth_is_refused_without_recursion() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidInput, match="nested more than 64 levels"):
        check_json({"a": deep}, "payload")


@pytest.mark.parametrize("value", [MAX_JSON_INTEGER, -MAX_JSON_INTEGER, 0, True, 1.5e308, -0.0, 1e-300])
def test_numbers_every_json_reader_holds_are_accepted(value: Any) -> None:
    check_json({"n": value}, "payload")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (MAX_JSON_INTEGER + 1, r"integer 9007199254740992 at payload\.n, beyond ±9,007,199,254,740,991"),
        (-(2**63), "integer -9223372036854775808 at payload.n"),
        (10**5000, "integer of about 5,001 digits at payload.n"),
        (math.nan, "nan at payload.n, which is not a JSON number"),
        (math.inf, "inf at payload.n"),
        (-math.inf, "-inf at payload.n"),
        ("\ud800", r"lone surrogate \\ud800 at payload\.n"),
        ({1: "x"}, "key 1 at payload.n; JSON object keys are strings"),
        ({"\udc80": 1}, r"lone surrogate \\udc80 at payload\.n\[\"\\udc80\"\] \(a key\)"),
        ({"x"}, "holds a set at payload.n, which JSON cannot carry"),
        (("a", "b"), "holds a tuple at payload.n"),
        (b"raw", "holds a bytes at payload.n"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, int) else repr(v)[:30],
)
def test_values_that_are_not_interoperable_json_are_refused_with_their_place(value: Any, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        check_json({"n": value}, "payload")


def test_control_characters_and_nul_are_ordinary_text() -> None:
    check_json({"text": "a\x00b\x1b[31mred\x7f", "rtl": "\u202eevil", "zw": "a\u200bb"}, "payload")


def test_payload_size_is_measured_as_stored_and_refused_just_past_the_limit() -> None:
    at = {"d": "é" * ((MAX_PAYLOAD_BYTES - len('{"d":""}')) // 2)}
    assert encoded_size(at) == MAX_PAYLOAD_BYTES
    assert check_payload(at) is at
    over = {"d": at["d"] + "x"}
    with pytest.raises(TooLarge, match=r"The payload is 262,145 bytes of JSON, larger than the 256 KiB"):
        check_payload(over)


# -- script paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["scripts/test.sh", "./scripts/test.sh", "test.sh", "a/b..c/d.py", "scripts/.hidden/x", "dir/..foo"]
)
def test_relative_script_paths_are_accepted(path: str) -> None:
    assert script_problem(path) is None


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/etc/passwd", "absolute"),
        ("//server/share/x.sh", "absolute"),
        ("../outside.sh", "'..'"),
        ("scripts/../../outside.sh", "'..'"),
        ("scripts/..", "'..'"),
        ("~/bin/x.sh", "'~'"),
        ("~root/x.sh", "'~'"),
        ("..\\..\\windows\\x.bat", "backslash"),
        ("scripts\\x.sh", "backslash"),
        ("C:/tools/x.bat", "drive"),
        ("c:x.bat", "drive"),
        ("scripts/x.sh\x00.txt", "control character"),
        ("scripts/x.sh\nrm -rf /", "control character"),
        ("-c", "'-'"),
        ("", "empty"),
        ("   ", "empty"),
        (None, "not a string"),
        (["scripts/x.sh"], "not a string"),
    ],
)
def test_script_paths_that_could_leave_the_project_are_refused(path: object, problem: str) -> None:
    found = script_problem(path)
    assert found is not None and problem in found


def test_only_the_script_key_is_a_path() -> None:
    check_payload({"note": "/etc/passwd", "args": ["../x"], "nested": {"script": "/abs"}})
    with pytest.raises(InvalidInput, match='The payload\'s "script" is an absolute path: give a path relative'):
        check_payload({"script": "/etc/passwd"})


def test_script_index_names_cannot_lead_anywhere(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "x.sh").write_text("#!/bin/sh\n# name: ../../etc/passwd\n")
    index = build_index(["scripts"], tmp_path)
    (entry,) = index.scripts
    assert entry.name == "../../etc/passwd" and entry.path == "scripts/x.sh"  # the name is a label, never a path


# -- through the Queue: the same for the library, the CLI and the API --------------------------------


def test_refused_payload_writes_nothing(queue: Queue) -> None:
    for bad in ({"d": "x" * MAX_PAYLOAD_BYTES}, {"script": "../x"}, {"n": math.nan}, nested(65)):
        with pytest.raises(InvalidInput):
            queue.enqueue("st", "run-bash", bad)
    assert queue.list_tasks().total == 0


def test_refused_result_leaves_the_task_running(queue: Queue) -> None:
    task = queue.enqueue("st", "run-bash", {})
    queue.claim("st")
    with pytest.raises(TooLarge, match="The result is"):
        queue.complete(task.id, {"summary": "s", "d": "x" * MAX_RESULT_BYTES})
    assert queue.get_task(task.id).status is TaskStatus.RUNNING


def test_output_and_error_past_their_limits_are_stored_truncated(queue: Queue) -> None:
    done, failed = queue.enqueue("st", "run-bash", {}), queue.enqueue("st", "run-bash", {})
    queue.claim("st")
    queue.claim("st")
    big = "first line\n" + "x" * (3 * MAX_OUTPUT_BYTES) + "\nTraceback: the failure"
    queue.complete(done.id, {"summary": "ok"}, stdout=big, stderr="small")
    queue.fail(failed.id, "E" + "e" * MAX_ERROR_BYTES + "!", stdout=big)
    stored, fail = queue.get_task(done.id), queue.get_task(failed.id)
    assert stored.stdout is not None and fail.error is not None and fail.stdout is not None
    assert utf8_len(stored.stdout) <= MAX_OUTPUT_BYTES and stored.stdout.startswith("first line")
    assert stored.stdout.endswith("Traceback: the failure") and f"{utf8_len(big):,} bytes in all" in stored.stdout
    assert stored.stderr == "small"
    assert utf8_len(fail.error) <= MAX_ERROR_BYTES and fail.error.startswith("E") and fail.error.endswith("!")
    assert fail.stdout == stored.stdout


def test_fail_without_a_message_is_still_refused(queue: Queue) -> None:
    task = queue.enqueue("st", "run-bash", {})
    queue.claim("st")
    with pytest.raises(InvalidInput, match="An error message is required"):
        queue.fail(task.id, None)  # type: ignore[arg-type]


# -- the strict JSON reader (CLI arguments and API bodies) ------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"a": NaN}', "not valid JSON: NaN is not a JSON number"),
        ('{"a": Infinity}', "Infinity is not a JSON number"),
        ('{"a": -Infinity}', "-Infinity is not a JSON number"),
        ('{"a": 1e400}', "the number 1e400, too large for a JSON number"),
        ('{"a": -1e400}', "the number -1e400"),
        ('{"a": 9007199254740992}', "the integer 9007199254740992, beyond"),
        ('{"a": ' + "9" * 5000 + "}", r"integer 999999999999…\(5000 digits\)"),
        ('{"a": 1, "a": 2}', 'has the key "a" twice in one object'),
        ('{"x": {"b": 1, "b": 1}}', 'has the key "b" twice'),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply to read"),
        ('{"a": 1', "not valid JSON .*line 1, column 8"),
        ("\ufeff{}", "not valid JSON"),
    ],
)
def test_the_strict_reader_refuses_what_is_not_portable_json(text: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        parse_json(text, "payload")


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": "\xff"}',
        b'{"a": "\xed\xa0\x80"}',  # a surrogate encoded in UTF-8: Python's json.loads(bytes) would take it
        '{"a": 1}'.encode("utf-16"),  # json.loads(bytes) would detect and take UTF-16
    ],
)
def test_the_strict_reader_takes_only_utf8_bytes(body: bytes) -> None:
    with pytest.raises(UnicodeDecodeError):
        loads(body)
    with pytest.raises(InvalidInput, match="not valid UTF-8"):
        parse_json(body, "request body")


def test_the_strict_reader_keeps_ordinary_json_exactly() -> None:
    text = '{"n": -9007199254740991, "f": 2.5, "t": "é\\u0000\\ud83d\\ude80", "l": [true, null, {}]}'
    assert loads(text) == {"n": -MAX_JSON_INTEGER, "f": 2.5, "t": "é\x00🚀", "l": [True, None, {}]}


# -- the HTTP body cap leaves room for every legal request ------------------------------------------


def test_default_body_cap_holds_the_largest_request_stored_whole_even_escaped_threefold() -> None:
    # complete: result + stdout + stderr; fail: error + stdout + stderr. A client escaping non-ASCII
    # as \\uXXXX (Python's json.dumps default) sends up to 3 bytes per stored byte (emoji: 4 -> 12).
    largest = 2 * MAX_OUTPUT_BYTES + max(MAX_RESULT_BYTES, MAX_ERROR_BYTES, MAX_PAYLOAD_BYTES)
    assert ServerConfig().max_body_bytes >= 3 * largest + 64 * 1024
