"""The CLI's pure formatting: durations, ages, truncation, tables, markers, detail views."""

from __future__ import annotations

import io
import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from sparkq_adapters.cli import output
from sparkq_adapters.cli.output import Cell, Column
from sparkq_adapters.cli.tasks import parse_age
from sparkq_adapters.process import pid_alive
from sparkq_domain import Session, Status, Stream, StreamCounts, Task, TaskClass, TaskStatus
from sparkq_domain.overview import ActiveWork

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _task(status: str = "queued", **changes: object) -> Task:
    fields: dict[str, object] = {
        "id": "tsk_0123456789ab",
        "stream_id": "str_0123456789ab",
        "tool_name": "run-bash",
        "task_class": TaskClass.MEDIUM_SCRIPT,
        "payload": {"script": "t.sh"},
        "status": TaskStatus(status),
        "timeout": 60,
        "created_at": NOW - timedelta(minutes=10),
        "updated_at": NOW - timedelta(minutes=10),
    }
    fields.update(changes)
    return Task(**fields)  # type: ignore[arg-type]


def _stream(instructions: str | None = "Add login.\nDone when tests pass.") -> Stream:
    return Stream(
        id="str_0123456789ab", session_id="ses_0123456789ab", name="auth", instructions=instructions,
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.42, "0.4s"), (9.96, "10.0s"), (42, "42s"), (65, "1m 05s"), (3599, "59m 59s"), (7380, "2h 03m"),
     (273600, "3d 04h"), (-5, "0.0s")],
)  # fmt: skip
def test_format_duration_is_precise_when_short_and_coarse_when_long(seconds: float, text: str) -> None:
    assert output.format_duration(timedelta(seconds=seconds)) == text
    assert output.format_duration(seconds) == text


@pytest.mark.parametrize(
    ("ago", "text"),
    [(timedelta(0), "just now"), (timedelta(seconds=-30), "just now"), (timedelta(seconds=12), "12s ago"),
     (timedelta(minutes=3, seconds=59), "3m ago"), (timedelta(hours=5), "5h ago"), (timedelta(days=2), "2d ago")],
)  # fmt: skip
def test_relative_age_reads_like_a_person_would_say_it(ago: timedelta, text: str) -> None:
    assert output.relative_age(NOW - ago, NOW) == text


def test_relative_age_beyond_a_month_is_the_date() -> None:
    assert output.relative_age(NOW - timedelta(days=45), NOW) == (NOW - timedelta(days=45)).astimezone().strftime(
        "%Y-%m-%d"
    )


def test_truncate_cuts_with_ellipsis_and_respects_wide_characters() -> None:
    assert output.truncate("short", 10) == "short"
    assert output.truncate("exactly10!", 10) == "exactly10!"
    assert output.truncate("much too long", 8) == "much to…"
    assert output.truncate("日本語のテキスト", 7) == "日本語…"  # each character takes two columns
    assert output.display_width(output.truncate("日本語のテキスト", 7)) <= 7


def test_clean_text_escapes_terminal_controls_but_keeps_lines() -> None:
    assert output.clean_block("a\r\nb\x1b[2Jc\x07\td") == "a\nb\\x1b[2Jc\\x07\td"
    assert output.clean_line("two\nlines  and\x1b]0;title\x07") == "two lines and\\x1b]0;title\\x07"


def test_table_aligns_columns_and_shrinks_only_flexible_ones_to_fit() -> None:
    columns = (Column("ID"), Column("NAME", flex=True), Column("N", align=">"))
    rows = [["tsk_0123456789ab", "n" * 100, "7"], ["tsk_ffffffffffff", "short", "12"]]
    lines = output.table(columns, rows, width=40)
    assert lines[0] == "ID                NAME                 N"
    assert lines[1] == "tsk_0123456789ab  nnnnnnnnnnnnnnnnn…   7"
    assert lines[2] == "tsk_ffffffffffff  short               12"
    assert all(len(line) <= 40 for line in lines)


