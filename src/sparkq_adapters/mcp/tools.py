"""The eight MCP tools: what each says to an agent, the arguments it takes, and its one call into `Queue`.

No MCP SDK here: `server.py` serves these. Descriptions are short on purpose: a client puts
every tool's description and schema into its model's context on every turn (the whole
`tools/list` answer stays under 8 KB, tests/integration/test_mcp_stdio.py measures it).
Errors are `SparkQError`s with the CLI's words; arguments are checked here, against the same
schemas the client is shown, so an unknown or mistyped argument is refused with one clear line.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import attrs

from sparkq_domain import TaskClass, TaskStatus
from sparkq_domain.errors import InvalidInput, SparkQError
from sparkq_domain.limits import quoted

from ..cli.common import read_file
from ..serialization import claimed_to_dict, stream_counts_to_dict, task_row_dict

if TYPE_CHECKING:
    from sparkq_domain import Claimed, Queue, Task

#: the longest `wait` of the claim tool: many clients give up on a tool call after 60 s anyway
MAX_WAIT_SECONDS = 600
#: the most tasks one `tasks` call lists (a page of rows is context the agent pays for)
MAX_TASKS = 100

#: `wait(stream, seconds)`: claim the stream's next task, waiting up to `seconds` for one to be queued
ClaimWaiter = Callable[[str, float], Awaitable["Claimed | None"]]

INSTRUCTIONS = (
    "SparkQ is the developer's local task queue. Worker loop: `streams` (pick yours, read its instructions) -> "
    "`claim` (with wait) -> do the task as stream.instructions say -> `heartbeat` on long work -> `complete` "
    "with a summary, or `fail`; repeat. A stream that has ended is an error from claim: stop the loop."
)


@attrs.frozen(kw_only=True)
class Tool:
    name: str
    description: str
    #: JSON Schema of each argument
    properties: Mapping[str, Mapping[str, Any]]
    required: tuple[str, ...] = ()
    read_only: bool = False

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object", "properties": dict(self.properties)}
        if self.required:
            schema["required"] = list(self.required)
        schema["additionalProperties"] = False
        return schema


_TASK_ID = {"type": "string", "description": "tsk_…"}
_STREAM = {"type": "string", "description": "Stream name or id"}
_OUTPUT = {
    "stdout": {"type": "string", "description": "Captured stdout"},
    "stderr": {"type": "string", "description": "Captured stderr"},
}
#: output read from files by the server: only over stdio, where server and agent share a machine and a user
_OUTPUT_FILES = {
    "stdout_file": {"type": "string", "description": "Path of a file holding the stdout (for large output)"},
    "stderr_file": {"type": "string", "description": "Path of a file holding the stderr"},
}


def catalog(*, default_stream: str | None = None, files: bool = True) -> list[Tool]:
    """The tools, described for a server whose default stream is `default_stream` (None: none)."""
    stream_arg = (
        {**_STREAM, "description": f"Stream name or id (default: {default_stream})"} if default_stream else _STREAM
    )
    needs_stream = () if default_stream else ("stream",)
    output = {**_OUTPUT, **(_OUTPUT_FILES if files else {})}
    attach = "Attach output as stdout/stderr" + (" text, or stdout_file/stderr_file paths if large." if files else ".")
    return [
        Tool(
            name="streams",
            description=(
                "List streams with their instructions (the goal and what done means) and task counts. "
                "Start here: find your stream and read its instructions."
            ),
            properties={"status": {"enum": ["active", "ended"], "description": "Default: active"}},
            read_only=True,
        ),
        Tool(
            name="claim",
            description=(
                "Claim the oldest queued task of a stream: it becomes running and is returned with "
                "stream.instructions (read them every time). With wait, block up to that many seconds for a "
                "task; none yet: call again. An error saying the stream has ended: stop your loop."
            ),
            properties={
                "stream": stream_arg,
                "wait": {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS, "description": "Seconds"},
            },
            required=needs_stream,
        ),
        Tool(
            name="complete",
            description=(
                "Report your running task as succeeded. summary: what you did and the state it is in now, "
                'in a sentence or two ("Added POST /login; 14 tests pass"), never just "Done". Put other '
                f"details in result (files, tests, notes). {attach}"
            ),
            properties={
                "task_id": _TASK_ID,
                "summary": {"type": "string"},
                "result": {"type": "object", "description": "More result keys"},
                **output,
            },
            required=("task_id", "summary"),
        ),
        Tool(
            name="fail",
            description=(
                "Report your running task as failed: error says what went wrong. When the instructions are "
                'unclear or a decision is the developer\'s, do not guess: fail with an error starting "QUESTION:" '
                f"that offers the options; the task comes back once they answer. {attach}"
            ),
            properties={
                "task_id": _TASK_ID,
                "error": {"type": "string"},
                "error_type": {"type": "string", "description": "Short category, e.g. TestFailure"},
                **output,
            },
            required=("task_id", "error"),
        ),
        Tool(
            name="heartbeat",
            description=(
                "Say you are still working on a running task, with a short progress note. Send one at each "
                "milestone and at least once per the task's timeout: a task silent for twice its timeout is "
                "auto-failed. Refused: the task has ended, stop working on it and do not report it."
            ),
            properties={"task_id": _TASK_ID, "note": {"type": "string", "description": "At most 1 KiB"}},
            required=("task_id",),
        ),
        Tool(
            name="enqueue",
            description="Queue a task at the back of a stream; returns its id.",
            properties={
                "stream": stream_arg,
                "tool": {"type": "string", "description": "A tool of the registry, e.g. run-bash"},
                "payload": {"type": "object", "description": "The tool's input"},
                "timeout": {"type": "integer", "minimum": 1, "description": "Seconds (default: the tool's)"},
                "task_class": {"enum": [c.value for c in TaskClass]},
            },
            required=(*needs_stream, "tool", "payload"),
        ),
        Tool(
            name="tasks",
            description="List tasks, newest first, without their payload and output (task shows one in full).",
            properties={
                "stream": _STREAM,
                "status": {"enum": [s.value for s in TaskStatus]},
                "stale": {"type": "boolean", "description": "Only running tasks past their timeout"},
                "tool": {"type": "string"},
                "search": {"type": "string", "description": "Text in id, summary, error, note or payload"},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_TASKS, "description": "Default 20"},
            },
            read_only=True,
        ),
        Tool(
            name="task",
            description="Show one task in full: payload, result, error, output, times and its stream's instructions.",
            properties={"task_id": _TASK_ID},
            required=("task_id",),
            read_only=True,
        ),
    ]


class Toolbox:
    """The tools of one MCP server over `queue`: listed once, each call checked then made in a worker thread."""

    def __init__(
        self, queue: Queue, wait_claim: ClaimWaiter, *, default_stream: str | None = None, files: bool = True
    ) -> None:
        self._queue = queue
        self._wait_claim = wait_claim
        self._default_stream = default_stream
        self._files = files
        self.tools = {tool.name: tool for tool in catalog(default_stream=default_stream, files=files)}
        self._calls: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
            "streams": self._streams,
            "claim": self._claim,
            "complete": self._complete,
            "fail": self._fail,
            "heartbeat": self._heartbeat,
            "enqueue": self._enqueue,
            "tasks": self._tasks,
            "task": self._task,
        }

    async def call(self, name: str, arguments: Mapping[str, Any] | None) -> Any:
        """Call tool `name`: its answer as JSON-ready data, or a sentence; a `SparkQError` when refused."""
        tool = self.tools.get(name)
        if tool is None:
            raise InvalidInput(f"Unknown tool {quoted(name)}; the tools are: {', '.join(self.tools)}")
        if "stream" in tool.required and (arguments or {}).get("stream") is None:
            await self._stream_of({}, name)  # says where work waits, rather than only what is missing
        args = check_arguments(tool, arguments or {}, files=self._files)
        return await self._calls[name](args)

    # -- the tools -------------------------------------------------------------------------------

    async def _streams(self, args: dict[str, Any]) -> Any:
        items = await _in_thread(lambda: self._queue.list_streams(status=args.get("status", "active")))
        return [stream_counts_to_dict(item) for item in items]

    async def _claim(self, args: dict[str, Any]) -> Any:
        stream = await self._stream_of(args, "claim")
        wait = float(args.get("wait", 0))
        if wait > 0:
            claimed = await self._wait_claim(stream, wait)
        else:
            claimed = await _in_thread(lambda: self._queue.claim(stream))
        if claimed is None:
            waited = f" within {wait:g} s" if wait > 0 else ""
            return f"No task was queued in stream {quoted(stream)}{waited}; call claim again (with wait) for the next."
        return claimed_to_dict(claimed.task, claimed.stream)

    async def _complete(self, args: dict[str, Any]) -> Any:
        result = dict(args.get("result") or {})
        if "summary" in result:
            raise InvalidInput("Give the summary as the summary argument, not inside result")
        result = {"summary": args["summary"], **result}

        def complete() -> Task:
            stdout, stderr = self._output(args)  # in the thread too: a large output file is read off the loop
            return self._queue.complete(args["task_id"], result, stdout=stdout, stderr=stderr)

        task = await _in_thread(complete)
        return {"id": task.id, "status": task.status.value}

    async def _fail(self, args: dict[str, Any]) -> Any:
        def fail() -> Task:
            stdout, stderr = self._output(args)
            return self._queue.fail(
                args["task_id"], args["error"], error_type=args.get("error_type"), stdout=stdout, stderr=stderr
            )

        task = await _in_thread(fail)
        return {"id": task.id, "status": task.status.value}

    async def _heartbeat(self, args: dict[str, Any]) -> Any:
        task = await _in_thread(lambda: self._queue.heartbeat(args["task_id"], args.get("note")))
        return {"id": task.id, "status": task.status.value, "progress": task.progress}

    async def _enqueue(self, args: dict[str, Any]) -> Any:
        stream = await self._stream_of(args, "enqueue")
        task = await _in_thread(
            lambda: self._queue.enqueue(
                stream, args["tool"], args["payload"], timeout=args.get("timeout"), task_class=args.get("task_class")
            )
        )
        return {"id": task.id, "status": task.status.value, "timeout": task.timeout}

    async def _tasks(self, args: dict[str, Any]) -> Any:
        page = await _in_thread(
            lambda: self._queue.list_tasks(
                stream=args.get("stream"),
                status=args.get("status"),
                stale=args.get("stale", False),
                limit=args.get("limit", 20),
                tool=args.get("tool"),
                search=args.get("search"),
            )
        )
        now = self._queue.now()
        return {"tasks": [task_row_dict(t, now) for t in page.tasks], "total": page.total}

    async def _task(self, args: dict[str, Any]) -> Any:
        detail = await _in_thread(lambda: self._queue.task_detail(args["task_id"]))
        return claimed_to_dict(detail.task, detail.stream)

    # -- helpers ---------------------------------------------------------------------------------

    async def _stream_of(self, args: dict[str, Any], tool: str) -> str:
        stream = args.get("stream", self._default_stream)
        if stream is not None:
            return str(stream)
        # without a default stream, where the schema requires one
        waiting = await _in_thread(self._queue.queued_by_stream)
        where = ", ".join(f"{s.stream.name} ({s.counts[TaskStatus.QUEUED]} queued)" for s in waiting)
        raise InvalidInput(
            f"{tool} needs a stream: pass stream (the streams tool lists them), or start the server with "
            f"`sparkq mcp --stream NAME`. "
            + (f"Streams with queued tasks: {where}" if where else "No stream has queued tasks right now.")
        )

    def _output(self, args: dict[str, Any]) -> tuple[str | None, str | None]:
        return _text(args, "stdout"), _text(args, "stderr")


def _text(args: dict[str, Any], name: str) -> str | None:
    """An output given inline (`stdout`) or as a file path (`stdout_file`), not both."""
    path = args.get(f"{name}_file")
    if path is None:
        value = args.get(name)
        return None if value is None else str(value)
    if name in args:
        raise InvalidInput(f"Give either {name} or {name}_file, not both")
    if path in ("", "-"):
        # over stdio, standard input is the MCP connection itself
        raise InvalidInput(f"{name}_file needs the path of a file (standard input carries the MCP messages)")
    return read_file(str(path), name)


async def _in_thread(call: Callable[[], Any]) -> Any:
    """Run a blocking `Queue` call off the event loop (the store may wait for a lock)."""
    return await anyio.to_thread.run_sync(call)


# -- argument checking -------------------------------------------------------------------------------

_KINDS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
}


def check_arguments(tool: Tool, arguments: Mapping[str, Any], *, files: bool = True) -> dict[str, Any]:
    """`arguments` if they fit `tool`'s schema; else `InvalidInput` naming the argument and what it takes."""
    if not isinstance(arguments, Mapping):
        raise InvalidInput(f"The arguments of {tool.name} must be a JSON object")
    for name in arguments:
        if name not in tool.properties:
            hint = ""
            if name.endswith("_file") and not files:
                hint = " (a server reads output files only over stdio, `sparkq mcp`; over HTTP pass the text)"
            takes = ", ".join(tool.properties) or "no arguments"
            raise InvalidInput(f"Unknown argument {quoted(name)} for {tool.name}{hint}; it takes: {takes}")
    for name in tool.required:
        if arguments.get(name) is None:
            raise InvalidInput(f"{tool.name} needs the argument {quoted(name)}")
    checked: dict[str, Any] = {}
    for name, value in arguments.items():
        if value is None:
            continue  # an optional argument left out, as some clients send it
        _check_value(tool.name, name, value, tool.properties[name])
        checked[name] = value
    return checked


