"""The HTTP API says no instead of guessing: strict bodies, range-checked query integers, short echoes.

In-process: Litestar's test client over the real app (`build_app`) on a SQLite file in a tmp folder.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import post
from litestar.testing import TestClient

from sparkq_adapters import config
from sparkq_adapters.http.bodies import OTHER_BODY, SessionCreate, body_type
from sparkq_domain.limits import MAX_JSON_INTEGER
from sparkq_entry.asgi import build_app
from tests.integration.http_support import PORT, get_scope  # PORT: the guard checks Host against it

BIG = 1024 * 1024
#: an error message quotes at most ~200 characters of what was sent; the rest of it is SparkQ's words
SHORT = 1000


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient[Any]]:
    app = build_app(config.defaults(tmp_path), PORT)
    with TestClient(app=app, base_url=f"http://127.0.0.1:{PORT}") as client:  # type: ignore[arg-type]
        client.headers["content-type"] = "application/json"
        yield client


@pytest.fixture
def running(api: TestClient[Any]) -> str:
    """A claimed task in stream `st` of session `s`; its id."""
    api.post("/api/sessions", json={"name": "s"}).raise_for_status()
    api.post("/api/streams", json={"name": "st", "session_id": "s"}).raise_for_status()
    task = api.post("/api/tasks", json={"stream_id": "st", "tool_name": "run-bash", "payload": {}})
    task_id: str = task.json()["task"]["id"]
    api.post(f"/api/tasks/{task_id}/claim", json={}).raise_for_status()
    return task_id


def refused(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (status, code)
    return str(error["message"])


def state(api: TestClient[Any]) -> Any:
    """Every session, stream and task as stored (without what the clock derives)."""
    tasks = [
        {k: v for k, v in t.items() if k != "running_seconds"} for t in api.get("/api/tasks?full=true").json()["tasks"]
    ]
    return [api.get("/api/sessions").json(), api.get("/api/streams").json(), tasks]


# -- item 8: unknown keys, aliases, exact types ----------------------------------------------------------------

TYPED_BODIES = [
    ("POST", "/api/sessions", {"name": "s2"}, "name, description, instructions"),
    ("PUT", "/api/sessions/s", {"description": "d"}, "description, instructions"),
    ("POST", "/api/streams", {"name": "st2", "session_id": "s"}, "name, session_id, instructions"),
    ("PUT", "/api/streams/st", {"instructions": "i"}, "instructions"),
    ("POST", "/api/tasks", {"stream_id": "st", "tool_name": "run-bash", "payload": {}}, "stream_id, tool_name"),
    ("POST", "/api/tasks/TASK/complete", {"result": {"summary": "ok"}}, "result, result_summary, result_data"),
    ("POST", "/api/tasks/TASK/fail", {"error_message": "no"}, "error_message, error_type, stdout, stderr"),
]
BODILESS = [
    ("PUT", "/api/sessions/s/end"),
    ("PUT", "/api/streams/st/end"),
    ("POST", "/api/streams/st/claim"),
    ("POST", "/api/tasks/TASK/claim"),
    ("POST", "/api/tasks/TASK/requeue"),
    ("POST", "/api/reload"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "accepted"), TYPED_BODIES, ids=[f"{m} {p}" for m, p, *_ in TYPED_BODIES]
)
def test_an_unknown_key_in_any_body_is_a_400_naming_it_and_the_accepted_keys(
    api: TestClient[Any], running: str, method: str, path: str, body: dict[str, Any], accepted: str
) -> None:
    before = state(api)
    response = api.request(method, path.replace("TASK", running), json={**body, "bogus": 1})
    message = refused(response, 400, "unknown_key")
    assert message.startswith("Unknown key 'bogus' in the body; accepted: ")
    assert accepted in message
    assert response.json()["error"]["details"][0] == {"key": "bogus", "message": "unknown key", "source": "body"}
    assert state(api) == before


@pytest.mark.parametrize(("method", "path"), BODILESS, ids=[f"{m} {p}" for m, p in BODILESS])
def test_a_route_without_a_body_refuses_keys_and_takes_an_empty_object_or_nothing(
    api: TestClient[Any], running: str, method: str, path: str
) -> None:
    before = state(api)
    message = refused(api.request(method, path.replace("TASK", running), json={"bogus": 1}), 400, "unknown_key")
    assert message == "Unknown key 'bogus' in the body; this request takes no body fields: send {} or no body"
    assert "not an array" in refused(api.request(method, path.replace("TASK", running), json=[]), 400, "bad_request")
    assert state(api) == before


def test_bodiless_routes_still_work_with_an_empty_object_and_with_no_body(api: TestClient[Any], running: str) -> None:
    api.post(f"/api/tasks/{running}/fail", json={"error_message": "x"}).raise_for_status()
    first = api.post(f"/api/tasks/{running}/requeue", content=b"")
    assert first.status_code == 201
    copy = first.json()["task"]["id"]
    api.post(f"/api/tasks/{copy}/cancel", json={}).raise_for_status()
    assert api.post(f"/api/tasks/{copy}/requeue", json={}).status_code == 201
    assert api.put("/api/streams/st/end", content=b"").json()["stream"]["status"] == "ended"


@post("/x", sync_to_thread=False)
def _raw(data: dict[str, Any]) -> None: ...


@post("/y", sync_to_thread=False)
def _typed(data: SessionCreate) -> None: ...


@post("/z", sync_to_thread=False)
def _bare() -> None: ...


def test_the_body_check_follows_each_route_s_declared_body() -> None:
    # an attrs body is checked against its class; no body means {} or nothing; any other body type is
    # Litestar's to check (a route with a plain dict body is not refused every key)
    assert (body_type(_typed), body_type(_bare), body_type(_raw)) == (SessionCreate, None, OTHER_BODY)


def test_a_session_takes_instructions_as_the_alias_of_its_description(api: TestClient[Any]) -> None:
    created = api.post("/api/sessions", json={"name": "s", "instructions": "from the seed's endpoint list"})
    assert created.status_code == 201, created.text
    assert created.json()["session"]["description"] == "from the seed's endpoint list"
    changed = api.put("/api/sessions/s", json={"instructions": "changed"})
    assert changed.json()["session"]["description"] == "changed"
    assert api.put("/api/sessions/s", json={"description": None}).json()["session"]["description"] is None


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_session_body_with_both_description_and_its_alias_is_refused(api: TestClient[Any], method: str) -> None:
    api.post("/api/sessions", json={"name": "s", "description": "kept"}).raise_for_status()
    path = "/api/sessions" if method == "POST" else "/api/sessions/s"
    body = (
        {"name": "s2", "description": "a", "instructions": "b"}
        if method == "POST"
        else {"description": "a", "instructions": "b"}
    )
    message = refused(api.request(method, path, json=body), 400, "bad_request")
    assert message == "Give description or instructions, not both (instructions is an alias of description)"
    assert [(s["name"], s["description"]) for s in api.get("/api/sessions").json()["sessions"]] == [("s", "kept")]


def test_a_session_update_without_description_or_its_alias_is_refused(api: TestClient[Any]) -> None:
    api.post("/api/sessions", json={"name": "s", "description": "kept"}).raise_for_status()
    assert "needs description or instructions" in refused(api.put("/api/sessions/s", json={}), 400, "bad_request")


def test_the_openapi_schema_documents_the_alias(api: TestClient[Any]) -> None:
    schemas = api.get("/schema/openapi.json").json()["components"]["schemas"]
    for name in ("SessionCreate", "SessionUpdate"):
        assert "alias" in schemas[name]["properties"]["instructions"]["description"]
        assert schemas[name]["properties"]["description"]


@pytest.mark.parametrize(
    "body",
    [
        {"result": {"summary": "a"}, "result_summary": "b"},
        {"result": {"summary": "a"}, "result_data": {"n": 1}},
        {"stdout": "only output"},
    ],
)
def test_complete_takes_exactly_one_form_of_the_result(
    api: TestClient[Any], running: str, body: dict[str, Any]
) -> None:
    message = refused(api.post(f"/api/tasks/{running}/complete", json=body), 400, "bad_request")
    assert "result" in message
    assert api.get(f"/api/tasks/{running}").json()["task"]["status"] == "running"


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("timeout", "77", "timeout must be an integer, got a string: '77'"),
        ("timeout", 77.5, "timeout must be an integer, got the number 77.5"),
        ("timeout", True, "timeout must be an integer, got true"),
        ("tool_name", 7, "tool_name must be a string, got the number 7"),
        ("stream_id", None, "stream_id must be a string, got null"),
        ("payload", "{}", "payload must be a JSON object, got a string: '{}'"),
        ("task_class", ["LLM_LITE"], "task_class must be a string, got an array"),
    ],
)
def test_body_types_are_exact_nothing_is_coerced(
    api: TestClient[Any], running: str, field: str, value: Any, fragment: str
) -> None:
    body = {"stream_id": "st", "tool_name": "run-bash", "payload": {}, field: value}
    message = refused(api.post("/api/tasks", json=body), 400, "bad_request")
    assert message == fragment
    assert api.get("/api/tasks").json()["total"] == 1


def test_every_problem_of_a_body_is_named_at_once(api: TestClient[Any], running: str) -> None:
    body = {"result_summary": 3, "stdout": 5, "zeta": 1, "alpha": 2}
    message = refused(api.post(f"/api/tasks/{running}/complete", json=body), 400, "unknown_key")
    assert message == (
        "Unknown keys 'alpha', 'zeta' in the body; result_summary must be a string, got the number 3; "
        "stdout must be a string, got the number 5; accepted: result, result_summary, result_data, stdout, stderr"
    )


def test_a_missing_key_names_the_key_and_what_is_accepted(api: TestClient[Any]) -> None:
    message = refused(api.post("/api/sessions", json={"description": "d"}), 400, "bad_request")
    assert message == "name is required; accepted: name, description, instructions"


# -- item 9: query integers have documented ranges --------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        (
            "offset=9223372036854775808",
            f"offset: must be an integer from 0 to {MAX_JSON_INTEGER}, got '9223372036854775808'",
        ),
        ("offset=-1", f"offset: must be an integer from 0 to {MAX_JSON_INTEGER}, got '-1'"),
        (
            f"offset={MAX_JSON_INTEGER + 1}",
            f"offset: must be an integer from 0 to {MAX_JSON_INTEGER}, got '{MAX_JSON_INTEGER + 1}'",
        ),
        ("limit=0", "limit: must be an integer from 1 to 1000, got '0'"),
        ("limit=1001", "limit: must be an integer from 1 to 1000, got '1001'"),
        ("limit=ten", "limit: must be an integer from 1 to 1000, got 'ten'"),
        ("stale=maybe", "stale: must be true or false, got 'maybe'"),
    ],
)
def test_task_list_integers_outside_their_range_are_a_400(api: TestClient[Any], query: str, fragment: str) -> None:
    message = refused(api.get(f"/api/tasks?{query}"), 400, "bad_request")
    assert message == f"Invalid query parameter {fragment}"


def test_the_largest_offset_is_an_empty_page(api: TestClient[Any], running: str) -> None:
    page = api.get("/api/tasks", params={"offset": MAX_JSON_INTEGER}).json()
    assert (page["tasks"], page["total"], page["offset"]) == ([], 1, MAX_JSON_INTEGER)


def first_answer(app: Any, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """GET `path` straight from the ASGI app: the status and the first body chunk (an event stream is cut there)."""
    path, _, query = path.partition("?")
    scope = get_scope(path, query, headers)
    answer: dict[str, Any] = {}

    async def run() -> None:
        got_body = asyncio.Event()
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client stays: an event stream never ends by itself
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["body"] = answer.get("body", b"") + message.get("body", b"")
                got_body.set()

        call = asyncio.create_task(app(scope, receive, send))
        try:
            await asyncio.wait_for(got_body.wait(), timeout=20)
        finally:
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)

    asyncio.run(run())
    return answer["status"], answer["body"]


@pytest.fixture
def events_app(running: str, tmp_path: Path) -> Any:
    """A second app on the same database, called directly (an open event stream would hold the test client)."""
    return build_app(config.defaults(tmp_path), PORT)


@pytest.mark.parametrize(
    ("query", "headers", "fragment"),
    [
        ("?after=-9223372036854775809", {}, "after: must be an integer from 0 to"),
        ("?after=-1", {}, "after: must be an integer from 0 to"),
        (f"?after={10**30}", {}, "after: must be an integer from 0 to"),
        (f"?after={MAX_JSON_INTEGER}", {}, f"There is no event {MAX_JSON_INTEGER} yet: the newest is "),
        ("", {"last-event-id": "abc"}, "Last-Event-ID must be an event number from 0 to"),
        ("", {"last-event-id": ""}, "Last-Event-ID must be an event number from 0 to"),
        ("", {"last-event-id": "9" * 5000}, "Last-Event-ID must be an event number from 0 to"),
        ("", {"last-event-id": "4000000"}, "There is no event 4000000 yet"),
    ],
)
def test_event_numbers_outside_the_feed_are_a_400_not_a_broken_or_silent_stream(
    events_app: Any, query: str, headers: dict[str, str], fragment: str
) -> None:
    status, body = first_answer(events_app, "/api/events" + query, headers)
    assert status == 400, body[:300]
    error = json.loads(body)["error"]
    assert error["code"] == "bad_request" and fragment in error["message"]
    assert len(error["message"]) < SHORT


def test_an_event_number_one_past_the_newest_is_refused_and_names_the_newest(events_app: Any) -> None:
    # the session, the stream, the enqueue and the claim: four events so far
    status, body = first_answer(events_app, "/api/events?after=5", {})
    assert status == 400
    assert json.loads(body)["error"]["message"].startswith("There is no event 5 yet: the newest is 4 ")
    assert first_answer(events_app, "/api/events?after=4", {})[0] == 200
    assert first_answer(events_app, "/api/events", {"last-event-id": "0"})[0] == 200


def test_claim_wait_outside_0_to_60_seconds_is_a_400(api: TestClient[Any], running: str) -> None:
    for wait in ("61", "-1", "nan", "inf"):
        message = refused(api.post(f"/api/streams/st/claim?wait={wait}", json={}), 400, "bad_request")
        assert message == f"Invalid query parameter wait: must be a number from 0 to 60, got '{wait}'"


def test_claim_wait_of_0_or_60_seconds_is_taken(api: TestClient[Any], running: str) -> None:
    # the bounds are valid (test_api_contract's Schemathesis run sends valid waits as at most 1 s)
    for wait in ("0", "60", "60.0"):
        api.post("/api/tasks", json={"stream_id": "st", "tool_name": "run-bash", "payload": {}}).raise_for_status()
        claimed = api.post(f"/api/streams/st/claim?wait={wait}", json={})
        assert claimed.status_code == 200, claimed.text[:500]
        assert (claimed.json()["status"], claimed.json()["stream"]["name"]) == ("running", "st")


def test_the_openapi_schema_documents_every_query_integer_range(api: TestClient[Any]) -> None:
    paths = api.get("/schema/openapi.json").json()["paths"]

    def bounds(path: str, method: str, name: str) -> tuple[float, float]:
        [param] = [p for p in paths[path][method]["parameters"] if p["name"] == name]
        schema = param["schema"]  # of an optional parameter: `oneOf` the number and null, with the bounds
        return schema["minimum"], schema["maximum"]

    assert bounds("/api/tasks", "get", "limit") == (1, 1000)
    assert bounds("/api/tasks", "get", "offset") == (0, MAX_JSON_INTEGER)
    assert bounds("/api/events", "get", "after") == (0, MAX_JSON_INTEGER)
    assert bounds("/api/streams/{stream_ref}/claim", "post", "wait") == (0, 60)


# -- item 11: errors quote at most ~200 characters of the input ---------------------------------------------------


def test_a_megabyte_tool_name_is_not_echoed_back(api: TestClient[Any], running: str) -> None:
    body = {"stream_id": "st", "tool_name": "x" * BIG, "payload": {}}
    message = refused(api.post("/api/tasks", json=body), 422, "invalid_input")
    assert message.startswith("Unknown tool '" + "x" * 200 + "…' (1,048,576 characters). Known tools: ")
    assert len(message) < SHORT


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/api/sessions", {"name": "n" * BIG}, 422, "invalid_input"),
        ("POST", "/api/streams", {"name": "st2", "session_id": "s" * BIG}, 404, "not_found"),
        ("POST", "/api/tasks", {"stream_id": "q" * BIG, "tool_name": "run-bash", "payload": {}}, 404, "not_found"),
        (
            "POST",
            "/api/tasks",
            {"stream_id": "st", "tool_name": "run-bash", "payload": {}, "task_class": "c" * BIG},
            422,
            "invalid_input",
        ),
        ("POST", "/api/sessions", {"name": "s3", "k" * BIG: 1}, 400, "unknown_key"),
        (
            "POST",
            "/api/tasks",
            {"stream_id": "st", "tool_name": "run-bash", "payload": {}, "timeout": "7" * BIG},
            400,
            "bad_request",
        ),
        ("GET", "/api/tasks/" + "t" * 20_000, None, 404, "not_found"),
        ("GET", "/api/sessions?status=" + "a" * 20_000, None, 422, "invalid_input"),
        ("GET", "/api/tasks?status=" + "a" * 20_000, None, 422, "invalid_input"),
        ("GET", "/api/tasks?limit=" + "1" * 20_000, None, 400, "bad_request"),
    ],
)
def test_huge_input_is_quoted_short_in_every_error(
    api: TestClient[Any], running: str, method: str, path: str, body: Any, status: int, code: str
) -> None:
    response = api.request(method, path, json=body)
    assert response.status_code == status, response.text[:300]
    if code:
        assert len(refused(response, status, code)) < SHORT
        assert len(response.text) < 2 * SHORT  # `details` too


def test_a_huge_host_header_is_quoted_short(api: TestClient[Any]) -> None:
    message = refused(api.get("/api/health", headers={"host": "h" * 20_000}), 403, "forbidden_host")
    assert len(message) < SHORT and "(20,000 characters)" in message
