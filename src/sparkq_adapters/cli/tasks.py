"""The worker protocol (`enqueue`, `peek`, `claim`, `complete`, `fail`, `requeue`) and reviewing
(`tasks`, `task`, `purge`).

Agents call `peek`/`claim`/`complete` in loops, so this module imports only what those need:
no cattrs, YAML, HTTP or terminal libraries.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Literal

from cyclopts import Parameter

from sparkq_domain import InvalidInput
from sparkq_domain import parse_age as domain_age

from ..serialization import claimed_to_dict, task_row_dict, task_to_dict
from . import common, output, worker
from .injected import Ctx

if TYPE_CHECKING:
    from sparkq_domain import Task

TaskStatusFilter = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TaskClassName = Literal["FAST_SCRIPT", "MEDIUM_SCRIPT", "LLM_LITE", "LLM_HEAVY"]

JsonFlag = Annotated[bool, Parameter(help="Print the task as JSON instead of its id.", show_default=False)]
# Values may start with a hyphen: `-` means standard input, and output text often begins with one.
StdoutOpt = Annotated[
    str | None, Parameter(allow_leading_hyphen=True, help="The worker's captured stdout (`@path` or `-` also work).")
]
StderrOpt = Annotated[
    str | None, Parameter(allow_leading_hyphen=True, help="The worker's captured stderr (`@path` or `-` also work).")
]
StdoutFileOpt = Annotated[
    str | None, Parameter(allow_leading_hyphen=True, help="Read the stdout from this file ('-' = standard input).")
]
StderrFileOpt = Annotated[
    str | None, Parameter(allow_leading_hyphen=True, help="Read the stderr from this file ('-' = standard input).")
]

PAYLOAD_EXAMPLE = '{"script": "scripts/test.sh"}'
RESULT_EXAMPLE = '{"summary": "Added login route; 12 tests pass"}'


# -- the worker protocol ---------------------------------------------------------------------------


def enqueue(
    tool: Annotated[str, Parameter(help="A tool from the registry (`sparkq tools` lists them).")],
    payload: Annotated[
        str, Parameter(allow_leading_hyphen=True, help="The tool's input: a JSON object, `@path`, or `-` for stdin.")
    ],
    /,
    *,
    stream: Annotated[str, Parameter(help="The stream to queue into (its name or id).")],
    timeout: Annotated[int | None, Parameter(help="Seconds before the task is stale (default: tool/class).")] = None,
    task_class: Annotated[
        TaskClassName | None, Parameter(name="--class", help="Task class (default: the tool's class).")
    ] = None,
    json: JsonFlag = False,
    ctx: Ctx,
) -> None:
    """Queue a task at the back of a stream and print its id.

    Tasks of a stream are claimed strictly in the order they were queued.
    The timeout comes from --timeout, else the tool, else the task class.

        Examples:
          sparkq enqueue run-bash '{"script": "scripts/test.sh"}' --stream auth
          sparkq enqueue llm-sonnet @task.json --stream auth --timeout 1800
          echo '{"prompt": "Tidy up"}' | sparkq enqueue llm-haiku - --stream auth
    """
    _single_stdin(payload)
    body = common.read_json_object(payload, "payload", PAYLOAD_EXAMPLE)
    task = ctx.queue().enqueue(stream, tool, body, timeout=timeout, task_class=task_class)
    if json:
        output.print_json(task_to_dict(task))
    else:
        output.emit(task.id)


def peek(
    *,
    stream: Annotated[str, Parameter(help="The stream to look at (its name or id).")],
    ctx: Ctx,
) -> None:
    """Print the next queued task of a stream as one line of JSON, changing nothing.

    Prints nothing (exit 0) when the stream has no queued task; a stream that has
    ended (or whose session has) is an error (exit 1), as for `claim`.

        Examples:
          sparkq peek --stream auth
          [ -n "$(sparkq peek --stream auth)" ] && echo "work waiting"
    """
    worker.print_peek(ctx, stream)


def claim(
    *,
    stream: Annotated[str | None, Parameter(help="The stream to claim from (required).")] = None,
    wait: Annotated[
        list[str] | None,
        Parameter(
            name="--wait",
            metavar="SECONDS",
            help="Wait up to SECONDS for a task to be queued (bare --wait: until one is, or Ctrl-C).",
            show_default=False,
            # an optional value: a bare `--wait` is [], `--wait 30` is ["30"]
            consume_multiple=(0, 1),
            allow_repeating=False,
        ),
    ] = None,
    ctx: Ctx,
) -> int | None:
    """Claim the oldest queued task of a stream: print it, with the stream's instructions, as one line of JSON.

    The task moves to running; report back with `sparkq complete` or `sparkq fail`.
    Prints nothing (exit 0) when the stream has no queued task. With --wait it
    blocks until a task is queued and claims it at once (within a second); when
    the time is up it prints nothing (exit 0). A stream that has ended (or whose
    session has) will never have work again: that is an error (exit 1), so stop
    the loop.

        Examples:
          sparkq claim --stream auth
          sparkq claim --stream auth --wait 600
          sparkq claim --stream auth --wait
          sparkq claim --stream auth | jq -r .stream.instructions
    """
    if stream is None:
        output.emit_error(*output.claim_usage(ctx.queue().queued_by_stream()))
        return 2
    if wait is None:
        worker.print_claim(ctx, stream)
    else:
        worker.print_claim_waiting(ctx, stream, parse_wait(wait))
    return None


def parse_wait(values: list[str]) -> float | None:
    """The seconds of `--wait SECONDS` as a number; None (wait forever) for a bare `--wait`."""
    if not values:
        return None
    [text] = values  # at most one: Cyclopts refuses more (consume_multiple=(0, 1))
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise common.UsageError(
            f"Invalid --wait {text!r}: give a number of seconds (0 or more), e.g. --wait 600, "
            "or a bare --wait to wait until a task is queued"
        )
    return seconds


def complete(
    task_id: Annotated[str, Parameter(help="The running task's id (tsk_…).")],
    /,
    *,
    result: Annotated[
        str,
        Parameter(allow_leading_hyphen=True, help='JSON object with a non-empty "summary"; or `@path`, `-` (stdin).'),
    ],
    stdout: StdoutOpt = None,
    stderr: StderrOpt = None,
    stdout_file: StdoutFileOpt = None,
    stderr_file: StderrFileOpt = None,
    json: JsonFlag = False,
    ctx: Ctx,
) -> None:
    """Report a running task as succeeded, with its result and captured output.

    The result must carry a "summary" saying what was done; otherwise it is refused
    and the task stays running.

        Examples:
          sparkq complete tsk_0123456789ab --result '{"summary": "Login added"}'
          sparkq complete tsk_0123456789ab --result @result.json --stdout-file out.log
          make test | sparkq complete tsk_0123456789ab --result @r.json --stdout -
    """
    _single_stdin(result, stdout, stderr, stdout_file, stderr_file)
    body = common.read_json_object(result, "result", RESULT_EXAMPLE)
    out = common.read_text(stdout, stdout_file, "stdout", "stdout")
    err = common.read_text(stderr, stderr_file, "stderr", "stderr")
    task = ctx.queue().complete(task_id, body, stdout=out, stderr=err)
    _report(task, json)


def fail(
    task_id: Annotated[str, Parameter(help="The running task's id (tsk_…).")],
    /,
    *,
    error: Annotated[
        str | None,
        Parameter(allow_leading_hyphen=True, help="What went wrong (required unless --error-file is given)."),
    ] = None,
    error_file: Annotated[
        str | None, Parameter(allow_leading_hyphen=True, help="Read the error message from this file ('-' = stdin).")
    ] = None,
    error_type: Annotated[
        str | None,
        Parameter(
            name="--type",
            allow_leading_hyphen=True,
            help="A short category of the failure, such as TestFailure (stored apart from the message).",
        ),
    ] = None,
    stdout: StdoutOpt = None,
    stderr: StderrOpt = None,
    stdout_file: StdoutFileOpt = None,
    stderr_file: StderrFileOpt = None,
    json: JsonFlag = False,
    ctx: Ctx,
) -> None:
    """Report a running task as failed, with the error and captured output.

    Failing with a question is how a worker asks the developer for help.

        Examples:
          sparkq fail tsk_0123456789ab --error "3 tests fail" --stderr-file e.log
          sparkq fail tsk_0123456789ab --error "Question: keep the v1 endpoint?"
    """
    if error is None and error_file is None:
        raise common.UsageError("--error MESSAGE (or --error-file PATH) is required to fail a task")
    _single_stdin(error, error_file, stdout, stderr, stdout_file, stderr_file)
    message = common.read_text(error, error_file, "error message", "error")
    out = common.read_text(stdout, stdout_file, "stdout", "stdout")
    err = common.read_text(stderr, stderr_file, "stderr", "stderr")
    task = ctx.queue().fail(task_id, message or "", error_type=error_type, stdout=out, stderr=err)
    _report(task, json)


def requeue(
    task_id: Annotated[str | None, Parameter(help="A finished task's id (tsk_…); or --failed for all failed.")] = None,
    /,
    *,
    failed: Annotated[
        bool, Parameter(help="Requeue every failed task not requeued yet, in FIFO order.", show_default=False)
    ] = False,
    stream: Annotated[str | None, Parameter(help="With --failed: only this stream's.")] = None,
    since: Annotated[
        str | None, Parameter(help="With --failed: only those that failed within this long: Nh, Nd or Nw.")
    ] = None,
    dry_run: Annotated[
        bool, Parameter(help="With --failed: change nothing, print how many would be.", show_default=False)
    ] = False,
    json: JsonFlag = False,
    ctx: Ctx,
) -> None:
    """Queue a fresh copy of a finished task and print the new id (or, with --failed, of every failed task).

    The copy has the same stream, tool, class, payload and timeout; the original
    stays in history and names its copy (requeued_to). A task is requeued at most
    once: requeue its copy instead. A stream that has ended refuses the copy.

    With --failed, every failed task (auto-failed too) that has no copy yet is
    requeued in its original FIFO order, and the new ids are printed one a line;
    running it twice requeues nothing the second time. Failed tasks of ended
    streams are skipped (stderr says how many). --dry-run prints the count.

        Examples:
          sparkq requeue tsk_0123456789ab
          sparkq requeue --failed --stream auth --since 2h --dry-run
          sparkq requeue --failed
    """
    if failed:
        if task_id is not None:
            raise common.UsageError("Give a task id or --failed, not both")
        _requeue_failed(ctx, stream, since, dry_run=dry_run, as_json=json)
        return
    if task_id is None:
        raise common.UsageError("Give the id of the task to requeue (tsk_…), or --failed to requeue every failed task")
    if stream is not None or since is not None or dry_run:
        raise common.UsageError("--stream, --since and --dry-run go with --failed")
    task = ctx.queue().requeue(task_id)
    if json:
        output.print_json(task_to_dict(task))
    else:
        output.emit(task.id)


def _requeue_failed(
    ctx: common.Context, stream: str | None, since: str | None, *, dry_run: bool, as_json: bool
) -> None:
    queue = ctx.queue()
    done = queue.requeue_failed(stream, parse_age(since, "--since") if since is not None else None, dry_run=dry_run)
    if as_json:
        now = queue.now()
        output.print_json(
            {
                "tasks": [task_row_dict(t, now, full=True) for t in done.copies],
                "originals": [t.id for t in done.originals],
                "skipped": [t.id for t in done.skipped],
                "dry_run": dry_run,
            }
        )
        return
    if dry_run:
        output.emit(str(len(done.originals)))
    elif done.copies:
        output.emit(*(t.id for t in done.copies))
    if done.skipped:
        output.emit_error(
            f"Skipped {len(done.skipped)} failed task(s) of ended streams (a copy could never be claimed): "
            + " ".join(t.id for t in done.skipped)
        )


def heartbeat(
    task_id: Annotated[str, Parameter(help="The running task's id (tsk_…).")],
    /,
    *,
    note: Annotated[
        str | None,
        Parameter(allow_leading_hyphen=True, help="Where the work stands, in a line or two (at most 1 KiB)."),
    ] = None,
    json: Annotated[bool, Parameter(help="Print the task as JSON.", show_default=False)] = False,
    ctx: Ctx,
) -> None:
    """Tell SparkQ a running task's worker is alive, optionally with a progress note; prints nothing.

    A task is stale after its timeout and auto-failed after twice its timeout,
    counted from its last heartbeat (or its claim): a long task that heartbeats at
    least once per timeout is never auto-failed. The latest note is kept and shown
    by `sparkq task` and `sparkq tasks`. A task that is not running is refused
    (exit 1) naming its status: stop working on it.

        Examples:
          sparkq heartbeat tsk_0123456789ab
          sparkq heartbeat tsk_0123456789ab --note "tests written; 3/5 pass"
    """
    task = ctx.queue().heartbeat(task_id, note)
    if json:
        output.print_json(task_to_dict(task))


def cancel(
    task_id: Annotated[str | None, Parameter(help="The queued task's id (tsk_…); or --stream for all.")] = None,
    /,
    *,
    reason: Annotated[str | None, Parameter(allow_leading_hyphen=True, help="Why (kept as the task's error).")] = None,
    stream: Annotated[str | None, Parameter(help="Cancel every queued task of this stream instead.")] = None,
    json: JsonFlag = False,
    ctx: Ctx,
) -> None:
    """Cancel a queued task (or every queued task of a stream): it will not run.

    Only queued tasks can be cancelled; a running one is failed instead. Cancelled
    is a terminal status: purge deletes it like a finished task, and `sparkq
    requeue` makes a fresh copy. With --stream, prints how many were cancelled.

        Examples:
          sparkq cancel tsk_0123456789ab --reason "superseded by tsk_ba9876543210"
          sparkq cancel --stream auth
    """
    if (task_id is None) == (stream is None):
        raise common.UsageError("Give a task id or --stream NAME (every queued task of the stream), one of the two")
    queue = ctx.queue()
    if stream is not None:
        if json:
            raise common.UsageError("--json goes with a task id; --stream prints how many were cancelled")
        output.emit(str(queue.cancel_stream(stream, reason)))
        return
    assert task_id is not None
    _report(queue.cancel(task_id, reason), json)


# -- reviewing -------------------------------------------------------------------------------------


def list_tasks(
    *,
    status: Annotated[TaskStatusFilter | None, Parameter(help="Only tasks in this status.")] = None,
    stream: Annotated[str | None, Parameter(help="Only tasks of this stream.")] = None,
    stale: Annotated[bool, Parameter(help="Only running tasks past their timeout.", show_default=False)] = False,
    limit: Annotated[int, Parameter(help="Show at most this many (1-1000).")] = 20,
    search: Annotated[
        str | None,
        Parameter(help="Only tasks with this text (any case) in their id, summary, error, progress note or payload."),
    ] = None,
    tool: Annotated[str | None, Parameter(help="Only tasks of this tool (its exact name).")] = None,
    json: Annotated[
        bool,
        Parameter(help="Print a JSON array of task objects (with stale/auto_failed flags).", show_default=False),
    ] = False,
    ctx: Ctx,
) -> None:
    """List tasks, newest first; stale and auto-failed tasks are marked.

    A task is stale when it has been running longer than its timeout, and is
    auto-failed after twice its timeout. DURATION is how long a task ran, or
    has been running so far. SUMMARY/ERROR shows a success's summary, a
    failure's error (`?` marks a QUESTION: for you), a running task's
    progress note, cut to the terminal's width and left out when too
    narrow (--json has them whole).

        Examples:
          sparkq tasks
          sparkq tasks --stream auth --status failed
          sparkq tasks --search "QUESTION:" --tool llm-sonnet
          sparkq tasks --stale
          sparkq tasks --limit 100 --json
    """
    queue = ctx.queue()
    page = queue.list_tasks(stream=stream, status=status, stale=stale, limit=limit, tool=tool, search=search)
    if json:
        now = queue.now()
        output.print_json([task_row_dict(t, now, full=True) for t in page.tasks])
        return
    filtered = bool(status or stream or stale or search or tool)
    footer = output.tasks_footer(len(page.tasks), page.total, filtered=filtered)
    if page.total == 0 and tool and tool not in queue.registry.tools:
        # a typo is the likely cause (the filter reads the tasks, so a tool gone from the registry still works)
        footer = f"{footer} {output.unknown_tool_hint(tool, queue.registry.tools)}"
    if page.tasks:
        # only the page's streams, and without their task counts (those read every task: slow at 1M tasks)
        names = {sid: queue.get_stream(sid).name for sid in {t.stream_id for t in page.tasks}}
        width, color = output.terminal_width(), output.color_enabled()
        output.print_lines(output.tasks_table(page.tasks, names, queue.now(), width=width, color=color))
    if footer is not None:
        output.emit(footer)


def show_task(
    task_id: Annotated[str, Parameter(help="The task's id (tsk_…).")],
    /,
    *,
    json: Annotated[bool, Parameter(help="Print the task (and its stream) as JSON.", show_default=False)] = False,
    ctx: Ctx,
) -> None:
    """Show everything about one task.

    Status, payload, result (summary first), error, stdout, stderr, timing
    (queued, started, finished) and the instructions of its stream.

        Examples:
          sparkq task tsk_0123456789ab
          sparkq task tsk_0123456789ab --json | jq .result.summary
    """
    queue = ctx.queue()
    detail = queue.task_detail(task_id)
    if json:
        output.print_json(claimed_to_dict(detail.task, detail.stream))
        return
    session = queue.get_session(detail.stream.session_id)
    lines = output.task_detail(
        detail.task, detail.stream, queue.now(), session_name=session.name, color=output.color_enabled()
    )
    output.print_lines(lines)


def purge(
    *,
    older_than: Annotated[
        str | None,
        Parameter(
            allow_leading_hyphen=True,
            help="Age of finished tasks to delete: Nh, Nd or Nw (default: purge.older_than_days, 3d).",
        ),
    ] = None,
    ctx: Ctx,
) -> None:
    """Delete succeeded and failed tasks that finished longer ago than the given age.

    Queued and running tasks are never deleted. On a terminal, a progress bar on
    stderr shows how many are deleted so far; piped, only the result line is printed.

        Examples:
          sparkq purge
          sparkq purge --older-than 12h
          sparkq purge --older-than 2w
    """
    if older_than is None:
        older_than = f"{ctx.settings().file.purge.older_than_days}d"
    age = parse_age(older_than)
    with output.progress_bar("Purging finished tasks", "tasks") as progress:
        deleted = ctx.queue().purge(age, progress=progress)
    output.emit(f"Deleted {deleted} finished task(s) older than {older_than.strip()}")


def parse_age(text: str, option: str = "--older-than") -> timedelta:
    """`12h`, `3d`, `2w` as a timedelta (the domain's rule); anything else is a usage error naming the forms."""
    try:
        return domain_age(text, option)
    except InvalidInput as exc:
        raise common.UsageError(exc.message) from None


# -- helpers ---------------------------------------------------------------------------------------


def _single_stdin(*values: str | None) -> None:
    """Standard input can be read once: refuse two arguments that both say `-`."""
    if sum(1 for v in values if v == "-") > 1:
        raise common.UsageError("Only one argument can be read from standard input ('-'); use files for the others")


def _report(task: Task, as_json: bool) -> None:
    if as_json:
        output.print_json(task_to_dict(task))
    else:
        output.emit(f"{task.id} {task.status.value}")
