"""`sparkq session …` and `sparkq stream …`: create, list, edit and end sessions and streams."""

from __future__ import annotations

from typing import Annotated, Literal

from cyclopts import Parameter

from ..serialization import session_to_dict, stream_counts_to_dict, stream_to_dict
from . import common, output
from .injected import Ctx

StatusFilter = Literal["active", "ended"]

JsonFlag = Annotated[bool, Parameter(help="Print JSON instead of text.", show_default=False)]


# -- sessions --------------------------------------------------------------------------------------


def session_create(
    name: Annotated[str, Parameter(help="Session name: 1-64 letters, digits, '.', '_' or '-'.")],
    /,
    *,
    description: Annotated[
        str | None, Parameter(alias="-d", allow_leading_hyphen=True, help="What this period of work is about.")
    ] = None,
    json: JsonFlag = False,
    ctx: Ctx,
) -> None:
    """Start a session: a bounded period of work that holds streams.

    Session names are unique; `sparkq stream create --session NAME` adds streams.

        Examples:
          sparkq session create api-v2
          sparkq session create api-v2 -d "Version 2 of the public API"
    """
    session = ctx.queue().create_session(name, description)
    if json:
        output.print_json(session_to_dict(session))
    else:
        output.emit(f"Session {session.name} created ({session.id})")


def session_list(
    *,
    status: Annotated[StatusFilter | None, Parameter(help="Only sessions in this status.")] = None,
    json: JsonFlag = False,
    ctx: Ctx,
) -> None:
    """List sessions, oldest first, with how many streams each holds.

    With --json, prints a JSON array of session objects.

        Examples:
          sparkq session list
          sparkq session list --status active --json
    """
    queue = ctx.queue()
    sessions = queue.list_sessions(status)
    if json:
        output.print_json([session_to_dict(s) for s in sessions])
        return
    if not sessions:
        if status is None:
            output.emit("No sessions yet. Start one with: sparkq session create NAME")
        else:
            output.emit(f"No {status} sessions.")
        return
    streams: dict[str, int] = {}
    for item in queue.list_streams():
        streams[item.stream.session_id] = streams.get(item.stream.session_id, 0) + 1
    lines = output.sessions_table(
        sessions, streams, queue.now(), width=output.terminal_width(), color=output.color_enabled()
    )
    output.print_lines(lines)


def session_end(
    name: Annotated[str, Parameter(help="The session to end.")],
    /,
    *,
    json: JsonFlag = False,
    ctx: Ctx,
) -> None:
    """End a session and every active stream in it.

    The session accepts no new streams; the queued tasks of its streams are
    cancelled (reason: stream ended) and stay in history.

        Examples:
          sparkq session end api-v2
    """
    queue = ctx.queue()
    open_streams = len(queue.list_streams(session=name, status="active"))
    session = queue.end_session(name)
    if json:
        output.print_json(session_to_dict(session))
    elif open_streams:
        output.emit(f"Session {session.name} ended, and its {output.plural(open_streams, 'active stream')} with it")
    else:
        output.emit(f"Session {session.name} ended")


def session_edit(
    name: Annotated[str, Parameter(help="The session to edit (its name or id).")],
    /,
    *,
    description: Annotated[
        str | None,
        Parameter(
            alias="-d",
            allow_leading_hyphen=True,
            help="The new description; @path reads a file, '-' standard input; \"\" clears it.",
        ),
    ] = None,
    description_file: Annotated[
        str | None,
        Parameter(allow_leading_hyphen=True, help="Read the new description from this file ('-' = standard input)."),
    ] = None,
    json: JsonFlag = False,
    ctx: Ctx,
) -> None:
    """Replace a session's description (an ended session's too).

    Give exactly one of -d TEXT or --description-file PATH. With --json, prints
    the session object.

        Examples:
          sparkq session edit api-v2 -d "Version 2 of the public API"
          sparkq session edit api-v2 --description-file notes.md
    """
    text = _new_text(description, description_file, "session description", "description")
    session = ctx.queue().describe_session(name, text)
    if json:
        output.print_json(session_to_dict(session))
    else:
        output.emit(f"Session {session.name}: description {_what_changed(text)}")


def _new_text(value: str | None, file: str | None, what: str, flag: str) -> str | None:
    """The text an edit sets, None for a blank one (it clears): exactly one of `--<flag>` and `--<flag>-file`."""
    if value is None and file is None:
        raise common.UsageError(
            f"Give the new {what}: --{flag} TEXT, or --{flag}-file PATH ('-' reads standard input); "
            f'--{flag} "" clears it'
        )
    text = common.read_text(value, file, what, flag)
    # the UI's blank field clears too: null, as the PUT endpoints take it, never a text of spaces
    return text if text and text.strip() else None


