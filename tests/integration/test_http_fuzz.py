"""Hostile input to every route of the OpenAPI schema: never a 500, always the one error shape.

Hypothesis generates bodies (random JSON, broken JSON, invalid UTF-8, NaN, huge numbers, deep
nesting), query parameters and path ids (traversal, unicode, very long); the real server must
answer each with a 2xx or a 4xx carrying `{"error": {status, code, message}}`, and the database
must still pass `PRAGMA integrity_check` afterwards.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import TLS, Server

JSON_HEADERS = {"content-type": "application/json"}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)

FIELD_NAMES = [
    "name", "description", "session_id", "instructions", "stream_id", "tool_name", "payload", "task_class",
    "timeout", "result", "result_summary", "result_data", "stdout", "stderr", "error_message", "error_type",
]  # fmt: skip


@st.composite
def plausible_bodies(draw: st.DrawFn) -> bytes:
    """Objects with the API's own field names and random values: they reach the handlers."""
    fields = draw(st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=6))
    return json.dumps(fields).encode()


raw_bodies = st.sampled_from(
    [
        b"",
        b"{",
        b"null",
        b"[]",
        b'"text"',
        b'{"payload": NaN}',
        b'{"timeout": Infinity}',
        b'{"timeout": 1e400}',
        b"\xff\xfe\x00garbage",
        b'{"name": "\xed\xa0\x80"}',
        b"[" * 5000 + b"]" * 5000,
        b'{"payload": ' + b'{"a":' * 3000 + b"1" + b"}" * 3001,
        b'{"stream_id": "st", "tool_name": "run-bash", "payload": {"n": ' + b"9" * 5000 + b"}}",
    ]
)

bodies = plausible_bodies() | json_values.map(lambda v: json.dumps(v).encode()) | raw_bodies

ids = st.sampled_from(
    ["st", "s", "tsk_000000000000", "str_nope", "..", "../../etc/passwd", "%00", "a" * 5000, "ünï", " ", "null"]
) | st.text(min_size=1, max_size=30)

query_values = st.one_of(
    st.text(max_size=20), st.integers(min_value=-(10**20), max_value=10**20).map(str), st.sampled_from(["true", ""])
)
query_names = st.sampled_from(["status", "stream_id", "session_id", "stale", "limit", "offset", "order", "full"])


def routes(server: Server) -> list[tuple[str, str]]:
    """Every route and method of the schema, but event streams (they never end; see test_http_events)."""
    schema = httpx.get(server.url + "/schema/openapi.json", verify=TLS).json()
    return [
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if not _streams(operation)
    ]


def _streams(operation: dict[str, Any]) -> bool:
    return any("text/event-stream" in r.get("content", {}) for r in operation.get("responses", {}).values())


@pytest.fixture(scope="module")
def fuzz_server(shared_server: Server) -> Iterator[Server]:
    with shared_server.client() as api:
        api.post("/api/sessions", json={"name": "s"}).raise_for_status()
        api.post("/api/streams", json={"name": "st", "session_id": "s"}).raise_for_status()
        api.post("/api/tasks", json={"stream_id": "st", "tool_name": "run-bash", "payload": {}}).raise_for_status()
    yield shared_server
    with sqlite3.connect(shared_server.folder / "sparkq.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.method, response.request.url, response.text[:300])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["status"] == response.status_code
        assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_route_answers_hostile_input_with_a_4xx_and_the_error_shape(fuzz_server: Server, data: Any) -> None:
    method, template = data.draw(st.sampled_from(routes_cache(fuzz_server)))
    path = template
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + quote(data.draw(ids), safe="") + path[end + 1 :]
    params = data.draw(st.dictionaries(query_names, query_values, max_size=3))
    body = data.draw(bodies) if method in ("POST", "PUT") else b""
    response = httpx.request(
        method, fuzz_server.url + path, params=params, content=body, headers=JSON_HEADERS, timeout=30, verify=TLS
    )
    check(response)


_ROUTES: list[tuple[str, str]] = []


def routes_cache(server: Server) -> list[tuple[str, str]]:
    if not _ROUTES:
        _ROUTES.extend(routes(server))
    return _ROUTES


def test_the_fuzzed_server_still_works(fuzz_server: Server) -> None:
    fuzzed = routes_cache(fuzz_server)
    assert len(fuzzed) >= 20 and ("POST", "/api/tasks") in fuzzed
    assert ("GET", "/api/events") not in fuzzed  # a stream: tested in test_http_events
    with fuzz_server.client() as api:
        # the fuzzer may have ended `s`/`st` (legitimately): use a lane of our own
        api.post("/api/sessions", json={"name": "after-fuzz"}).raise_for_status()
        api.post("/api/streams", json={"name": "after-fuzz", "session_id": "after-fuzz"}).raise_for_status()
        created = api.post(
            "/api/tasks", json={"stream_id": "after-fuzz", "tool_name": "run-bash", "payload": {"ok": 1}}
        )
        assert created.status_code == 201, created.text
        assert api.get(f"/api/tasks/{created.json()['task']['id']}").json()["task"]["payload"] == {"ok": 1}
