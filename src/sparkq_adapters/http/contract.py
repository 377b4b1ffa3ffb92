"""The documented error responses of the API: the one error shape, and which statuses each route can answer.

Every route answers its errors as `{"error": {"status", "code", "message", "details"?}}` (errors.py);
`reads(...)` and `writes(...)` list, for the OpenAPI document, every status a route can return
beyond its success: what the local-origin guard refuses, what the error mapping turns domain
errors into, and what only that route can answer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Annotated, Any

import attrs
from litestar import Request
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import OpenAPI, OpenAPIResponse, OpenAPIType, Reference, RequestBody, Schema
from litestar.params import KwargDefinition

from sparkq_domain.limits import MAX_JSON_INTEGER
from sparkq_domain.model import (
    _AGE,
    _NAME,
    MAX_ERROR_TYPE_CHARS,
    MAX_TIMEOUT_SECONDS,
    FailureKind,
    Status,
    TaskClass,
    TaskStatus,
)


@attrs.define(kw_only=True)
class ErrorInfo:
    status: Annotated[int, KwargDefinition(description="The HTTP status again", ge=400, le=599)]
    code: Annotated[str, KwargDefinition(description="A stable, machine-readable reason, e.g. not_found")]
    message: Annotated[str, KwargDefinition(description="What is wrong and what to do about it")]
    details: Annotated[
        list[dict[str, Any]] | None,
        KwargDefinition(description="Body or parameter problems, one per key: {key, message, source}"),
    ] = None


@attrs.define(kw_only=True)
class ErrorBody:
    """Every error SparkQ answers, whatever the status."""

    error: ErrorInfo


#: why a status is answered, as the OpenAPI document says it
WHY: dict[int, str] = {
    400: "A parameter or the body is not valid (bad_request, unknown_key, bad_encoding, too_deep)",
    403: "The Host is not this server's loopback address, or the request comes from another origin",
    404: "No such session, stream or task",
    405: "The path does not take this method",
    408: "The request body did not arrive in time",
    409: "The state does not allow it (duplicate name, stream_ended, a task not in the right state)",
    413: "The body is larger than server.max_body_bytes, or a payload, result or output over its limit",
    415: "A state change was sent without 'Content-Type: application/json'",
    422: "A value breaks a rule of SparkQ (a name, a status, a tool, a timeout, a config file)",
    500: "An unexpected failure; the server log has details",
    503: "The database is busy (Retry-After), damaged or cannot be written",
    507: "The disk is full (Retry-After)",
}

#: what every route can answer: the guard's Host check, storage trouble, and the unforeseen
ALWAYS = (403, 500, 503)
#: what every state change can also answer: the guard's and the body reader's refusals, and a full disk
STATE_CHANGE = (400, 408, 413, 415, 507)


def _specs(statuses: set[int]) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=ErrorBody,
            generate_examples=False,
            description=f"{HTTPStatus(status).phrase}: {WHY[status]}",
        )
        for status in sorted(statuses)
    }


def no_task(responses: dict[int, ResponseSpec]) -> dict[int, ResponseSpec]:
    """`responses` and the 204 of a peek or claim that finds no task."""
    return {204: ResponseSpec(data_container=None, description="No queued task (none came within `wait`)"), **responses}


def reads(*statuses: int) -> dict[int, ResponseSpec]:
    """The error responses of a route that changes nothing: `statuses` plus those of every route."""
    return _specs({*ALWAYS, *statuses})


def writes(*statuses: int) -> dict[int, ResponseSpec]:
    """The error responses of a state change: `statuses` plus those of every state change."""
    return _specs({*ALWAYS, *STATE_CHANGE, *statuses})


# -- what Litestar cannot say from the signatures ---------------------------------------------------

#: an age such as 2h, 3d or 1w, as the domain reads it (schema only: the domain's 422 names the rule)
AGE_PATTERN = "^" + _AGE.pattern + "$"
#: a session or stream name, as the domain checks it (schema only: the domain's 422 names the rule)
NAME_PATTERN = "^" + _NAME.pattern + "$"
STATUSES = [s.value for s in Status]
TASK_STATUSES = [s.value for s in TaskStatus]
TASK_CLASSES = [c.value for c in TaskClass]
FAILURE_KINDS = [k.value for k in FailureKind]
FAILURE_KIND = (
    "Why the task ended without success: error (reported), auto (no report within 2x its timeout), "
    "cancelled (taken off the queue; the reason, if any, is error); null otherwise"
)
HEARTBEAT_AT = "The last heartbeat of its worker; stale and dead count from the later of this and started_at"
PROGRESS = "The latest progress note its worker sent with a heartbeat (at most 1 KiB)"
REQUEUED_FROM = "The id of the task this one is a requeued copy of"
REQUEUED_TO = "The id of the copy this task was requeued as (a task is requeued at most once)"
ERROR_TYPE = "The failure's category as reported (fail's error_type), apart from the error message"

#: what the schema of a body field says besides its type: (body class, field) -> schema keywords
FIELD_RULES: dict[tuple[str, str], dict[str, Any]] = {
    ("SessionOut", "status"): {"enum": STATUSES},
    ("StreamOut", "status"): {"enum": STATUSES},
    ("TaskOut", "status"): {"enum": TASK_STATUSES},
    ("TaskOut", "task_class"): {"enum": TASK_CLASSES},
    ("TaskRow", "status"): {"enum": TASK_STATUSES},
    ("TaskRow", "task_class"): {"enum": TASK_CLASSES},
    ("TaskOut", "failure_kind"): {"enum": FAILURE_KINDS},
    ("TaskRow", "failure_kind"): {"enum": FAILURE_KINDS},
    ("TaskFail", "error_type"): {"max_length": MAX_ERROR_TYPE_CHARS},
    ("TasksRequeue", "status"): {"enum": [TaskStatus.FAILED.value]},
    ("TasksRequeue", "since"): {"pattern": AGE_PATTERN},
    ("Health", "status"): {"enum": ["ok"]},
    ("SessionCreate", "name"): {"pattern": NAME_PATTERN},
    ("StreamCreate", "name"): {"pattern": NAME_PATTERN},
    ("TaskCreate", "task_class"): {"enum": TASK_CLASSES},
    ("TaskCreate", "timeout"): {"minimum": 1, "maximum": MAX_TIMEOUT_SECONDS},
}


#: the schema of any JSON value SparkQ reads, and the body fields that hold one per key
JSON_VALUE = "JSONValue"
FREE_FORM = (
    ("TaskCreate", "payload"),
    ("TaskComplete", "result"),
    ("TaskComplete", "result_data"),
    ("ToolOut", "payload_template"),
)

#: the request body of a state change without body fields
NO_BODY = (
    "No body fields: send {} (or null, or no body at all), with 'Content-Type: application/json' all the same: "
    "the server refuses any state change that does not say JSON (415), so no form or cross-site page can send one"
)


def refine(document: OpenAPI, bodies: Iterable[type]) -> None:
    """Say in the OpenAPI `document` what the strict body reader enforces and Litestar does not know.

    Each body of `bodies` takes no other keys (`additionalProperties: false`) and gives one of the
    keys that say the same thing (`OneOf`); its fields' patterns, enums and ranges (`FIELD_RULES`);
    a route that takes `NoBody | None` says what it takes.
    """
    schemas = document.components.schemas or {}
    for cls in bodies:
        schema = schemas.get(cls.__name__)
        if schema is None:
            continue  # a body no route takes
        schema.additional_properties = False
        combined: list[Schema | Reference] = list(schema.all_of or [])
        for rule in getattr(cls, "ONE_OF", ()):
            # keys that say the same thing (bodies.OneOf): never two of them, and one of them when required
            combined.append(Schema(schema_not=Schema(required=list(rule.keys))))
            if rule.required:
                combined.append(Schema(any_of=[Schema(required=[key]) for key in rule.keys]))
        schema.all_of = combined or None
    for (name, field), rules in FIELD_RULES.items():
        prop = (schemas[name].properties or {})[field]
        assert isinstance(prop, Schema)
        # an optional field is `oneOf: [type, null]`: the rule goes on its own type
        target = next((s for s in prop.one_of or () if isinstance(s, Schema) and s.type != OpenAPIType.NULL), prop)
        for key, value in rules.items():
            setattr(target, key, value)
    # free-form JSON (a payload, a result): any JSON, but integers only as large as JSON readers hold exactly
    schemas[JSON_VALUE] = Schema(
        description=f"Any JSON value; integers from -{MAX_JSON_INTEGER} to {MAX_JSON_INTEGER} (2^53 - 1)",
        any_of=[
            Schema(type=OpenAPIType.NULL),
            Schema(type=OpenAPIType.BOOLEAN),
            Schema(type=OpenAPIType.STRING),
            Schema(type=OpenAPIType.INTEGER, minimum=-MAX_JSON_INTEGER, maximum=MAX_JSON_INTEGER),
            Schema(type=OpenAPIType.NUMBER, schema_not=Schema(type=OpenAPIType.INTEGER)),
            Schema(type=OpenAPIType.ARRAY, items=Reference(ref=f"#/components/schemas/{JSON_VALUE}")),
            Schema(type=OpenAPIType.OBJECT, additional_properties=Reference(ref=f"#/components/schemas/{JSON_VALUE}")),
        ],
    )
    for name, field in FREE_FORM:
        prop = (schemas[name].properties or {})[field]
        assert isinstance(prop, Schema)
        target = next((s for s in prop.one_of or () if isinstance(s, Schema) and s.type != OpenAPIType.NULL), prop)
        target.additional_properties = Reference(ref=f"#/components/schemas/{JSON_VALUE}")
    error = Reference(ref=f"#/components/schemas/{ErrorBody.__name__}")
    for item in (document.paths or {}).values():
        for operation in (item.get, item.post, item.put, item.patch, item.delete):
            for status, response in (operation.responses or {}).items() if operation is not None else ():
                if int(status) >= 400 and isinstance(response, OpenAPIResponse):
                    # Litestar documents its own validation error shape; errors.py answers ours
                    for media in (response.content or {}).values():
                        media.schema = error
        for operation in (item.post, item.put, item.patch):
            body = operation.request_body if operation is not None else None
            if isinstance(body, RequestBody) and "NoBody" in str(body.content):
                body.description = NO_BODY


class LiveJSONRenderPlugin(JsonRenderPlugin):
    """The OpenAPI JSON, with what changes while the server runs: the tools a task may name.

    The registry is configuration (`POST /api/reload` re-reads it), so `TaskCreate.tool_name`
    lists the tools the server knows when the document is asked for.
    """

    def __init__(self, tools: Callable[[], Iterable[str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tools = tools

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        names = sorted(self._tools())
        if not names:  # no tool at all: every task is refused (422), and an empty enum is no schema
            return super().render(request, openapi_schema)
        document = copy.deepcopy(openapi_schema)
        document["components"]["schemas"]["TaskCreate"]["properties"]["tool_name"]["enum"] = names
        return super().render(request, document)


# -- typed answers ----------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class SessionOut:
    """A session, as every route that answers one shows it."""

    id: str
    project_id: str
    name: str
    description: str | None
    status: Annotated[str, KwargDefinition(description="active or ended")]
    started_at: str
    ended_at: str | None
    created_at: str
    updated_at: str


@attrs.define(kw_only=True)
class OneSession:
    session: SessionOut


@attrs.define(kw_only=True)
class SessionList:
    sessions: list[SessionOut]


@attrs.define(kw_only=True)
class Health:
    status: Annotated[str, KwargDefinition(description="always ok")]
    timestamp: str


@attrs.define(kw_only=True)
class TaskCounts:
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int


@attrs.define(kw_only=True)
class StreamOut:
    """A stream with its session's name and its task counts, as every route that answers one shows it."""

    id: str
    session_id: str
    name: str
    instructions: str | None
    status: Annotated[str, KwargDefinition(description="active or ended")]
    created_at: str
    updated_at: str
    session_name: str
    task_counts: TaskCounts