def _what_changed(text: str | None) -> str:
    """`replaced (2 lines, 40 characters)`, or `cleared` for no text."""
    if not text:
        return "cleared"
    lines = len(text.splitlines())
    return f"replaced ({output.plural(lines, 'line')}, {output.plural(len(text), 'character')})"


# -- streams ---------------------------------------------------------------------------------------


def stream_create(
    name: Annotated[str, Parameter(help="Stream name, unique across sessions: 1-64 letters, digits, '.', '_', '-'.")],
    /,
    *,
    session: Annotated[str, Parameter(help="The active session the stream belongs to.")],
    instructions: Annotated[
        str | None,
        Parameter(
            alias="-i",
            allow_leading_hyphen=True,
            help="What every worker is told with each task: goals, context, done-when.",
        ),
    ] = None,
    instructions_file: Annotated[
        str | None,
        Parameter(allow_leading_hyphen=True, help="Read the instructions from this file ('-' = standard input)."),
    ] = None,
    json: JsonFlag = False,
    ctx: Ctx,
) -> None:
    """Create a stream (a feature lane) in a session.

    Its instructions (goals, context, done-when) are handed to every worker
    with each task it claims. Stream names are unique across all sessions.

        Examples:
          sparkq stream create auth --session api-v2 -i "Add login; tests pass"
          sparkq stream create pay --session api-v2 --instructions-file pay.md
    """
    text = common.read_text(instructions, instructions_file, "stream instructions", "instructions")
    stream = ctx.queue().create_stream(name, session, text)
    if json:
        output.print_json(stream_to_dict(stream))
    else:
        output.emit(f"Stream {stream.name} created in session {session} ({stream.id})")


def stream_list(
    *,
    session: Annotated[str | None, Parameter(help="Only streams of this session.")] = None,
    status: Annotated[StatusFilter | None, Parameter(help="Only streams in this status.")] = None,
    json: JsonFlag = False,
    ctx: Ctx,
) -> None:
    """List streams with their session, status, task counts and instructions.

    With --json, prints a JSON array of stream objects with `task_counts`.

        Examples:
          sparkq stream list
          sparkq stream list --session api-v2 --status active
          sparkq stream list --json
    """
    items = ctx.queue().list_streams(session, status)
    if json:
        output.print_json([stream_counts_to_dict(item) for item in items])
        return
    if not items:
        if session is None and status is None:
            output.emit("No streams yet. Create one with: sparkq stream create NAME --session SESSION")
        else:
            output.emit("No streams match these filters.")
        return
    output.print_lines(output.streams_table(items, width=output.terminal_width(), color=output.color_enabled()))


def stream_end(
    name: Annotated[str, Parameter(help="The stream to end.")],
    /,
    *,
    json: JsonFlag = False,
    ctx: Ctx,
) -> None:
    """End a stream: it accepts no new tasks.

    Its queued tasks are cancelled (reason: stream ended) and stay in history.

        Examples:
          sparkq stream end auth
    """
    queue = ctx.queue()
    queued = output.count_of(queue.stream_counts(name).counts, "queued")
    stream = queue.end_stream(name)
    if json:
        output.print_json(stream_to_dict(stream))
        return
    note = f"; {output.plural(queued, 'queued task')} cancelled (stream ended)" if queued else ""
    output.emit(f"Stream {stream.name} ended{note}")


def stream_edit(
    name: Annotated[str, Parameter(help="The stream to edit (its name or id).")],
    /,
    *,
    instructions: Annotated[
        str | None,
        Parameter(
            alias="-i",
            allow_leading_hyphen=True,
            help="The new instructions; @path reads a file, '-' standard input; \"\" clears them.",
        ),
    ] = None,
    instructions_file: Annotated[
        str | None,
        Parameter(allow_leading_hyphen=True, help="Read the new instructions from this file ('-' = standard input)."),
    ] = None,
    json: JsonFlag = False,
    ctx: Ctx,
) -> None:
    """Replace a stream's instructions: the next task claimed from it carries them.

    Give exactly one of -i TEXT or --instructions-file PATH. This is how a worker's
    question (a task failed with `QUESTION: …`) is answered: edit the instructions,
    then requeue the task. Running tasks keep what they were told; an ended stream
    cannot be edited. With --json, prints the stream object.

        Examples:
          sparkq stream edit auth -i "Use OAuth, not passwords; done when tests pass"
          sparkq stream edit auth --instructions-file auth.md
          git show HEAD:docs/auth.md | sparkq stream edit auth --instructions-file -
    """
    text = _new_text(instructions, instructions_file, "stream instructions", "instructions")
    stream = ctx.queue().instruct_stream(name, text)
    if json:
        output.print_json(stream_to_dict(stream))
    else:
        then = "; the next task claimed from it carries them" if text else ""
        output.emit(f"Stream {stream.name}: instructions {_what_changed(text)}{then}")
