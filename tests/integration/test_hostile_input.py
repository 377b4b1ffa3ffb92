"""Hostile and huge input (issue 7, item 6) against the CLI and a real server.

The CLI tests run in this process (the `in_process` mark), except the one of argument bytes, which the real
console script receives.

Limits (docs/decisions.md, "Input limits"): payload and result at most 256 KiB of JSON each,
refused beyond (HTTP 413 `too_large`, CLI exit 1); stdout and stderr at most 1 MiB each and
the error message 64 KiB, stored truncated beyond (head and tail around a marker that records
the original size). JSON must be portable: no NaN/Infinity, integers within ±(2^53 - 1), no
repeated keys, no lone surrogates, at most 64 levels deep. A payload's `script` must be a
relative path that stays in the project. Every refusal is one clear message and writes nothing.
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import sqlite3
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from sparkq_domain import MAX_ERROR_BYTES, MAX_OUTPUT_BYTES, MAX_PAYLOAD_BYTES, MAX_RESULT_BYTES, Queue
from tests.integration.conftest import Server, free_port

from .cli_support import library_queue, make_stream, ok, refused

if TYPE_CHECKING:
    from tests.conftest import RunSparkq

MIB = 1024 * 1024
MARKER = re.compile(
    r"\[… SparkQ truncated this output: ([\d,]+) bytes in all; the middle ([\d,]+) bytes are left out …\]"
)
SUMMARY = '{"summary": "done"}'
_names = count(1)


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def json_of_size(size: int, key: str = "d", extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object whose compact UTF-8 JSON (as SparkQ stores it) is exactly `size` bytes."""
    base = {**(extra or {}), key: ""}
    filler = size - len(json.dumps(base, ensure_ascii=False, separators=(",", ":")).encode())
    return {**base, key: "x" * filler}


def nested_text(depth: int) -> str:
    """`depth` arrays inside each other, as JSON text."""
    return "[" * depth + "]" * depth


def assert_truncated(stored: str | None, original: str, limit: int) -> None:
    assert stored is not None
    match = MARKER.search(stored)
    assert match is not None, stored[:200]
    assert int(match.group(1).replace(",", "")) == utf8_len(original)
    assert utf8_len(stored) <= limit
    assert original.startswith(stored[: match.start() - 1]) and original.endswith(stored[match.end() + 1 :])


# -- the command line ----------------------------------------------------------------------------------


@pytest.fixture
def lane(workdir: Path) -> Queue:
    """A stream `auth` in the CLI's database, and the library on that database."""
    return make_stream(workdir)


def running_task(queue: Queue) -> str:
    task = queue.enqueue("auth", "run-bash", {})
    queue.claim_task(task.id)
    return task.id


@pytest.mark.in_process
def test_cli_payload_at_the_limit_is_stored_whole_and_one_byte_more_is_refused(
    sparkq: RunSparkq, workdir: Path, lane: Queue
) -> None:
    at = json_of_size(MAX_PAYLOAD_BYTES)
    (workdir / "at.json").write_text(json.dumps(at))
    task_id = ok(sparkq("enqueue", "run-bash", "@at.json", "--stream", "auth")).strip()
    assert lane.get_task(task_id).payload == at

    (workdir / "over.json").write_text(json.dumps(json_of_size(MAX_PAYLOAD_BYTES + 1)))
    message = refused(sparkq("enqueue", "run-bash", "@over.json", "--stream", "auth"))
    assert "The payload is 262,145 bytes of JSON, larger than the 256 KiB" in message
    assert "put large data in a file and pass its path" in message
    assert lane.list_tasks().total == 1