@attrs.define(kw_only=True)
class OneStream:
    stream: StreamOut


@attrs.define(kw_only=True)
class StreamList:
    streams: list[StreamOut]


def answers(status: int, model: type, responses: dict[int, ResponseSpec]) -> dict[int, ResponseSpec]:
    """`responses` and the success answer `model` of a route that builds its JSON itself (the same keys)."""
    return {status: ResponseSpec(data_container=model, generate_examples=False, description="Success"), **responses}


@attrs.define(kw_only=True)
class StreamRef:
    """What a worker gets of a task's stream."""

    id: str
    name: str
    instructions: str | None


@attrs.define(kw_only=True)
class TaskOut:
    """The task object of the worker protocol (the CLI's `peek` JSON)."""

    id: str
    stream_id: str
    tool_name: str
    task_class: str
    payload: dict[str, Any]
    status: str
    timeout: int
    attempts: int
    result: dict[str, Any] | None
    error: str | None
    stdout: str | None
    stderr: str | None
    created_at: str
    updated_at: str
    started_at: str | None
    finished_at: str | None
    requeued_from: Annotated[str | None, KwargDefinition(description=REQUEUED_FROM)]
    failure_kind: Annotated[str | None, KwargDefinition(description=FAILURE_KIND)]
    error_type: Annotated[str | None, KwargDefinition(description=ERROR_TYPE)]
    heartbeat_at: Annotated[str | None, KwargDefinition(description=HEARTBEAT_AT)]
    progress: Annotated[str | None, KwargDefinition(description=PROGRESS)]
    requeued_to: Annotated[str | None, KwargDefinition(description=REQUEUED_TO)]