def _check_value(tool: str, name: str, value: Any, rule: Mapping[str, Any]) -> None:
    where = f"The argument {quoted(name)} of {tool}"
    if "enum" in rule:
        if value not in rule["enum"]:
            raise InvalidInput(f"{where} must be one of: {', '.join(rule['enum'])}; got {quoted(value)}")
        return
    kind = rule["type"]
    # a JSON true is not a number, though Python's bool is an int
    if not isinstance(value, _KINDS[kind]) or (kind != "boolean" and isinstance(value, bool)):
        raise InvalidInput(f"{where} must be {_ARTICLE[kind]}, got {_kind_of(value)}")
    if kind in ("integer", "number"):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(f"{where} must be a finite number")
        if "minimum" in rule and value < rule["minimum"]:
            raise InvalidInput(f"{where} must be at least {rule['minimum']}, got {value}")
        if "maximum" in rule and value > rule["maximum"]:
            raise InvalidInput(f"{where} must be at most {rule['maximum']}, got {value}")


_ARTICLE = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a JSON object",
}


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    for kind, types in _KINDS.items():
        if kind != "number" and isinstance(value, types):
            return _ARTICLE[kind]
    if isinstance(value, float):
        return "a number"
    return "an array" if isinstance(value, list) else type(value).__name__


__all__ = ["INSTRUCTIONS", "MAX_WAIT_SECONDS", "ClaimWaiter", "SparkQError", "Tool", "Toolbox", "catalog"]
