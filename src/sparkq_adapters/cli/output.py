"""Everything the CLI prints: one-line JSON, aligned tables, colours, relative ages, durations, detail views.

The render functions are pure (lines in, lines out, `now`, `width` and `color` passed in) so they are
unit-tested without a terminal; the `print_*` functions decide those from the real stdout.
`rich` draws the tables, measures and cuts text, paints colours and reads the terminal (its size,
`NO_COLOR`, `TERM=dumb`), always imported inside the function that needs it: this module sits on the
`peek`/`claim` hot path, whose one line of JSON needs none of that.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from sparkq_domain.limits import quoted
from sparkq_domain.review import is_question, list_note

from ..serialization import dumps

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from sparkq_domain import Session, Stream, StreamCounts, Task, TaskStatus
    from sparkq_domain.overview import ActiveWork

DEFAULT_WIDTH = 80
MIN_WIDTH = 40
ELLIPSIS = "…"
STALE_MARK = "⚠ stale"
AUTO_FAILED_MARK = "⚠ auto"
#: before a failure's error that asks the developer a question (an escalation), so it stands out
QUESTION_MARK = "?"
#: after the status of a finished task that has been requeued (its copy exists)
REQUEUED_MARK = "↻"
QUESTION_STYLE = "bold magenta"
#: spaces between two table columns
GAP = 2

#: the colour of each status word; queued stays blue, ended sessions/streams dim
STATUS_STYLES: Mapping[str, str] = {
    "queued": "blue",
    "running": "yellow",
    "stale": "yellow",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "dim",
    "active": "green",
    "ended": "dim",
}


# -- terminal --------------------------------------------------------------------------------------


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def console(stream: TextIO | None = None) -> Console:
    """rich's view of `stream` (stdout), for its colours: a terminal only when it is one."""
    from rich.console import Console

    target = sys.stdout if stream is None else stream
    # rich reads NO_COLOR, TERM=dumb and the colours the terminal has; whether it is a terminal is
    # the stream's say, never FORCE_COLOR's, so a pipe gets plain text
    return Console(file=target, force_terminal=_isatty(target))


def color_enabled(stream: TextIO | None = None) -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org) or TERM=dumb."""
    seen = console(stream)
    return seen.is_terminal and seen.color_system is not None and not seen.no_color


def terminal_width(stream: TextIO | None = None) -> int:
    """$COLUMNS, else the terminal's width, else 80 (when piped); never below 40.

    Measured here rather than by rich, which would take a dumb terminal as 80 columns whatever
    $COLUMNS says, and measure stdin's terminal first (so `sparkq tasks | less` would not get 80).
    """
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return max(int(columns), MIN_WIDTH)
    target = sys.stdout if stream is None else stream
    try:
        if target.isatty():
            return max(os.get_terminal_size(target.fileno()).columns, MIN_WIDTH)
    except (AttributeError, ValueError, OSError):
        pass
    return DEFAULT_WIDTH


@contextmanager
def progress_bar(what: str, unit: str, *, stream: TextIO | None = None) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar of `what` on stderr while the block runs, fed by the `update(done, total)` it yields.

    Drawn only on a terminal (not a dumb one), from the first update with something to count, and
    left there when the block ends; elsewhere it yields None instead, so that a pipe or a log gets
    no escape codes and the caller can skip the counting it would do only for the bar. `unit`
    names what is counted (`tasks`, `pages`).
    """
    shown = console(sys.stderr if stream is None else stream)
    if not shown.is_interactive:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn(what),
        BarColumn(),
        TextColumn(f"{{task.completed:,.0f}}/{{task.total:,.0f}} {unit}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    # stdout stays the command's own: rich would otherwise route prints through the bar's stream
    bar = Progress(*columns, console=shown, redirect_stdout=False, redirect_stderr=False)
    row = bar.add_task(what, total=0, rate="")
    began = time.monotonic()

    def update(done: int, total: int) -> None:
        if not bar.live.is_started:
            if total == 0:
                return  # nothing to count (yet): no bar
            bar.start()
        elapsed = time.monotonic() - began
        rate = f"{done / elapsed:,.0f} {unit}/s" if done and elapsed > 0 else ""
        bar.update(row, completed=done, total=total, rate=rate)

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()


def paint(text: str, style: str | None, *, color: bool) -> str:
    """`text` in a rich style (`red`, `bold`, ...) as terminal escapes; unchanged without colour."""
    if not color or not style or not text:
        return text
    from rich.color import ColorSystem
    from rich.style import Style

    return Style.parse(style).render(text, color_system=ColorSystem.STANDARD)


def render(renderable: RenderableType, *, width: int, color: bool) -> list[str]:
    """Draw a rich renderable `width` columns wide into lines, without trailing blanks."""
    from rich.console import Console

    buffer = io.StringIO()
    drawer = Console(
        file=buffer,
        width=max(width, 1),
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        markup=False,
        emoji=False,
        highlight=False,
        legacy_windows=False,
    )
    drawer.print(renderable)
    return [line.rstrip(" ") for line in buffer.getvalue().split("\n")[:-1]]


# -- text ------------------------------------------------------------------------------------------


def _control_table() -> dict[int, str]:
    table = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))}
    table[ord("\t")] = "\t"
    table[ord("\n")] = "\n"
    return table