@pytest.mark.in_process
def test_cli_result_at_the_limit_is_stored_whole_and_one_byte_more_is_refused(
    sparkq: RunSparkq, workdir: Path, lane: Queue
) -> None:
    over_id, at_id = running_task(lane), running_task(lane)
    (workdir / "over.json").write_text(json.dumps(json_of_size(MAX_RESULT_BYTES + 1, extra={"summary": "s"})))
    message = refused(sparkq("complete", over_id, "--result", "@over.json"))
    assert "The result is 262,145 bytes of JSON, larger than the 256 KiB" in message
    assert lane.get_task(over_id).status == "running" and lane.get_task(over_id).result is None

    at = json_of_size(MAX_RESULT_BYTES, extra={"summary": "s"})
    ok(sparkq("complete", at_id, "--result", "-", input=json.dumps(at)))
    assert lane.get_task(at_id).result == at


@pytest.mark.in_process
def test_cli_output_at_the_limit_is_kept_whole_and_past_it_truncated_with_its_size(
    sparkq: RunSparkq, workdir: Path, lane: Queue
) -> None:
    whole, cut = running_task(lane), running_task(lane)
    exact = "é" * (MAX_OUTPUT_BYTES // 2)  # 1 MiB of two-byte characters
    (workdir / "exact.log").write_text(exact)
    ok(sparkq("complete", whole, "--result", SUMMARY, "--stdout-file", "exact.log", "--stderr", exact[:10]))
    assert lane.get_task(whole).stdout == exact and lane.get_task(whole).stderr == exact[:10]

    big = "build started\n" + "🚀 progress\n" * 400_000 + "FAILED: test_login (the failure is at the end)\n"
    (workdir / "big.log").write_text(big)
    over = exact + "!"  # one byte past the limit, from standard input
    ok(sparkq("complete", cut, "--result", SUMMARY, "--stdout-file", "big.log", "--stderr", "-", input=over))
    stored = lane.get_task(cut)
    assert_truncated(stored.stdout, big, MAX_OUTPUT_BYTES)
    assert stored.stdout is not None and stored.stdout.endswith("FAILED: test_login (the failure is at the end)\n")
    assert_truncated(stored.stderr, over, MAX_OUTPUT_BYTES)
    shown = ok(sparkq("task", cut))
    assert f"{utf8_len(big):,} bytes in all" in shown


@pytest.mark.in_process
def test_cli_error_message_past_its_limit_is_truncated(sparkq: RunSparkq, workdir: Path, lane: Queue) -> None:
    task_id = running_task(lane)
    error = "AssertionError: " + "x" * MAX_ERROR_BYTES + " <- the end"
    (workdir / "error.txt").write_text(error)
    ok(sparkq("fail", task_id, "--error-file", "error.txt"))
    stored = lane.get_task(task_id)
    assert stored.status == "failed"
    assert_truncated(stored.error, error, MAX_ERROR_BYTES)


@pytest.mark.in_process
def test_cli_refuses_a_70_mib_stdout_file_by_its_input_cap(sparkq: RunSparkq, workdir: Path, lane: Queue) -> None:
    task_id = running_task(lane)
    huge = workdir / "huge.log"
    huge.touch()
    os.truncate(huge, 70 * MIB)  # sparse: costs no disk
    message = refused(sparkq("complete", task_id, "--result", SUMMARY, "--stdout-file", "huge.log"))
    assert "The stdout from huge.log is larger than 64 MiB" in message
    assert "tail -c" in message
    assert lane.get_task(task_id).status == "running"


@pytest.mark.in_process
def test_cli_stores_nul_and_control_characters_exactly(sparkq: RunSparkq, workdir: Path, lane: Queue) -> None:
    task_id = running_task(lane)
    text = "a\x00b\x1b[31mred\x1b[0m\r\n\x7f\u202eevil\u200b"
    (workdir / "out.log").write_text(text)
    ok(sparkq("complete", task_id, "--result", json.dumps({"summary": text}), "--stdout-file", "out.log"))
    stored = lane.get_task(task_id)
    assert stored.stdout == text and stored.result == {"summary": text}
    shown = ok(sparkq("task", task_id))
    assert "\x1b" not in shown and "\\x1b" in shown  # escaped on the terminal


HOSTILE_PAYLOADS = [
    ('{"a": NaN}', "NaN is not a JSON number"),
    ('{"a": Infinity}', "Infinity is not a JSON number"),
    ('{"a": -Infinity}', "-Infinity is not a JSON number"),
    ('{"a": 1e400}', "the number 1e400, too large for a JSON number"),
    ('{"a": 9007199254740992}', "the integer 9007199254740992, beyond ±9,007,199,254,740,991"),
    ('{"a": -9223372036854775809}', "the integer -9223372036854775809, beyond"),
    ('{"a": ' + "7" * 5000 + "}", "(5000 digits), beyond"),
    ('{"a": 1, "a": 2}', 'has the key "a" twice in one object'),
    ('{"a": "\\ud800"}', "lone surrogate \\ud800 at payload.a"),
    ('{"a": "\\udfff x"}', "lone surrogate \\udfff"),
    ('{"a": ' + nested_text(64) + "}", "nested more than 64 levels deep"),  # 65 with the payload itself
    ('{"script": "/etc/passwd"}', 'The payload\'s "script" is an absolute path'),
    ('{"script": "../../outside.sh"}', "goes up a folder with '..'"),
    ('{"script": "scripts/../../outside.sh"}', "goes up a folder with '..'"),
    ('{"script": "~/.ssh/run.sh"}', "starts with '~'"),
    ('{"script": "..\\\\..\\\\win.bat"}', "contains a backslash"),
    ('{"script": "scripts/x.sh\\u0000.txt"}', "contains a control character"),
    ('{"script": "-rf"}', "starts with '-'"),
    ('{"script": 42}', "is not a string"),
    ("[1, 2]", "The payload must be a JSON object"),
    ('"scripts/test.sh"', "The payload must be a JSON object"),
]


@pytest.mark.in_process
@pytest.mark.parametrize(("text", "problem"), HOSTILE_PAYLOADS, ids=[t[:40] for t, _ in HOSTILE_PAYLOADS])
def test_cli_refuses_hostile_payloads_clearly_and_writes_nothing(
    sparkq: RunSparkq, workdir: Path, lane: Queue, text: str, problem: str
) -> None:
    (workdir / "payload.json").write_text(text)
    assert problem in refused(sparkq("enqueue", "run-bash", "@payload.json", "--stream", "auth"))
    assert lane.list_tasks().total == 0


@pytest.mark.in_process
def test_cli_accepts_depth_64_and_refuses_100000_without_a_recursion_error(
    sparkq: RunSparkq, workdir: Path, lane: Queue
) -> None:
    (workdir / "deep64.json").write_text('{"a": ' + nested_text(63) + "}")
    task_id = ok(sparkq("enqueue", "run-bash", "@deep64.json", "--stream", "auth")).strip()
    assert lane.get_task(task_id).payload == {"a": json.loads(nested_text(63))}
    (workdir / "deep.json").write_text('{"a": ' + nested_text(100_000) + "}")
    result = sparkq("enqueue", "run-bash", "-", "--stream", "auth", input=(workdir / "deep.json").read_text())
    assert "The payload is nested too deeply to read" in refused(result)
    assert "RecursionError" not in result.stderr
    assert lane.list_tasks().total == 1


@pytest.mark.in_process
def test_cli_accepts_the_largest_portable_integers_and_a_relative_script(sparkq: RunSparkq, lane: Queue) -> None:
    payload = {"script": "scripts/test.sh", "max": 2**53 - 1, "min": -(2**53 - 1), "big": 1.5e308}
    task_id = ok(sparkq("enqueue", "run-bash", json.dumps(payload), "--stream", "auth")).strip()
    assert lane.get_task(task_id).payload == payload


@pytest.mark.in_process
def test_cli_refuses_invalid_utf8_in_a_file_argument(sparkq: RunSparkq, workdir: Path, lane: Queue) -> None:
    (workdir / "payload.json").write_bytes(b'{"note": "caf\xe9"}')  # Latin-1, not UTF-8
    message = refused(sparkq("enqueue", "run-bash", "@payload.json", "--stream", "auth"))
    assert "The payload from payload.json is not UTF-8 text (bad byte at offset 13)" in message
    task_id = running_task(lane)
    (workdir / "err.log").write_bytes(b"\xed\xa0\x80 a surrogate encoded in UTF-8")
    message = refused(sparkq("complete", task_id, "--result", SUMMARY, "--stderr-file", "err.log"))
    assert "The stderr from err.log is not UTF-8 text" in message
    assert lane.get_task(task_id).status == "running" and lane.list_tasks().total == 1


@pytest.mark.parametrize(
    ("raw", "flag", "what", "bad"),
    [
        (b'{"note": "\xff"}', None, "payload", "the byte 0xff at character 10"),
        (b"build \xc3\x28 log", "--stdout", "stdout", "the byte 0xc3 at character 6"),
        (b"\xed\xa0\x80", "--error", "error message", "the byte 0xed at character 0"),
    ],
)
def test_cli_refuses_invalid_utf8_in_argv(
    sparkq: RunSparkq, lane: Queue, raw: bytes, flag: str | None, what: str, bad: str
) -> None:
    value = os.fsdecode(raw)  # the argument reaches the process as these exact bytes
    if flag is None:
        result = sparkq("enqueue", "run-bash", value, "--stream", "auth")
        assert lane.list_tasks().total == 0
    else:
        task_id = running_task(lane)
        args = ("complete", task_id, "--result", SUMMARY) if flag == "--stdout" else ("fail", task_id)
        result = sparkq(*args, flag, value)
        assert lane.get_task(task_id).status == "running"
    message = refused(result)
    assert f"The {what} given on the command line is not UTF-8 text ({bad})" in message
    assert "put the text in a UTF-8 file" in message


# -- the HTTP API ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("hostile")
    server = Server(folder, free_port())
    try:
        yield server
    finally:
        server.stop()
    with sqlite3.connect(folder / "sparkq.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.fixture
def api(srv: Server) -> Iterator[httpx.Client]:
    with srv.client() as client:
        client.timeout = httpx.Timeout(60)
        yield client


@pytest.fixture
def stream(api: httpx.Client) -> str:
    """A fresh stream on the module's server; its name."""
    name = f"lane-{next(_names)}"
    api.post("/api/sessions", json={"name": name}).raise_for_status()
    api.post("/api/streams", json={"name": name, "session_id": name}).raise_for_status()
    return name


def task_count(api: httpx.Client, stream: str) -> int:
    return int(api.get("/api/tasks", params={"stream_id": stream}).json()["total"])


def claimed(api: httpx.Client, stream: str) -> str:
    created = api.post("/api/tasks", json={"stream_id": stream, "tool_name": "run-bash", "payload": {}})
    task_id: str = created.json()["task"]["id"]
    api.post(f"/api/tasks/{task_id}/claim").raise_for_status()
    return task_id


def refused_http(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (status, code)
    assert "Traceback" not in response.text
    return str(error["message"])


def body(payload: bytes, stream: str = "STREAM") -> bytes:
    return b'{"stream_id": "' + stream.encode() + b'", "tool_name": "run-bash", "payload": ' + payload + b"}"


HOSTILE_BODIES = [
    (body(b'{"a": NaN}'), 400, "bad_request", "NaN is not a JSON number"),
    (body(b'{"a": Infinity}'), 400, "bad_request", "Infinity is not a JSON number"),
    (body(b'{"a": -Infinity}'), 400, "bad_request", "-Infinity is not a JSON number"),
    (body(b'{"a": 1e400}'), 400, "bad_request", "the number 1e400, too large"),
    (body(b'{"a": 9007199254740992}'), 400, "bad_request", "the integer 9007199254740992, beyond"),
    (body(b'{"a": ' + b"9" * 5000 + b"}"), 400, "bad_request", "(5000 digits), beyond"),
    (body(b'{"a": 1, "a": 2}'), 400, "bad_request", 'has the key "a" twice'),
    (b'{"stream_id": "x", "stream_id": "y"}', 400, "bad_request", 'has the key "stream_id" twice'),
    (body(b'{"a": "\\ud800"}'), 422, "invalid_input", "lone surrogate \\ud800 at payload.a"),
    (body(b'{"a": "\xed\xa0\x80"}'), 400, "bad_encoding", "not valid UTF-8"),
    (body(b'{"a": "caf\xe9"}'), 400, "bad_encoding", "not valid UTF-8"),
    ('{"a": 1}'.encode("utf-16"), 400, "bad_encoding", "not valid UTF-8"),
    (body(b'{"a": ' + nested_text(64).encode() + b"}"), 422, "invalid_input", "nested more than 64 levels"),
    (body(b"[" * 100_000 + b"]" * 100_000), 400, "too_deep", "nested too deeply"),
    (body(b"[" * 1_000_000 + b"]" * 1_000_000), 400, "too_deep", "nested too deeply"),  # parsed off the event loop
    (body(b'{"script": "/etc/passwd"}'), 422, "invalid_input", '"script" is an absolute path'),
    (body(b'{"script": "../x.sh"}'), 422, "invalid_input", "goes up a folder with '..'"),
    (body(b'{"script": "~/x.sh"}'), 422, "invalid_input", "starts with '~'"),
    (body(b'{"script": "a\\\\..\\\\..\\\\x"}'), 422, "invalid_input", "contains a backslash"),
    (body(b'{"script": "x.sh\\u0000"}'), 422, "invalid_input", "contains a control character"),
    (b"[1, 2]", 400, "bad_request", "must be a JSON object; got an array"),
    (b'"a string"', 400, "bad_request", "must be a JSON object; got a string: 'a string'"),
    (body(b"[1]"), 400, "bad_request", "payload must be a JSON object, got an array"),
    (b'{"stream_id": "x"', 400, "bad_request", "not valid JSON"),
]


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/sessions", b'{"name": "one", "name": "two"}'),
        ("/api/streams", b'{"name": "s1", "session": "x", "name": "s2"}'),
    ],
)
def test_every_endpoint_reads_bodies_strictly_not_only_tasks(api: httpx.Client, path: str, raw: bytes) -> None:
    before = api.get(path).json()
    assert 'has the key "name" twice' in refused_http(api.post(path, content=raw), 400, "bad_request")
    assert api.get(path).json() == before


@pytest.mark.parametrize(
    ("raw", "status", "code", "fragment"),
    HOSTILE_BODIES,
    ids=[f"{i}-{c}" for i, (_, _, c, _) in enumerate(HOSTILE_BODIES)],
)
def test_api_refuses_hostile_bodies_clearly_and_writes_nothing(
    api: httpx.Client, stream: str, raw: bytes, status: int, code: str, fragment: str
) -> None:
    response = api.post("/api/tasks", content=raw.replace(b"STREAM", stream.encode()))
    assert fragment in refused_http(response, status, code)
    assert task_count(api, stream) == 0


def test_api_accepts_depth_64_nul_and_the_largest_portable_integers(api: httpx.Client, stream: str) -> None:
    payload = {"a": json.loads(nested_text(63)), "nul": "x\x00y\x1b", "n": 2**53 - 1, "m": -(2**53 - 1)}
    created = api.post("/api/tasks", json={"stream_id": stream, "tool_name": "run-bash", "payload": payload})
    assert created.status_code == 201, created.text
    assert api.get(f"/api/tasks/{created.json()['task']['id']}").json()["task"]["payload"] == payload


def test_api_payload_at_the_limit_is_stored_whole_and_one_byte_more_is_413(api: httpx.Client, stream: str) -> None:
    over = api.post(
        "/api/tasks",
        json={"stream_id": stream, "tool_name": "run-bash", "payload": json_of_size(MAX_PAYLOAD_BYTES + 1)},
    )
    assert "larger than the 256 KiB" in refused_http(over, 413, "too_large")
    assert task_count(api, stream) == 0
    at = json_of_size(MAX_PAYLOAD_BYTES)
    created = api.post("/api/tasks", json={"stream_id": stream, "tool_name": "run-bash", "payload": at})
    assert created.status_code == 201
    assert api.get(f"/api/tasks/{created.json()['task']['id']}").json()["task"]["payload"] == at


def test_api_result_at_the_limit_is_stored_whole_and_one_byte_more_is_413(api: httpx.Client, stream: str) -> None:
    task_id = claimed(api, stream)
    over = json_of_size(MAX_RESULT_BYTES + 1, extra={"summary": "s"})
    response = api.post(f"/api/tasks/{task_id}/complete", json={"result": over})
    assert "The result is 262,145 bytes of JSON" in refused_http(response, 413, "too_large")
    assert api.get(f"/api/tasks/{task_id}").json()["task"]["status"] == "running"
    at = json_of_size(MAX_RESULT_BYTES, extra={"summary": "s"})
    done = api.post(f"/api/tasks/{task_id}/complete", json={"result": at})
    assert done.status_code == 200 and done.json()["task"]["result"] == at


def test_api_output_at_the_limit_is_kept_whole_and_past_it_truncated(api: httpx.Client, stream: str) -> None:
    whole, cut, failed = claimed(api, stream), claimed(api, stream), claimed(api, stream)
    exact = "€" * (MAX_OUTPUT_BYTES // 3) + "x"  # 3-byte characters, 1 MiB in all
    assert utf8_len(exact) == MAX_OUTPUT_BYTES
    done = api.post(f"/api/tasks/{whole}/complete", json={"result": {"summary": "s"}, "stdout": exact, "stderr": exact})
    assert done.status_code == 200
    assert (done.json()["task"]["stdout"], done.json()["task"]["stderr"]) == (exact, exact)

    big = "start\n" + "y" * (5 * MIB) + "\nthe end"
    over = exact + "!"
    done = api.post(f"/api/tasks/{cut}/complete", json={"result": {"summary": "s"}, "stdout": big, "stderr": over})
    assert done.status_code == 200
    stored = api.get(f"/api/tasks/{cut}").json()["task"]
    assert_truncated(stored["stdout"], big, MAX_OUTPUT_BYTES)
    assert_truncated(stored["stderr"], over, MAX_OUTPUT_BYTES)

    error = "E" * (2 * MAX_ERROR_BYTES)
    response = api.post(f"/api/tasks/{failed}/fail", json={"error_type": "TestFailure", "error_message": error})
    assert response.status_code == 200
    assert_truncated(response.json()["task"]["error"], error, MAX_ERROR_BYTES)
    assert response.json()["task"]["error_type"] == "TestFailure"  # stored apart, never cut into the message


def test_api_refuses_output_that_is_not_unicode(api: httpx.Client, stream: str) -> None:
    task_id = claimed(api, stream)
    response = api.post(
        f"/api/tasks/{task_id}/complete", content=b'{"result": {"summary": "s"}, "stdout": "ok \\udc80 then"}'
    )
    assert "The stdout holds text that is not valid Unicode" in refused_http(response, 422, "invalid_input")
    assert api.get(f"/api/tasks/{task_id}").json()["task"]["status"] == "running"


def test_api_body_cap_413_names_the_limits(srv: Server, api: httpx.Client) -> None:
    big = b'{"result": {"summary": "s"}, "stdout": "' + b"x" * (9 * MIB) + b'"}'
    declared = api.post("/api/tasks/tsk_000000000000/complete", content=big)
    streamed = api.post("/api/tasks/tsk_000000000000/complete", content=iter([big[:MIB]] * 9))
    for response in (declared, streamed):
        message = refused_http(response, 413, "too_large")
        assert "larger than 8388608 bytes (8 MiB, server.max_body_bytes)" in message
        assert "256 KiB of payload" in message and "1 MiB of stdout" in message and "--stdout-file" in message


# -- memory stays bounded ---------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def post_raw(port: int, path: str, size: int, *, chunked: bool) -> bytes:
    """POST `size` bytes of whitespace like a patient client: stop sending once the server answers."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    piece = b" " * 65536
    frame = b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece
    pending, sent = memoryview(head.encode()), 0
    try:
        while True:
            readable, writable, _ = select.select([sock], [sock], [], 30)
            if readable or not writable:
                break  # the answer is arriving (or nothing moves: read what there is)
            if not pending:
                if sent >= size:
                    if not chunked:
                        break
                    pending, chunked = memoryview(b"0\r\n\r\n"), False
                    continue
                pending, sent = memoryview(frame), sent + len(piece)
            pending = pending[sock.send(pending) :]
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        return answer
    except (BrokenPipeError, ConnectionResetError):
        return b""
    finally:
        sock.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_50_mib_body_is_refused_with_bounded_server_memory(srv: Server, api: httpx.Client, chunked: bool) -> None:
    api.post("/api/tasks/tsk_000000000000/complete", content=b"x" * (9 * MIB))  # warm up the refusal path
    before = rss_kib(srv.proc.pid)
    answer = post_raw(srv.port, "/api/tasks/tsk_000000000000/complete", 50 * MIB, chunked=chunked)
    after = rss_kib(srv.proc.pid)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"server.max_body_bytes" in answer
    assert after - before < 100 * 1024, f"server RSS grew by {(after - before) // 1024} MiB"
    assert api.get("/api/health").status_code == 200


# -- the UI still renders such a task ----------------------------------------------------------------------


def test_ui_renders_a_task_with_huge_output_and_hostile_payload_as_text(srv: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.integration.webui_support import CHROMIUM, CHROMIUM_ARGS, LIVE, screenshot

    lib = library_queue(srv.folder)
    lib.create_session("ui-hostile")
    lib.create_stream("ui-hostile", "ui-hostile")
    evil = "<script>window.__xss=1</script><img src=x onerror=window.__xss=1>"
    payload: dict[str, Any] = {
        "script": "scripts/test.sh",
        "note": evil,
        "rtl": "\u202eexe.txt \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
        "zero_width": "a\u200bb\u200dc\ufeffd",
        "emoji": "👩‍💻🚀",
        "max_int": 2**53 - 1,
        "nested": json.loads("[" * 30 + '{"deep": true}' + "]" * 30),
    }
    task = lib.enqueue("ui-hostile", "run-bash", payload)
    lib.claim_task(task.id)
    stdout = "first line " + evil + "\n" + "log line\n" * 600_000 + "LAST LINE: the failure"
    lib.complete(task.id, {"summary": evil}, stdout=stdout, stderr="\x00\x1b[31m" + evil)
    stored = lib.get_task(task.id).stdout
    assert stored is not None and MARKER.search(stored)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(LIVE)
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
            page.goto(f"{srv.url}/#/tasks/{task.id}")
            expect(page.locator("#server-status")).to_have_attribute("data-state", "up")
            expect(page.locator("#result-summary")).to_have_text(evil)
            expect(page.locator("#stdout")).to_contain_text("SparkQ truncated this output")
            expect(page.locator("#stdout")).to_contain_text(f"{utf8_len(stdout):,} bytes in all")
            expect(page.locator("#stdout")).to_contain_text("LAST LINE: the failure")
            expect(page.locator("#stdout")).to_contain_text(evil)
            expect(page.locator("#payload")).to_contain_text("<script>window.__xss=1</script>")
            expect(page.locator("#payload")).to_contain_text(str(2**53 - 1))
            expect(page.locator("#payload")).to_contain_text('"deep": true')
            expect(page.locator("#payload")).to_contain_text("👩‍💻🚀")
            screenshot(page, "task-detail-hostile-input")
            assert page.evaluate("typeof window.__xss") == "undefined"
            assert page.locator("#app img, #app script").count() == 0
            assert problems == [], problems
        finally:
            browser.close()
