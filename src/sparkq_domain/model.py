"""Entities and the task state machine: the only place a task's status changes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import attrs

from .errors import InvalidInput, InvalidTransition, TooLarge
from .limits import MAX_ERROR_BYTES, MAX_PROGRESS_BYTES, fit_text, quoted

JSONObject = dict[str, Any]


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: taken off the queue before any worker claimed it (terminal, like succeeded and failed)
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """A terminal status: the task will not run (again); purge deletes it, requeue copies it."""
        return self in FINISHED_STATUSES


class FailureKind(StrEnum):
    """Why a task ended without success: a recorded fact, never read back out of the error text.

    NULL (None) for a task that has not ended so; set by the transition that ends it.
    """

    #: a worker (or the developer) reported the failure, with its error message
    ERROR = "error"
    #: the sweep failed it: no complete/fail came within twice its timeout
    AUTO = "auto"
    #: it was cancelled while queued (the reason, if any, is its `error`)
    CANCELLED = "cancelled"


#: the statuses a task ends in
FINISHED_STATUSES = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED})


class TaskClass(StrEnum):
    FAST_SCRIPT = "FAST_SCRIPT"
    MEDIUM_SCRIPT = "MEDIUM_SCRIPT"
    LLM_LITE = "LLM_LITE"
    LLM_HEAVY = "LLM_HEAVY"


class Status(StrEnum):
    """Status of a session or a stream."""

    ACTIVE = "active"
    ENDED = "ended"


DEFAULT_CLASS_TIMEOUTS: Mapping[TaskClass, int] = {
    TaskClass.FAST_SCRIPT: 30,
    TaskClass.MEDIUM_SCRIPT: 300,
    TaskClass.LLM_LITE: 300,
    TaskClass.LLM_HEAVY: 900,
}

#: A timeout above this is almost certainly a typo (30 days).
MAX_TIMEOUT_SECONDS = 30 * 24 * 3600

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

#: an error type is a category (e.g. TestFailure); details go in the error message
MAX_ERROR_TYPE_CHARS = 200

#: the reason recorded on the queued tasks of a stream that ends
STREAM_ENDED_REASON = "stream ended"

#: How far a running task's last sign of life may lie after "now" and still not count as a clock that went back.
#: Machines that share a PostgreSQL database each read their own clock, a few milliseconds (NTP) to seconds apart,
#: and a claim that read its time just before another machine's claim committed sees that start a moment ahead:
#: neither is a jump back, and recounting would rewrite another worker's start and heartbeat. A real jump back
#: by less than this only delays the task's stale and dead verdicts by as much.
CLOCK_TOLERANCE = timedelta(seconds=60)

#: an age: at most five digits (99999w, about 1,900 years, still leaves a date after year 1) and a unit; spaces
#: only as blanks, so that the API schema's pattern (ECMA regex) takes exactly what this takes
_AGE = re.compile(r" *(\d{1,5}) *([hdwHDW]) *")
_AGE_UNITS = {"h": "hours", "d": "days", "w": "weeks"}

AUTO_FAIL_MESSAGE = (
    "Auto-failed: task exceeded 2x timeout ({timeout}s) with no complete/fail reported. "
    "Likely worker crash or disconnect."
)


def validate_name(kind: str, name: str) -> str:
    """Return `name` if it is a valid session/stream name, else raise InvalidInput."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InvalidInput(
            f"Invalid {kind} name {quoted(name)}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. 'api-v2')"
        )
    return name


def parse_age(text: str, what: str = "age") -> timedelta:
    """`12h`, `3d`, `2w` as a timedelta; anything else raises InvalidInput naming the accepted forms."""
    match = _AGE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(
            f"Invalid {what} {quoted(text)}: use a whole number (at most 5 digits) followed by h, d or w, "
            "e.g. 12h, 3d, 2w"
        )
    number, unit = int(match.group(1)), match.group(2).lower()
    return timedelta(**{_AGE_UNITS[unit]: number})


def validate_timeout(timeout: int) -> int:
    """Return `timeout` if it is a whole number of seconds in range, else raise InvalidInput."""
    if isinstance(timeout, bool) or not isinstance(timeout, int):
        raise InvalidInput(f"Invalid timeout {quoted(timeout)}: give a whole number of seconds")
    if not 1 <= timeout <= MAX_TIMEOUT_SECONDS:
        raise InvalidInput(f"Invalid timeout {timeout}: must be between 1 and {MAX_TIMEOUT_SECONDS} seconds")
    return timeout