_CONTROLS = _control_table()


def clean_block(text: str) -> str:
    """Text that came from a worker, made safe to print: no escape sequences reach the terminal."""
    return text.replace("\r\n", "\n").replace("\r", "\n").translate(_CONTROLS)


def clean_line(text: str) -> str:
    """Text for one table cell: whitespace runs (newlines too) become one space, controls are escaped."""
    return " ".join(text.split()).translate(_CONTROLS)


def display_width(text: str) -> int:
    """Columns `text` takes in a terminal: wide East Asian characters count 2, combining marks 0."""
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def truncate(text: str, width: int) -> str:
    """Cut `text` to `width` columns, ending with `…` when something was cut."""
    if display_width(text) <= width:
        return text
    if width <= 0:
        return ""
    from rich.cells import chop_cells

    # the longest head that fits before the `…` (a wide character that would straddle it is left out)
    head = next(iter(chop_cells(text, width - 1)), "") if width > 1 else ""
    return (head if display_width(head) < width else "") + ELLIPSIS


def first_line(text: str | None) -> str:
    """The first non-blank line of `text` (for previews), or ''."""
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def indent(text: str, prefix: str = "  ") -> list[str]:
    return [prefix + line if line else "" for line in text.split("\n")]


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# -- time ------------------------------------------------------------------------------------------


def format_duration(delta: timedelta | float) -> str:
    """`0.4s`, `42s`, `1m 05s`, `2h 03m`, `3d 04h`: precise when short, coarse when long."""
    seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def relative_age(then: datetime, now: datetime) -> str:
    """`just now`, `12s ago`, `3m ago`, `5h ago`, `2d ago`; the date after 30 days."""
    seconds = (now - then).total_seconds()
    if seconds < 1:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)}s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    if seconds < 30 * 86400:
        return f"{int(seconds // 86400)}d ago"
    return then.astimezone().strftime("%Y-%m-%d")


