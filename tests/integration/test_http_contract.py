"""The OpenAPI document tells the truth: one error shape, every status a route answers, what bodies take."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from litestar.exceptions import LitestarDeprecationWarning

from sparkq_adapters import config
from sparkq_entry.asgi import build_app
from tests.integration.http_support import PORT, local_api

ERROR_REF = "#/components/schemas/ErrorBody"
STATE_CHANGES = ("post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    with local_api(tmp_path_factory.mktemp("contract")) as api:
        response = api.get("/schema/openapi.json")
        assert response.status_code == 200
        return dict(response.json())


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in document["paths"].items()
        if path.startswith(("/api", "/health"))
        for method, op in item.items()
        if isinstance(op, dict) and "responses" in op
    ]


def test_the_app_is_built_without_litestar_deprecation_warnings(tmp_path: Path) -> None:
    # injected values are marked NamedDependency, parameters FromQuery/FromPath, bodies JSONBody
    with warnings.catch_warnings():
        warnings.simplefilter("error", LitestarDeprecationWarning)
        build_app(config.defaults(tmp_path), PORT)


def test_every_error_response_is_documented_as_the_one_error_shape(document: dict[str, Any]) -> None:
    assert document["components"]["schemas"]["ErrorInfo"]["required"] == ["code", "message", "status"]
    for path, method, op in operations(document):
        statuses = {int(s) for s in op["responses"]}
        assert {403, 500, 503} <= statuses, (method, path)
        if method in STATE_CHANGES:
            assert {400, 408, 413, 415, 507} <= statuses, (method, path)
        for status, response in op["responses"].items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (method, path, status)


def test_each_route_documents_what_it_answers(document: dict[str, Any], tmp_path: Path) -> None:
    def documented(method: str, path: str) -> set[int]:
        return {int(s) for s in document["paths"][path][method]["responses"]}

    with local_api(tmp_path) as api:
        answers = [
            ("get", "/api/sessions/{session_ref}", api.get("/api/sessions/nope").status_code),
            ("get", "/api/sessions", api.get("/api/sessions?status=asleep").status_code),
            ("post", "/api/sessions", api.post("/api/sessions", json={"name": "-bad"}).status_code),
            ("post", "/api/sessions", api.post("/api/sessions", json={"name": "s"}).status_code),
            ("post", "/api/sessions", api.post("/api/sessions", json={"name": "s"}).status_code),
            ("post", "/api/streams", api.post("/api/streams", json={"name": "st", "session_id": "s"}).status_code),
            ("get", "/api/streams/{stream_ref}/peek", api.get("/api/streams/st/peek").status_code),
            ("post", "/api/streams/{stream_ref}/claim", api.post("/api/streams/st/claim").status_code),
            ("get", "/api/tasks", api.get("/api/tasks?stream_id=nope").status_code),
            ("get", "/api/tasks", api.get("/api/tasks?limit=0").status_code),
            ("post", "/api/tasks/{task_id}/claim", api.post("/api/tasks/tsk_nope/claim", json={}).status_code),
            ("put", "/api/streams/{stream_ref}/end", api.put("/api/streams/st/end").status_code),
            ("put", "/api/streams/{stream_ref}/end", api.put("/api/streams/st/end").status_code),
            ("get", "/api/streams/{stream_ref}/peek", api.get("/api/streams/st/peek").status_code),
            ("post", "/api/reload", api.post("/api/reload").status_code),
        ]
        statuses = {status for _, _, status in answers}
        assert {200, 201, 204, 400, 404, 409, 422} <= statuses  # the calls above reach each of these
        for method, path, status in answers:
            assert status in documented(method, path), (method, path, status)


@pytest.mark.parametrize(
    ("method", "path"), [("TRACE", "/api/tasks"), ("PUT", "/api/health"), ("DELETE", "/api/status")]
)
def test_a_method_no_route_takes_is_405_in_the_error_shape(tmp_path: Path, method: str, path: str) -> None:
    with local_api(tmp_path) as api:
        del api.headers["content-type"]  # the JSON rule is for requests some route takes
        response = api.request(method, path)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["allow"]


def test_a_state_change_without_json_is_still_415(tmp_path: Path) -> None:
    with local_api(tmp_path) as api:
        del api.headers["content-type"]
        response = api.post("/api/sessions", content=b'{"name": "s"}')
        assert response.status_code == 415
        assert response.json()["error"]["code"] == "unsupported_media_type"
        assert api.get("/api/sessions").json()["sessions"] == []


def test_the_schema_says_what_the_body_reader_and_the_domain_enforce(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for body in ("NoBody", "SessionCreate", "SessionUpdate", "StreamCreate", "StreamUpdate", "TaskCreate"):
        assert schemas[body]["additionalProperties"] is False, body
    assert schemas["SessionCreate"]["properties"]["name"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
    assert schemas["StreamCreate"]["properties"]["name"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
    timeout = schemas["TaskCreate"]["properties"]["timeout"]["oneOf"][0]
    assert (timeout["minimum"], timeout["maximum"]) == (1, 30 * 24 * 3600)
    task_class = schemas["TaskCreate"]["properties"]["task_class"]["oneOf"][0]
    assert task_class["enum"] == ["FAST_SCRIPT", "MEDIUM_SCRIPT", "LLM_LITE", "LLM_HEAVY"]
    # keys that say the same thing: one of them, never both
    assert {"not": {"required": ["result", "result_summary"]}} in schemas["TaskComplete"]["allOf"]
    assert {"anyOf": [{"required": ["description"]}, {"required": ["instructions"]}]} in schemas["SessionUpdate"][
        "allOf"
    ]

    def query(path: str, name: str) -> dict[str, Any]:
        params = document["paths"][path]["get"]["parameters"]
        return dict(next(p for p in params if p["name"] == name)["schema"])

    assert query("/api/sessions", "status")["enum"] == ["active", "ended"]
    assert query("/api/tasks", "status")["enum"] == ["queued", "running", "succeeded", "failed", "cancelled"]
    claim = document["paths"]["/api/tasks/{task_id}/claim"]["post"]["requestBody"]
    assert "Content-Type: application/json" in claim["description"]
    assert {"$ref": "#/components/schemas/NoBody"} in claim["content"]["application/json"]["schema"]["oneOf"]


def test_options_lists_every_method_of_a_path(tmp_path: Path) -> None:
    # Litestar 2.x lists only the first handler's method (litestar-org/litestar#4169)
    with local_api(tmp_path) as api:
        for path, allowed in (
            ("/api/tasks", "GET, OPTIONS, POST"),
            ("/api/sessions/s", "GET, OPTIONS, PUT"),
            ("/api/streams/s", "GET, OPTIONS, PUT"),
            ("/api/status", "GET, OPTIONS"),
        ):
            response = api.options(path)
            assert response.status_code == 204
            assert response.headers["allow"] == allowed, path


def test_an_integer_written_with_a_zero_fraction_is_that_integer(tmp_path: Path) -> None:
    # 77.0 is the integer 77 to JSON and to JSON Schema, so the schema's `integer` takes it
    with local_api(tmp_path) as api:
        api.post("/api/sessions", json={"name": "s"})
        api.post("/api/streams", json={"name": "st", "session_id": "s"})
        response = api.post(
            "/api/tasks", content=b'{"stream_id": "st", "tool_name": "run-bash", "payload": {}, "timeout": 77.0}'
        )
        assert response.status_code == 201, response.text
        assert response.json()["task"]["timeout"] == 77


def test_session_and_health_answers_are_typed_models(document: dict[str, Any], tmp_path: Path) -> None:
    def success(method: str, path: str, status: str) -> dict[str, Any]:
        return dict(document["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"])

    assert success("get", "/api/sessions", "200") == {"$ref": "#/components/schemas/SessionList"}
    assert success("post", "/api/sessions", "201") == {"$ref": "#/components/schemas/OneSession"}
    for method, path in (("get", "/api/sessions/{session_ref}"), ("put", "/api/sessions/{session_ref}/end")):
        assert success(method, path, "200") == {"$ref": "#/components/schemas/OneSession"}
    assert success("get", "/health", "200") == {"$ref": "#/components/schemas/Health"}
    session = document["components"]["schemas"]["SessionOut"]
    assert session["properties"]["status"]["enum"] == ["active", "ended"]
    with local_api(tmp_path) as api:  # the answers are what they were: the same keys, the same values
        created = api.post("/api/sessions", json={"name": "s", "description": "d"}).json()["session"]
        assert sorted(created) == sorted(session["properties"])
        assert (created["name"], created["description"], created["ended_at"]) == ("s", "d", None)
        assert api.get("/api/sessions").json() == {"sessions": [created]}
        assert sorted(api.get("/health").json()) == ["status", "timestamp"]


def test_stream_answers_are_documented_by_typed_models_that_match_them(
    document: dict[str, Any], tmp_path: Path
) -> None:
    def success(method: str, path: str, status: str) -> dict[str, Any]:
        return dict(document["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"])

    assert success("get", "/api/streams", "200") == {"$ref": "#/components/schemas/StreamList"}
    assert success("post", "/api/streams", "201") == {"$ref": "#/components/schemas/OneStream"}
    for method, path in (
        ("get", "/api/streams/{stream_ref}"),
        ("put", "/api/streams/{stream_ref}"),
        ("put", "/api/streams/{stream_ref}/end"),
    ):
        assert success(method, path, "200") == {"$ref": "#/components/schemas/OneStream"}
    schemas = document["components"]["schemas"]
    with local_api(tmp_path) as api:
        api.post("/api/sessions", json={"name": "s"})
        stream = api.post("/api/streams", json={"name": "st", "session_id": "s"}).json()["stream"]
        assert sorted(stream) == sorted(schemas["StreamOut"]["required"]) == sorted(schemas["StreamOut"]["properties"])
        assert sorted(stream["task_counts"]) == sorted(schemas["TaskCounts"]["properties"])
        assert api.get("/api/streams").json() == {"streams": [stream]}


def test_task_answers_are_documented_by_typed_models_that_match_them(document: dict[str, Any], tmp_path: Path) -> None:
    schemas = document["components"]["schemas"]

    def model(method: str, path: str, status: str) -> dict[str, Any]:
        schema = document["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        return dict(schemas[schema["$ref"].rsplit("/", 1)[1]])

    def keys(name: str) -> list[str]:
        return sorted(schemas[name]["properties"])

    with local_api(tmp_path) as api:
        api.post("/api/sessions", json={"name": "s"})
        api.post("/api/streams", json={"name": "st", "session_id": "s"})
        body = {"stream_id": "st", "tool_name": "run-bash", "payload": {"n": 1}}
        created = api.post("/api/tasks", json=body).json()
        assert sorted(created) == sorted(model("post", "/api/tasks", "201")["required"])
        assert sorted(created["task"]) == keys("TaskRow")
        peeked = api.get("/api/streams/st/peek").json()
        assert sorted(peeked) == sorted(model("get", "/api/streams/{stream_ref}/peek", "200")["required"])
        claimed = api.post("/api/streams/st/claim").json()
        assert sorted(claimed) == keys("ClaimedTask") == sorted(schemas["ClaimedTask"]["required"])
        view = api.get(f"/api/tasks/{claimed['id']}").json()["task"]
        assert sorted(view) == keys("TaskView")
        page = api.get("/api/tasks").json()
        assert sorted(page) == sorted(model("get", "/api/tasks", "200")["required"])
        assert set(page["tasks"][0]) == set(schemas["TaskRow"]["required"])  # a list row leaves out the bulky ones
        done = api.post(f"/api/tasks/{claimed['id']}/complete", json={"result_summary": "ok"}).json()
        assert sorted(done["task"]) == keys("TaskRow")
        again = api.post(f"/api/tasks/{claimed['id']}/requeue").json()
        assert sorted(again["task"]) == keys("TaskRow")


#: fields that hold the caller's own JSON object: free-form by design
FREE_FORM_FIELDS = {"payload", "result", "payload_template"}


def _component(document: dict[str, Any], schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name = schema["$ref"].rsplit("/", 1)[1]
    return name, dict(document["components"]["schemas"][name])


def untyped(document: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]) -> list[str]:
    """Where in `schema` (refs followed) an object is not a typed model: no properties, any keys."""
    if "$ref" in schema:
        name, target = _component(document, schema)
        if name in seen or name == "JSONValue":
            return []
        return untyped(document, target, name, seen | {name})
    found: list[str] = []
    for option in schema.get("oneOf", []) + schema.get("anyOf", []):
        found += untyped(document, option, where, seen)
    if schema.get("type") == "array":
        found += untyped(document, schema["items"], f"{where}[]", seen)
    if schema.get("type") == "object":
        if not schema.get("properties"):
            found.append(where)
        for key, prop in schema.get("properties", {}).items():
            if key not in FREE_FORM_FIELDS:
                found += untyped(document, prop, f"{where}.{key}", seen)
    return found


def test_every_success_answer_is_a_typed_model(document: dict[str, Any]) -> None:
    for path, method, op in operations(document):
        for status, response in op["responses"].items():
            if int(status) >= 300 or "content" not in response:
                continue  # an error (the one error shape), or a 204
            [(media, content)] = response["content"].items()
            if path == "/api/events":
                assert media == "text/event-stream"
                continue
            schema = content["schema"]
            assert set(schema) == {"$ref"}, (method, path, status, schema)
            assert untyped(document, schema, f"{method} {path} {status}", set()) == [], (method, path, status)


def keys_match(document: dict[str, Any], value: Any, schema: dict[str, Any], where: str) -> None:
    """`value` has the keys its documented model requires and no other, all the way down (free-form fields aside)."""
    if "$ref" in schema:
        _, schema = _component(document, schema)
    options = [o for o in schema.get("oneOf", []) if o.get("type") != "null"]
    if value is None or len(options) > 1:
        return
    schema = options[0] if options else schema
    if "$ref" in schema:
        _, schema = _component(document, schema)
    if isinstance(value, list):
        for item in value:
            keys_match(document, item, schema["items"], f"{where}[]")
    elif isinstance(value, dict) and schema.get("properties"):
        # every required key and no key the model does not list (a list row leaves out the bulky ones)
        assert set(schema.get("required", [])) <= set(value) <= set(schema["properties"]), where
        for key, item in value.items():
            if key not in FREE_FORM_FIELDS:
                keys_match(document, item, schema["properties"][key], f"{where}.{key}")


def test_system_answers_are_documented_by_typed_models_that_match_them(
    document: dict[str, Any], tmp_path: Path
) -> None:
    schemas = document["components"]["schemas"]

    def success(method: str, path: str) -> dict[str, Any]:
        return dict(document["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"])

    routes = {
        ("get", "/api/status"): "StatusOut",
        ("get", "/api/overview"): "OverviewOut",
        ("get", "/api/stats"): "StatsOut",
        ("get", "/api/tools"): "ToolList",
        ("get", "/api/scripts"): "ScriptList",
        ("post", "/api/reload"): "ReloadOut",
    }
    for (method, path), model in routes.items():
        assert success(method, path) == {"$ref": f"#/components/schemas/{model}"}, path
    for model in ("StatusOut", "ServerOut", "ActiveSession", "OverviewOut", "SessionTally", "StatsOut", "HourOut"):
        assert sorted(schemas[model]["required"]) == sorted(schemas[model]["properties"]), model  # always all keys
    for model in ("ToolDurationsOut", "ToolList", "ToolOut", "ScriptList", "ScriptOut", "ReloadOut"):
        assert sorted(schemas[model]["required"]) == sorted(schemas[model]["properties"]), model
    # what each answer can hold, in the schema
    assert schemas["ServerOut"]["properties"]["status"]["enum"] == ["running"]
    port = schemas["ServerOut"]["properties"]["port"]
    assert (port["minimum"], port["maximum"]) == (1, 65535)
    tool = schemas["ToolOut"]["properties"]
    assert tool["task_class"]["enum"] == ["FAST_SCRIPT", "MEDIUM_SCRIPT", "LLM_LITE", "LLM_HEAVY"]
    assert (tool["timeout"]["minimum"], tool["timeout"]["maximum"]) == (1, 30 * 24 * 3600)
    hours = schemas["StatsOut"]["properties"]["finished_per_hour"]
    assert (hours["minItems"], hours["maxItems"]) == (24, 24)
    for model, field in (("StatusOut", "stale"), ("OverviewOut", "total"), ("SessionTally", "active")):
        assert schemas[model]["properties"][field]["minimum"] == 0, (model, field)

    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "deploy.sh").write_text("#!/bin/sh\n# name: deploy\n# tags: ops\necho\n")
    (tmp_path / "sparkq.yml").write_text(
        "script_dirs: [scripts]\ntools:\n  lint: {task_class: FAST_SCRIPT, payload_template: {path: .}}\n"
    )
    with local_api(tmp_path) as api:
        reloaded = api.post("/api/reload", json={})
        assert reloaded.status_code == 200, reloaded.text
        api.post("/api/sessions", json={"name": "s"})
        api.post("/api/streams", json={"name": "st", "session_id": "s"})
        task = api.post("/api/tasks", json={"stream_id": "st", "tool_name": "lint", "payload": {}}).json()["task"]
        api.post("/api/streams/st/claim")
        api.post(f"/api/tasks/{task['id']}/complete", json={"result_summary": "ok"})
        api.post("/api/tasks", json={"stream_id": "st", "tool_name": "lint", "payload": {}})
        answers = {
            ("get", "/api/status"): api.get("/api/status").json(),
            ("get", "/api/overview"): api.get("/api/overview").json(),
            ("get", "/api/stats"): api.get("/api/stats").json(),
            ("get", "/api/tools"): api.get("/api/tools").json(),
            ("get", "/api/scripts"): api.get("/api/scripts").json(),
            ("post", "/api/reload"): reloaded.json(),
        }
    # every list holds an item, so every nested model is compared too
    status = answers[("get", "/api/status")]
    assert status["sessions"][0]["streams"] and answers[("get", "/api/overview")]["tasks"]
    assert answers[("get", "/api/stats")]["tools"] and answers[("get", "/api/scripts")]["scripts"]
    for (method, path), body in answers.items():
        keys_match(document, body, success(method, path), path)