@attrs.frozen(kw_only=True)
class Project:
    id: str
    name: str
    repo_path: str | None = None
    prd_path: str | None = None
    created_at: datetime
    updated_at: datetime


@attrs.frozen(kw_only=True)
class Session:
    id: str
    project_id: str
    name: str
    description: str | None = None
    status: Status = Status.ACTIVE
    started_at: datetime
    ended_at: datetime | None = None
    created_at: datetime
    updated_at: datetime

    def end(self, now: datetime) -> Session:
        return attrs.evolve(self, status=Status.ENDED, ended_at=now, updated_at=now)


@attrs.frozen(kw_only=True)
class Stream:
    id: str
    session_id: str
    name: str
    instructions: str | None = None
    status: Status = Status.ACTIVE
    created_at: datetime
    updated_at: datetime

    def end(self, now: datetime) -> Stream:
        return attrs.evolve(self, status=Status.ENDED, updated_at=now)


@attrs.frozen(kw_only=True)
class StreamCounts:
    """A stream with the number of its tasks in each status."""

    stream: Stream
    session_name: str
    counts: Mapping[TaskStatus, int]


@attrs.frozen(kw_only=True)
class ToolSpec:
    name: str
    description: str = ""
    task_class: TaskClass = TaskClass.MEDIUM_SCRIPT
    timeout: int | None = None
    payload_template: JSONObject | None = None


@attrs.frozen(kw_only=True)
class Registry:
    """The known tools and the default timeout of each task class."""

    class_timeouts: Mapping[TaskClass, int] = attrs.field(factory=lambda: dict(DEFAULT_CLASS_TIMEOUTS))
    tools: Mapping[str, ToolSpec] = attrs.field(factory=dict)

    def tool(self, name: str) -> ToolSpec:
        try:
            return self.tools[name]
        except KeyError:
            known = ", ".join(sorted(self.tools)) or "(none configured)"
            raise InvalidInput(f"Unknown tool {quoted(name)}. Known tools: {known}") from None

    def resolve(
        self, tool_name: str, *, timeout: int | None = None, task_class: TaskClass | str | None = None
    ) -> tuple[TaskClass, int]:
        """Return the task class and timeout: enqueue override, else tool, else class default."""
        tool = self.tool(tool_name)
        cls = tool.task_class if task_class is None else parse_task_class(task_class)
        if timeout is not None:
            return cls, validate_timeout(timeout)
        if tool.timeout is not None:
            return cls, tool.timeout
        return cls, self.class_timeouts.get(cls, DEFAULT_CLASS_TIMEOUTS[cls])


def parse_task_class(value: TaskClass | str) -> TaskClass:
    try:
        return TaskClass(value)
    except ValueError:
        known = ", ".join(c.value for c in TaskClass)
        raise InvalidInput(f"Unknown task class {quoted(value)}. Use one of: {known}") from None


DEFAULT_TOOLS: Mapping[str, ToolSpec] = {
    t.name: t
    for t in (
        ToolSpec(name="run-bash", description="Execute a bash script", task_class=TaskClass.MEDIUM_SCRIPT),
        ToolSpec(name="run-bash-fast", description="Quick bash utility", task_class=TaskClass.FAST_SCRIPT, timeout=30),
        ToolSpec(name="run-python", description="Execute a python script", task_class=TaskClass.MEDIUM_SCRIPT),
        ToolSpec(
            name="run-migrations",
            description="Run database migrations",
            task_class=TaskClass.MEDIUM_SCRIPT,
            timeout=1800,
        ),
        ToolSpec(
            name="llm-haiku", description="Delegate a focused task to a light model", task_class=TaskClass.LLM_LITE
        ),
        ToolSpec(name="llm-sonnet", description="Complex reasoning task", task_class=TaskClass.LLM_HEAVY),
    )
}


def default_registry() -> Registry:
    return Registry(class_timeouts=dict(DEFAULT_CLASS_TIMEOUTS), tools=dict(DEFAULT_TOOLS))


# --- the task state machine -------------------------------------------------------------------