@attrs.define(kw_only=True)
class ClaimedTask(TaskOut):
    """A claimed task with its stream (the CLI's `claim` JSON)."""

    stream: StreamRef


@attrs.define(kw_only=True)
class TaskRow:
    """A task for lists and views; payload, result, stdout and stderr only in full rows."""

    id: str
    stream_id: str
    tool_name: str
    task_class: str
    status: str
    timeout: int
    attempts: int
    error: str | None
    created_at: str
    updated_at: str
    started_at: str | None
    finished_at: str | None
    requeued_from: Annotated[str | None, KwargDefinition(description=REQUEUED_FROM)]
    failure_kind: Annotated[str | None, KwargDefinition(description=FAILURE_KIND)]
    error_type: Annotated[str | None, KwargDefinition(description=ERROR_TYPE)]
    heartbeat_at: Annotated[str | None, KwargDefinition(description=HEARTBEAT_AT)]
    progress: Annotated[str | None, KwargDefinition(description=PROGRESS)]
    requeued_to: Annotated[str | None, KwargDefinition(description=REQUEUED_TO)]
    summary: str | None
    stale: bool
    auto_failed: Annotated[bool, KwargDefinition(description="failure_kind is auto")]
    duration_seconds: float | None
    running_seconds: float | None
    payload: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    stdout: str | None = None
    stderr: str | None = None