def format_timestamp(value: datetime) -> str:
    """Local wall-clock time with its zone, to the second."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").rstrip()


# -- tables ----------------------------------------------------------------------------------------


class Column(NamedTuple):
    header: str
    #: "<" left, ">" right
    align: str = "<"
    #: may shrink (cells cut with …) so the table fits the width; other columns keep their size
    flex: bool = False
    max_width: int | None = None
    min_width: int = 6


class Cell(NamedTuple):
    text: str
    style: str | None = None


def table(
    columns: Sequence[Column], rows: Iterable[Sequence[str | Cell]], *, width: int = DEFAULT_WIDTH, color: bool = False
) -> list[str]:
    """Aligned columns two spaces apart (a rich table without borders), the flexible ones shrunk to fit `width`."""
    from rich.table import Table
    from rich.text import Text

    body = [[c if isinstance(c, Cell) else Cell(c) for c in row] for row in rows]
    body = [[Cell(clean_line(c.text), c.style) for c in row] for row in body]
    widths = fit_widths(columns, body, width)
    body = [[Cell(truncate(c.text, w), c.style) for c, w in zip(row, widths, strict=True)] for row in body]
    grid = Table(box=None, padding=(0, GAP // 2), pad_edge=False, show_edge=False, header_style="")
    for col, col_width in zip(columns, widths, strict=True):
        grid.add_column(
            Text.assemble((col.header, "bold")),
            justify="right" if col.align == ">" else "left",
            width=col_width,
            no_wrap=True,
            overflow="ellipsis",
        )
    for row in body:
        # the style spans the words only, never the padding around them
        grid.add_row(*(Text.assemble((cell.text, cell.style or "")) for cell in row))
    return render(grid, width=sum(widths) + GAP * (len(widths) - 1), color=color)


def fit_widths(columns: Sequence[Column], body: Sequence[Sequence[Cell]], width: int) -> list[int]:
    """Each column's width: its widest cell (up to its max), the widest flexible ones cut first to fit `width`.

    Only flexible columns shrink, and not below their minimum: ids, statuses and ages are never cut,
    so a table that cannot fit runs wider than `width` rather than lose them.
    """
    widths = []
    for i, col in enumerate(columns):
        natural = max([display_width(col.header), *(display_width(row[i].text) for row in body)])
        widths.append(min(natural, col.max_width) if col.max_width else natural)
    overflow = sum(widths) + GAP * (len(columns) - 1) - width
    while overflow > 0:
        shrinkable = [i for i, col in enumerate(columns) if col.flex and widths[i] > col.min_width]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
        overflow -= 1
    return widths


def status_cell(status: str) -> Cell:
    return Cell(status, STATUS_STYLES.get(status))


def task_status_cell(task: Task, now: datetime) -> Cell:
    """The status word, marked when the task is stale (running past its timeout) or was auto-failed."""
    if task.is_stale(now):
        return Cell(f"{task.status.value} {STALE_MARK}", STATUS_STYLES["stale"])
    copied = f" {REQUEUED_MARK}" if task.requeued_to is not None else ""
    if task.auto_failed:
        return Cell(f"{task.status.value} {AUTO_FAILED_MARK}{copied}", STATUS_STYLES["failed"])
    return Cell(f"{task.status.value}{copied}", STATUS_STYLES.get(task.status.value))


def task_time(task: Task, now: datetime) -> str:
    """How long it ran (finished), or has been running so far (running); `-` while queued."""
    elapsed = task.duration() if task.finished_at is not None else task.running_for(now)
    return "-" if elapsed is None else format_duration(elapsed)


TASK_COLUMNS = (
    Column("ID"),
    Column("STREAM", flex=True, max_width=24),
    Column("TOOL", flex=True, max_width=20),
    Column("STATUS"),
    Column("CREATED"),
    Column("DURATION", align=">"),
    # the note gives up its room first (the widest flexible column shrinks first), never its header
    Column("SUMMARY/ERROR", flex=True, min_width=len("SUMMARY/ERROR")),
)


def task_note_cell(task: Task) -> Cell:
    """What the task came to (summary, error, progress note), with `?` before a question for the developer."""
    if is_question(task):
        return Cell(f"{QUESTION_MARK} {task.error}", QUESTION_STYLE)
    return Cell(list_note(task) or "")


def tasks_table(
    tasks: Sequence[Task],
    stream_names: Mapping[str, str],
    now: datetime,
    *,
    width: int = DEFAULT_WIDTH,
    color: bool = False,
) -> list[str]:
    """The task list; its SUMMARY/ERROR column takes the room the others leave, if that is enough to read."""
    rows: list[list[str | Cell]] = [
        [
            task.id,
            stream_names.get(task.stream_id, task.stream_id),
            task.tool_name,
            task_status_cell(task, now),
            relative_age(task.created_at, now),
            task_time(task, now),
        ]
        for task in tasks
    ]
    lines = table(TASK_COLUMNS[:-1], rows, width=width, color=color)
    notes = [task_note_cell(task) for task in tasks]
    if not any(note.text for note in notes):
        return lines  # a page of queued tasks has nothing to say there
    room = width - max(map(display_width, lines), default=0) - GAP
    if room < TASK_COLUMNS[-1].min_width:
        # ids, names, statuses and ages stay whole, and a note in a handful of columns would say nothing
        return lines
    return table(TASK_COLUMNS, [[*row, note] for row, note in zip(rows, notes, strict=True)], width=width, color=color)


def unknown_tool_hint(tool: str, known: Iterable[str]) -> str:
    """Say that `tool` is not a tool of the registry, naming those that are."""
    return f"No tool {quoted(tool)} is in the registry either; known tools: {', '.join(sorted(known)) or '(none)'}."


def tasks_footer(shown: int, total: int, *, filtered: bool) -> str | None:
    """Say when the list is cut by --limit, or that nothing matched."""
    if total == 0:
        return "No tasks match these filters." if filtered else "No tasks yet. Queue one with: sparkq enqueue"
    if shown < total:
        return f"Showing the newest {shown} of {total} tasks; use --limit to see more."
    return None


SESSION_COLUMNS = (
    Column("NAME", flex=True, max_width=32),
    Column("STATUS"),
    Column("STARTED"),
    Column("ENDED"),
    Column("STREAMS", align=">"),
    Column("DESCRIPTION", flex=True, min_width=11),
)


def sessions_table(
    sessions: Sequence[Session],
    stream_counts: Mapping[str, int],
    now: datetime,
    *,
    width: int = DEFAULT_WIDTH,
    color: bool = False,
) -> list[str]:
    rows: list[list[str | Cell]] = [
        [
            s.name,
            status_cell(s.status.value),
            relative_age(s.started_at, now),
            relative_age(s.ended_at, now) if s.ended_at is not None else "-",
            str(stream_counts.get(s.id, 0)),
            first_line(s.description),
        ]
        for s in sessions
    ]
    return table(SESSION_COLUMNS, rows, width=width, color=color)


STREAM_COLUMNS = (
    Column("NAME", flex=True, max_width=28),
    Column("SESSION", flex=True, max_width=20),
    Column("STATUS"),
    Column("QUEUED", align=">"),
    Column("RUNNING", align=">"),
    Column("SUCCEEDED", align=">"),
    Column("FAILED", align=">"),
    Column("INSTRUCTIONS", flex=True, min_width=12),
)


def streams_table(items: Sequence[StreamCounts], *, width: int = DEFAULT_WIDTH, color: bool = False) -> list[str]:
    rows: list[list[str | Cell]] = [
        [
            item.stream.name,
            item.session_name,
            status_cell(item.stream.status.value),
            *(_count_cell(item.counts, status) for status in ("queued", "running", "succeeded", "failed")),
            first_line(item.stream.instructions),
        ]
        for item in items
    ]
    return table(STREAM_COLUMNS, rows, width=width, color=color)


def _count_cell(counts: Mapping[TaskStatus, int], status: str) -> Cell:
    n = count_of(counts, status)
    return Cell(str(n), STATUS_STYLES[status] if n else None)


# -- detail views ----------------------------------------------------------------------------------


def _heading(text: str, color: bool) -> str:
    return paint(text, "bold", color=color)


def task_detail(
    task: Task, stream: Stream, now: datetime, *, session_name: str | None = None, color: bool = False
) -> list[str]:
    """Everything about one task, in the order a reviewer reads it."""
    status = task_status_cell(task, now)
    lines = [f"{_heading('Task ' + task.id, color)}  {paint(status.text, status.style, color=color)}"]
    where = stream.name if session_name is None else f"{stream.name} (session {session_name})"
    if stream.status.value != "active":
        where += " [ended]"
    fields = [
        ("stream", where),
        ("tool", task.tool_name),
        ("class", task.task_class.value),
        ("timeout", f"{task.timeout}s ({format_duration(task.timeout)})"),
        ("attempts", str(task.attempts)),
    ]
    # lineage both ways: the task it is a copy of, and the copy it was requeued as
    fields += [(key, value) for key, value in (("from", task.requeued_from), ("copy", task.requeued_to)) if value]
    lines += [f"  {key:<9} {value}" for key, value in fields]
    if task.progress is not None:
        lines += ["", _heading("Progress", color), *indent(clean_block(task.progress))]

    lines += ["", _heading("Payload", color), *indent(clean_block(dumps(task.payload, pretty=True)))]

    if task.result is not None:
        lines += ["", _heading("Result", color)]
        summary = task.result.get("summary")
        if isinstance(summary, str):
            lines += [f"  Summary: {clean_line(summary)}"]
        rest = {k: v for k, v in task.result.items() if k != "summary"}
        if rest:
            lines += indent(clean_block(dumps(rest, pretty=True)))

    if task.error is not None:
        category = "" if task.error_type is None else f" ({clean_line(task.error_type)})"
        lines += ["", _heading(f"Error{category}", color), *indent(clean_block(task.error))]
    for title, text in (("Stdout", task.stdout), ("Stderr", task.stderr)):
        if text:
            lines += ["", _heading(title, color), *indent(clean_block(text.rstrip("\n")))]

    lines += ["", _heading("Timing", color), *timing_lines(task, now)]

    lines += ["", _heading(f"Stream instructions ({stream.name})", color)]
    lines += indent(clean_block(stream.instructions)) if stream.instructions else ["  (none)"]
    return lines


def timing_lines(task: Task, now: datetime) -> list[str]:
    """queued → started → finished, with how long it waited and ran."""
    lines = [f"  queued    {format_timestamp(task.created_at)}  ({relative_age(task.created_at, now)})"]
    if task.started_at is None:
        if not task.status.finished:
            lines.append(f"  waiting   {format_duration(now - task.created_at)} so far")
        elif task.finished_at is not None:
            lines.append(f"  {task.status.value:<9} {format_timestamp(task.finished_at)}")
        return lines
    waited = format_duration(task.started_at - task.created_at)
    lines.append(f"  started   {format_timestamp(task.started_at)}  waited {waited}")
    if task.finished_at is not None:
        lines.append(f"  finished  {format_timestamp(task.finished_at)}  ran {format_duration(task.duration() or 0)}")
    elif task.status.value == "running":
        running = format_duration(task.running_for(now) or 0)
        note = f"  {STALE_MARK}: past its {task.timeout}s timeout" if task.is_stale(now) else ""
        lines.append(f"  running   for {running}{note}")
    if task.heartbeat_at is not None:
        ago = relative_age(task.heartbeat_at, now)
        lines.append(f"  heartbeat {format_timestamp(task.heartbeat_at)}  (last heartbeat {ago})")
    return lines


def claim_usage(items: Sequence[StreamCounts]) -> list[str]:
    """What `sparkq claim` without --stream says (on stderr): where work is waiting, and how to ask."""
    lines = ["Error: --stream is required"]
    if items:
        lines.append("Streams with queued tasks:")
        rows: list[list[str | Cell]] = [
            [item.stream.name, _queued(item.counts), f"(session {item.session_name})" if item.session_name else ""]
            for item in items
        ]
        body = table((Column(""), Column("", align=">"), Column("")), rows)[1:]
        lines += ["  " + line for line in body]
    else:
        lines.append("No stream has queued tasks right now.")
    lines.append("Usage: sparkq claim --stream STREAM")
    return lines


def _queued(counts: Mapping[TaskStatus, int]) -> str:
    return f"{count_of(counts, 'queued')} queued"


def count_of(counts: Mapping[TaskStatus, int], status: str) -> int:
    """The count for a status given by name (TaskStatus members compare equal to their values)."""
    return next((n for key, n in counts.items() if key == status), 0)


def status_report(database: str, work: ActiveWork, *, width: int = DEFAULT_WIDTH, color: bool = False) -> list[str]:
    """The `sparkq status` page after its first line (the server's state): what is active, task counts."""
    sessions, streams = work.sessions, work.streams
    lines = [f"Database: {database}", ""]
    if sessions:
        names = ", ".join(s.name for s in sessions)
        lines.append(truncate(f"Active sessions ({len(sessions)}): {names}", width))
    else:
        lines.append("No active sessions. Start one with: sparkq session create NAME")
    if streams:
        lines += ["", f"Active streams ({len(streams)}):"]
        lines += streams_table(streams, width=width, color=color)
    # every status, in the state machine's order (the read side counts each, 0 included)
    tally = "  ".join(
        paint(f"{n} {status.value}", STATUS_STYLES[status.value] if n else None, color=color)
        for status, n in work.counts.items()
    )
    lines += ["", f"Tasks: {tally}"]
    if work.stale:
        lines.append(
            paint(
                f"{STALE_MARK}: {plural(work.stale, 'running task')} past timeout (sparkq tasks --stale)",
                "yellow",
                color=color,
            ),
        )
    return lines


# -- printing --------------------------------------------------------------------------------------


def _stdout() -> TextIO:
    out = sys.stdout
    encoding = (getattr(out, "encoding", None) or "").lower().replace("-", "")
    if encoding != "utf8" and hasattr(out, "reconfigure"):
        # a non-UTF-8 stdout (PYTHONIOENCODING=ascii, ...) must not turn `…` into a crash
        out.reconfigure(errors="backslashreplace")
    return out


def emit(*lines: str) -> None:
    """Print lines to stdout."""
    out = _stdout()
    for line in lines:
        out.write(line + "\n")


def emit_error(*lines: str) -> None:
    for line in lines:
        sys.stderr.write(line + "\n")


def print_json(value: Any) -> None:
    """One line of compact JSON: what scripts and agents parse."""
    emit(dumps(value))


def print_lines(lines: Iterable[str]) -> None:
    emit(*lines)