#: action -> (statuses it may start from, status it leads to)
TRANSITIONS: Mapping[str, tuple[frozenset[TaskStatus], TaskStatus]] = {
    "claim": (frozenset({TaskStatus.QUEUED}), TaskStatus.RUNNING),
    "complete": (frozenset({TaskStatus.RUNNING}), TaskStatus.SUCCEEDED),
    "fail": (frozenset({TaskStatus.RUNNING}), TaskStatus.FAILED),
    "auto-fail": (frozenset({TaskStatus.RUNNING}), TaskStatus.FAILED),
    "heartbeat": (frozenset({TaskStatus.RUNNING}), TaskStatus.RUNNING),
    "cancel": (frozenset({TaskStatus.QUEUED}), TaskStatus.CANCELLED),
    # the copy starts queued; the original stays in its status and only learns the copy's id
    "requeue": (FINISHED_STATUSES, TaskStatus.QUEUED),
}


@attrs.frozen(kw_only=True)
class TaskChange:
    """One transition as a store executes it: the status it starts from and every field it sets.

    The domain computes each value; a store applies the change atomically and only while the task
    is still in `from_status` (compare-and-set), so two writers racing on it get one winner.
    `Task.apply` is the same change on an entity.
    """

    action: str
    from_status: TaskStatus
    #: field name -> new value, as the entity holds it
    values: Mapping[str, Any]
    #: a claim counts an attempt: one more than the task has when the store applies the change
    counts_attempt: bool = False


def _change(action: str, *, counts_attempt: bool = False, **values: Any) -> TaskChange:
    allowed, target = TRANSITIONS[action]
    (start,) = allowed  # every action a store executes as a compare-and-set starts from one status
    return TaskChange(
        action=action, from_status=start, values={"status": target, **values}, counts_attempt=counts_attempt
    )


def claim_change(now: datetime) -> TaskChange:
    return _change("claim", started_at=now, updated_at=now, counts_attempt=True)


def complete_change(
    result: JSONObject, now: datetime, *, stdout: str | None = None, stderr: str | None = None
) -> TaskChange:
    validate_result(result)
    return _change("complete", result=result, stdout=stdout, stderr=stderr, finished_at=now, updated_at=now)


def fail_change(
    error: str,
    now: datetime,
    *,
    error_type: str | None = None,
    stdout: str | None = None,
    stderr: str | None = None,
) -> TaskChange:
    if not isinstance(error, str) or not error.strip():
        raise InvalidInput("An error message is required to fail a task (e.g. --error 'tests fail: ...')")
    return _change(
        "fail",
        error=error,
        error_type=validate_error_type(error_type),
        failure_kind=FailureKind.ERROR,
        stdout=stdout,
        stderr=stderr,
        finished_at=now,
        updated_at=now,
    )


def auto_fail_change(timeout: int, now: datetime) -> TaskChange:
    return _change(
        "auto-fail",
        error=AUTO_FAIL_MESSAGE.format(timeout=timeout),
        failure_kind=FailureKind.AUTO,
        finished_at=now,
        updated_at=now,
    )


def heartbeat_change(now: datetime, note: str | None = None) -> TaskChange:
    """A sign of life from a running task's worker; with a note, its progress (the latest kept)."""
    values: dict[str, Any] = {"heartbeat_at": now, "updated_at": now}
    if note is not None:
        values["progress"] = check_progress(note)
    # the status stays: a heartbeat is a compare-and-set on running that leaves it running
    return TaskChange(action="heartbeat", from_status=TaskStatus.RUNNING, values=values)


def cancel_change(now: datetime, reason: str | None = None) -> TaskChange:
    """Take a queued task off the queue; the reason is kept as its error, the kind says cancelled."""
    text = fit_text(reason, MAX_ERROR_BYTES, "reason") if reason is not None else None
    return _change(
        "cancel",
        error=(text or "").strip() or None,
        failure_kind=FailureKind.CANCELLED,
        finished_at=now,
        updated_at=now,
    )


def requeued_change(original: Task, copy_id: str) -> TaskChange:
    """Record on a finished task the id of its copy; nothing else of it changes."""
    return TaskChange(action="requeue", from_status=original.status, values={"requeued_to": copy_id})