@attrs.define(kw_only=True)
class TaskView(TaskRow):
    stream: StreamRef


@attrs.define(kw_only=True)
class OneTask:
    task: TaskRow


@attrs.define(kw_only=True)
class OneTaskView:
    task: TaskView


@attrs.define(kw_only=True)
class TaskPage:
    tasks: list[TaskRow]
    total: int
    limit: int
    offset: int


@attrs.define(kw_only=True)
class RequeuedTasks:
    """What a bulk requeue did: the copies queued, the originals copied, the failed tasks of ended streams left."""

    tasks: Annotated[list[TaskRow], KwargDefinition(description="The new queued copies in FIFO order (dry_run: none)")]
    originals: Annotated[
        list[str], KwargDefinition(description="The failed tasks requeued (dry_run: that would be), in FIFO order")
    ]
    skipped: Annotated[
        list[str], KwargDefinition(description="Failed tasks that matched but whose stream has ended: not requeued")
    ]
    dry_run: bool


# -- system answers (status, overview, stats, tools, scripts, reload) --------------------------------

#: a count of things: never negative
Count = Annotated[int, KwargDefinition(schema_extra={"minimum": 0})]
#: a duration in seconds (rounded to milliseconds)
Seconds = Annotated[float, KwargDefinition(schema_extra={"minimum": 0})]