def test_table_measures_emoji_sequences_and_zero_width_characters_as_a_terminal_draws_them() -> None:
    # a thumbs-up with a skin tone, a ZWJ family: one glyph of two columns each; a zero-width space: none
    rows = [["👍🏽", "x"], ["👨\u200d👩\u200d👧", "y"], ["a\u200bb", "z"], ["ab", "w"]]
    assert output.table((Column("A"), Column("B")), rows) == [
        "A   B",
        "👍🏽  x",
        "👨\u200d👩\u200d👧  y",
        "a\u200bb  z",
        "ab  w",
    ]
    assert output.truncate("👍🏽👍🏽👍🏽", 5) == "👍🏽👍🏽…"
    assert output.display_width("👨\u200d👩\u200d👧 a\u200b") == 4


def test_table_colours_only_when_asked() -> None:
    rows = [[Cell("failed", "red")]]
    assert output.table((Column("STATUS"),), rows, color=False) == ["STATUS", "failed"]
    assert output.table((Column("STATUS"),), rows, color=True)[1] == "\x1b[31mfailed\x1b[0m"


def test_color_is_for_terminals_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert output.color_enabled(Tty()) is True
    assert output.color_enabled(io.StringIO()) is False
    monkeypatch.setenv("FORCE_COLOR", "1")  # a pipe stays plain whatever rich's convention asks
    assert output.color_enabled(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert output.color_enabled(Tty()) is False
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert output.color_enabled(Tty()) is False


def test_width_is_columns_else_80_when_piped_even_on_a_dumb_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setenv("COLUMNS", "132")
    assert output.terminal_width(Tty()) == 132
    monkeypatch.setenv("COLUMNS", "20")
    assert output.terminal_width(io.StringIO()) == output.MIN_WIDTH
    monkeypatch.delenv("COLUMNS")
    assert output.terminal_width(io.StringIO()) == 80


def test_status_cell_marks_stale_and_auto_failed_tasks() -> None:
    stale = _task("running", started_at=NOW - timedelta(seconds=61), attempts=1)
    fresh = _task("running", started_at=NOW - timedelta(seconds=59), attempts=1)
    dead = fresh.auto_fail(NOW)
    assert output.task_status_cell(stale, NOW) == Cell("running ⚠ stale", "yellow")
    assert output.task_status_cell(fresh, NOW) == Cell("running", "yellow")
    assert output.task_status_cell(dead, NOW) == Cell("failed ⚠ auto", "red")
    assert output.task_status_cell(_task("queued"), NOW) == Cell("queued", "blue")


def test_task_time_is_running_time_or_duration() -> None:
    running = _task("running", started_at=NOW - timedelta(seconds=65), attempts=1)
    assert output.task_time(running, NOW) == "1m 05s"
    finished = running.complete({"summary": "ok"}, NOW - timedelta(seconds=20))
    assert output.task_time(finished, NOW) == "45s"
    assert output.task_time(_task("queued"), NOW) == "-"


def test_tasks_table_shows_stream_names_and_markers() -> None:
    stale = _task("running", id="tsk_aaaaaaaaaaaa", started_at=NOW - timedelta(seconds=90), attempts=1)
    lines = output.tasks_table([stale, _task()], {"str_0123456789ab": "auth"}, NOW)
    assert lines[0].split() == ["ID", "STREAM", "TOOL", "STATUS", "CREATED", "DURATION"]
    assert lines[1].split()[:3] == ["tsk_aaaaaaaaaaaa", "auth", "run-bash"]
    assert lines[1].split()[3:] == ["running", "⚠", "stale", "10m", "ago", "1m", "30s"]
    assert lines[2].split()[-4:] == ["queued", "10m", "ago", "-"]


def test_tasks_footer_explains_empty_and_cut_lists() -> None:
    assert output.tasks_footer(0, 0, filtered=False) == "No tasks yet. Queue one with: sparkq enqueue"
    assert output.tasks_footer(0, 0, filtered=True) == "No tasks match these filters."
    assert output.tasks_footer(20, 57, filtered=False) == "Showing the newest 20 of 57 tasks; use --limit to see more."
    assert output.tasks_footer(3, 3, filtered=False) is None


def test_task_detail_puts_summary_first_and_instructions_last() -> None:
    task = _task(
        "succeeded",
        result={"files": ["a.py"], "summary": "Login works"},
        error=None,
        stdout="ok\n",
        started_at=NOW - timedelta(minutes=8),
        finished_at=NOW - timedelta(minutes=6, seconds=55),
        attempts=1,
    )
    lines = output.task_detail(task, _stream(), NOW, session_name="api-v2")
    assert lines[0] == "Task tsk_0123456789ab  succeeded"
    assert lines[1] == "  stream    auth (session api-v2)"
    result = lines.index("Result")
    assert lines[result + 1] == "  Summary: Login works"
    assert lines[result + 2 : result + 7] == ["  {", '    "files": [', '      "a.py"', "    ]", "  }"]
    timing = lines.index("Timing")
    assert "waited 2m 00s" in lines[timing + 2] and "ran 1m 05s" in lines[timing + 3]
    assert lines[-3:] == ["Stream instructions (auth)", "  Add login.", "  Done when tests pass."]


def test_task_detail_of_running_task_says_how_long_and_warns_when_stale() -> None:
    task = _task("running", started_at=NOW - timedelta(seconds=90), attempts=2)
    lines = output.task_detail(task, _stream(None), NOW)
    assert "  running   for 1m 30s  ⚠ stale: past its 60s timeout" in lines
    assert lines[-1] == "  (none)"


def test_claim_usage_lists_streams_with_queued_counts() -> None:
    item = StreamCounts(stream=_stream(), session_name="api-v2", counts={TaskStatus.QUEUED: 3})
    assert output.claim_usage([item]) == [
        "Error: --stream is required",
        "Streams with queued tasks:",
        "  auth  3 queued  (session api-v2)",
        "Usage: sparkq claim --stream STREAM",
    ]
    assert output.claim_usage([])[1] == "No stream has queued tasks right now."


def test_status_report_lists_active_sessions_and_counts_tasks() -> None:
    session = Session(
        id="ses_1", project_id="prj_1", name="api-v2", status=Status.ACTIVE, started_at=NOW, created_at=NOW,
        updated_at=NOW,
    )  # fmt: skip
    counts = {TaskStatus.QUEUED: 2, TaskStatus.RUNNING: 1, TaskStatus.SUCCEEDED: 0, TaskStatus.FAILED: 4}
    work = ActiveWork(counts=counts, sessions=[session], streams=[], stale=1)
    lines = output.status_report("/db", work)
    assert lines[0] == "Database: /db"
    assert "Active sessions (1): api-v2" in lines
    assert "Tasks: 2 queued  1 running  0 succeeded  4 failed" in lines
    assert lines[-1] == "⚠ stale: 1 running task past timeout (sparkq tasks --stale)"


# -- purge ages ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "age"), [("12h", timedelta(hours=12)), ("3d", timedelta(days=3)),
                                           (" 2W ", timedelta(weeks=2)), ("0d", timedelta(0))])  # fmt: skip
def test_parse_age_accepts_hours_days_weeks(text: str, age: timedelta) -> None:
    assert parse_age(text) == age


@pytest.mark.parametrize("text", ["", "3", "d", "3m", "1.5d", "-1d", "3 days"])
def test_parse_age_refuses_anything_else_naming_the_forms(text: str) -> None:
    from sparkq_adapters.cli.common import UsageError

    with pytest.raises(UsageError, match="followed by h, d or w"):
        parse_age(text)


# -- the lockfile --------------------------------------------------------------------------------


def test_an_unreaped_child_counts_as_dead() -> None:
    child = subprocess.Popen(["true"])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, still a zombie
        assert pid_alive(child.pid) is False
    finally:
        child.wait()