def check_progress(note: str) -> str:
    """Return a progress note if it is non-blank text within `MAX_PROGRESS_BYTES`, else raise InvalidInput."""
    if not isinstance(note, str):
        raise InvalidInput(f"The progress note must be text, not {type(note).__name__}")
    if not note.strip():
        raise InvalidInput("The progress note is blank: give a short note (e.g. 'tests written, 3/5 pass') or none")
    size = len(note.encode("utf-8", "surrogatepass"))
    if size > MAX_PROGRESS_BYTES:
        raise TooLarge(
            f"The progress note is {size:,} bytes: at most {MAX_PROGRESS_BYTES:,} bytes (1 KiB) are kept; "
            "say where the work stands in a line or two and put details in the result"
        )
    return fit_text(note, MAX_PROGRESS_BYTES, "progress note") or note


def validate_error_type(error_type: str | None) -> str | None:
    """Return a failure's category without surrounding blanks (None when blank), else raise InvalidInput."""
    if error_type is None:
        return None
    if not isinstance(error_type, str):
        raise InvalidInput(f"The error type must be text such as 'TestFailure', not {type(error_type).__name__}")
    # the length as given: blanks count, so the rule is the one the API schema states (maxLength)
    if len(error_type) > MAX_ERROR_TYPE_CHARS:
        raise InvalidInput(
            f"The error type is {len(error_type):,} characters long: give a short category such as 'TestFailure' "
            f"(at most {MAX_ERROR_TYPE_CHARS} characters) and the details in the error message"
        )
    # text that is not Unicode is refused as in a message (a 200-character type is never cut)
    return (fit_text(error_type, MAX_ERROR_BYTES, "error type") or "").strip() or None


def recount_change(now: datetime) -> TaskChange:
    """Count a running task's stale/dead time from `now` (see `Task.recount_from`).

    A heartbeat after `now` is as impossible as such a start: it goes too, so the last sign of life is `now`.
    """
    return TaskChange(
        action="recount",
        from_status=TaskStatus.RUNNING,
        values={"started_at": now, "heartbeat_at": None, "updated_at": now},
    )