@attrs.define(kw_only=True)
class ServerOut:
    """The server answering: its process, where it listens, since when."""

    status: Annotated[str, KwargDefinition(description="always running", schema_extra={"enum": ["running"]})]
    pid: Annotated[int, KwargDefinition(ge=1)]
    port: Annotated[int, KwargDefinition(ge=1, le=65535)]
    url: str
    started_at: str


@attrs.define(kw_only=True)
class ActiveSession(SessionOut):
    """An active session with its active streams."""

    streams: list[StreamOut]


@attrs.define(kw_only=True)
class StatusOut:
    """The server, task counts per status over all streams, the active sessions, the stale tasks."""

    server: ServerOut
    counts: TaskCounts
    sessions: list[ActiveSession]
    stale: Annotated[int, KwargDefinition(description="Running tasks past their timeout", schema_extra={"minimum": 0})]


@attrs.define(kw_only=True)
class HourOut:
    hour: Annotated[str, KwargDefinition(description="The UTC hour, e.g. 2026-01-01T12:00:00Z")]
    succeeded: Count
    failed: Count


@attrs.define(kw_only=True)
class ToolDurationsOut:
    """How long a tool's succeeded tasks took, claim to finish."""

    tool_name: str
    count: Annotated[int, KwargDefinition(ge=1)]
    median_seconds: Seconds
    p90_seconds: Seconds


@attrs.define(kw_only=True)
class StatsOut:
    generated_at: str
    finished_per_hour: Annotated[
        list[HourOut], KwargDefinition(description="The last 24 hours, oldest first", min_items=24, max_items=24)
    ]
    tools: list[ToolDurationsOut]


@attrs.define(kw_only=True)
class SessionTally:
    active: Count
    ended: Count


@attrs.define(kw_only=True)
class OverviewOut:
    """Everything the dashboard shows, in one answer."""

    generated_at: str
    counts: TaskCounts
    sessions: SessionTally
    streams: list[StreamOut]
    tasks: list[TaskRow]
    total: Count
    stats: StatsOut


@attrs.define(kw_only=True)
class ToolOut:
    """A tool of the registry, its timeout resolved."""

    name: str
    task_class: Annotated[str, KwargDefinition(schema_extra={"enum": TASK_CLASSES})]
    timeout: Annotated[int, KwargDefinition(ge=1, le=MAX_TIMEOUT_SECONDS)]
    description: str
    payload_template: dict[str, Any] | None


@attrs.define(kw_only=True)
class ToolList:
    tools: list[ToolOut]


@attrs.define(kw_only=True)
class ScriptOut:
    """A script of the index, from its header."""

    name: str
    path: Annotated[str, KwargDefinition(description="Relative to the project folder, or absolute outside it")]
    description: str
    inputs: str
    outputs: str
    tags: list[str]


@attrs.define(kw_only=True)
class ScriptList:
    scripts: list[ScriptOut]


@attrs.define(kw_only=True)
class ReloadOut:
    """What a reload read."""

    config: Annotated[str, KwargDefinition(description="The config file read")]
    tools: Count
    scripts: Count
    warnings: list[str]