@attrs.frozen(kw_only=True)
class Task:
    id: str
    stream_id: str
    tool_name: str
    task_class: TaskClass
    payload: JSONObject
    status: TaskStatus = TaskStatus.QUEUED
    timeout: int
    attempts: int = 0
    result: JSONObject | None = None
    error: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: the id of the finished task this one was requeued from
    requeued_from: str | None = None
    #: why it failed (set with the failed status, None otherwise)
    failure_kind: FailureKind | None = None
    #: the failure's category as the reporter gave it (e.g. TestFailure), apart from the message
    error_type: str | None = None
    #: the last heartbeat of its worker while running
    heartbeat_at: datetime | None = None
    #: the latest progress note its worker sent with a heartbeat
    progress: str | None = None
    #: the id of the copy this task was requeued as
    requeued_to: str | None = None

    # -- transitions: each returns a new Task ------------------------------------------------

    def apply(self, change: TaskChange) -> Task:
        """Return this task with `change` applied (the caller has checked that it may be)."""
        if change.counts_attempt:
            return attrs.evolve(self, attempts=self.attempts + 1, **change.values)
        return attrs.evolve(self, **change.values)

    def _check(self, action: str) -> None:
        allowed, _ = TRANSITIONS[action]
        if self.status not in allowed:
            raise InvalidTransition(self.id, action, self.status.value)

    def claim(self, now: datetime) -> Task:
        self._check("claim")
        return self.apply(claim_change(now))

    def complete(
        self, result: JSONObject, now: datetime, *, stdout: str | None = None, stderr: str | None = None
    ) -> Task:
        self._check("complete")
        return self.apply(complete_change(result, now, stdout=stdout, stderr=stderr))

    def fail(
        self,
        error: str,
        now: datetime,
        *,
        error_type: str | None = None,
        stdout: str | None = None,
        stderr: str | None = None,
    ) -> Task:
        self._check("fail")
        return self.apply(fail_change(error, now, error_type=error_type, stdout=stdout, stderr=stderr))

    def auto_fail(self, now: datetime) -> Task:
        self._check("auto-fail")
        return self.apply(auto_fail_change(self.timeout, now))

    def heartbeat(self, now: datetime, note: str | None = None) -> Task:
        self._check("heartbeat")
        return self.apply(heartbeat_change(now, note))

    def cancel(self, now: datetime, reason: str | None = None) -> Task:
        self._check("cancel")
        return self.apply(cancel_change(now, reason))

    def recount_from(self, now: datetime) -> Task:
        """Restart the stale/dead count of a running task whose start lies after `now` (see `starts_after`).

        Only a clock that jumped back puts a start in the future. Left alone, such a task could
        not become stale or dead until the clock caught up again (for a jump of a day, a day);
        counted from `now`, it gets its full timeout and no more.
        """
        return self.apply(recount_change(now)) if self.starts_after(now) else self

    def starts_after(self, now: datetime) -> bool:
        """Running, with its last sign of life (start or heartbeat) more than `CLOCK_TOLERANCE` after `now`:
        the clock went back."""
        alive = self.last_alive
        return self.status is TaskStatus.RUNNING and alive is not None and alive > now + CLOCK_TOLERANCE

    def requeue(self, new_id: str, now: datetime) -> Task:
        """Return a queued clone of this finished task; this task itself stays as it is.

        A task is requeued at most once: its copy is where the work goes on (requeue that one).
        """
        self._check("requeue")
        if self.requeued_to is not None:
            raise InvalidTransition(
                self.id,
                "requeue",
                self.status.value,
                detail=f"already requeued as {self.requeued_to}: requeue that copy instead",
            )
        return Task(
            id=new_id,
            stream_id=self.stream_id,
            tool_name=self.tool_name,
            task_class=self.task_class,
            payload=self.payload,
            timeout=self.timeout,
            created_at=now,
            updated_at=now,
            requeued_from=self.id,
        )

    # -- derived views -----------------------------------------------------------------------

    def running_for(self, now: datetime) -> timedelta | None:
        if self.status is not TaskStatus.RUNNING or self.started_at is None:
            return None
        return max(now - self.started_at, timedelta(0))

    @property
    def last_alive(self) -> datetime | None:
        """The last sign of life of its worker: `max(started_at, heartbeat_at)` (None before a claim).

        Stale and dead count from here: a task that heartbeats at least once per timeout is neither.
        """
        if self.heartbeat_at is None or self.started_at is None:
            return self.started_at
        return max(self.started_at, self.heartbeat_at)

    def silent_for(self, now: datetime) -> timedelta | None:
        """How long a running task has gone without a sign of life (never negative)."""
        alive = self.last_alive
        if self.status is not TaskStatus.RUNNING or alive is None:
            return None
        return max(now - alive, timedelta(0))

    def is_stale(self, now: datetime) -> bool:
        """Silent for longer than its timeout: shown with a warning."""
        silent = self.silent_for(now)
        return silent is not None and silent > timedelta(seconds=self.timeout)

    def is_dead(self, now: datetime) -> bool:
        """Silent for longer than twice its timeout: due to be auto-failed."""
        return self.status is TaskStatus.RUNNING and self.overdue(now)

    def overdue(self, now: datetime) -> bool:
        """Last alive more than twice its timeout before `now`, whatever its status is now.

        A report applied as a compare-and-set comes back finished: this says whether it came in
        after the task had died (its start and heartbeat are what the report left unchanged).
        """
        alive = self.last_alive
        return alive is not None and now - alive > timedelta(seconds=2 * self.timeout)

    @property
    def auto_failed(self) -> bool:
        return self.failure_kind is FailureKind.AUTO

    def duration(self) -> timedelta | None:
        """Time from claim to finish, never negative (clocks can jump back)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return max(self.finished_at - self.started_at, timedelta(0))


def validate_result(result: object) -> JSONObject:
    if not isinstance(result, dict):
        raise InvalidInput('The result must be a JSON object with a "summary", e.g. {"summary": "Added login route"}')
    summary = result.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        raise InvalidInput(
            'The result needs a non-empty string "summary" saying what was done, '
            'e.g. {"summary": "Added login route; 12 tests pass"}'
        )
    return result


def new_task(
    *,
    task_id: str,
    stream_id: str,
    tool_name: str,
    task_class: TaskClass,
    payload: object,
    timeout: int,
    now: datetime,
) -> Task:
    if not isinstance(payload, dict):
        raise InvalidInput('The payload must be a JSON object, e.g. {"script": "scripts/build.sh"}')
    return Task(
        id=task_id,
        stream_id=stream_id,
        tool_name=tool_name,
        task_class=task_class,
        payload=payload,
        timeout=validate_timeout(timeout),
        created_at=now,
        updated_at=now,
    )
