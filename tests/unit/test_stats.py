"""The dashboard's numbers: finished per hour, and per-tool median and p90 durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sparkq_adapters.memory import MemoryStore
from sparkq_domain import FinishedTask, Queue, TaskStatus
from sparkq_domain.stats import summarize
from tests.fakes import FakeClock, SequentialIds

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


def done(tool: str, seconds: float, finished: datetime, status: TaskStatus = TaskStatus.SUCCEEDED) -> FinishedTask:
    return FinishedTask(
        tool_name=tool, status=status, started_at=finished - timedelta(seconds=seconds), finished_at=finished
    )


def test_finished_tasks_are_counted_per_hour_over_the_last_24_hours() -> None:
    records = [
        done("a", 1, NOW),
        done("a", 1, NOW.replace(minute=0)),
        done("a", 1, NOW - timedelta(hours=1), TaskStatus.FAILED),
        done("a", 1, NOW - timedelta(hours=23, minutes=30)),  # 11:00 yesterday: the first bucket
        done("a", 1, NOW - timedelta(hours=24, minutes=31)),  # older: not counted
    ]
    hours = summarize(records, NOW).finished_per_hour
    assert len(hours) == 24
    assert hours[0].hour == datetime(2026, 11, 22, 11, tzinfo=UTC)
    assert hours[-1].hour == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert (hours[-1].succeeded, hours[-1].failed) == (2, 0)
    assert (hours[-2].succeeded, hours[-2].failed) == (0, 1)
    assert hours[0].succeeded == 1
    assert sum(h.succeeded + h.failed for h in hours) == 4


def test_tool_durations_are_median_and_nearest_rank_p90_of_succeeded_tasks() -> None:
    records = [done("build", s, NOW) for s in range(1, 11)] + [
        done("build", 999, NOW, TaskStatus.FAILED),  # failures do not count towards durations
        done("lint", 2, NOW),
    ]
    tools = {t.tool_name: t for t in summarize(records, NOW).tools}
    assert (tools["build"].count, tools["build"].median_seconds, tools["build"].p90_seconds) == (10, 5.5, 9)
    assert (tools["lint"].count, tools["lint"].median_seconds, tools["lint"].p90_seconds) == (1, 2, 2)


def test_a_clock_jump_never_gives_negative_durations() -> None:
    backwards = FinishedTask(tool_name="x", status=TaskStatus.SUCCEEDED, started_at=NOW, finished_at=NOW - timedelta(1))
    assert summarize([backwards], NOW).tools[0].median_seconds == 0


def test_queue_stats_reads_history_through_the_store() -> None:
    clock = FakeClock(NOW - timedelta(minutes=10))
    queue = Queue(MemoryStore(), clock, SequentialIds())
    queue.ensure_project("p")
    queue.create_session("s")
    queue.create_stream("st", "s")
    for seconds in (3, 5):
        task = queue.enqueue("st", "run-bash", {})
        queue.claim("st")
        clock.advance(seconds)
        queue.complete(task.id, {"summary": "ok"})
    stats = queue.stats()
    assert stats.finished_per_hour[-1].succeeded == 2
    [tool] = stats.tools
    assert (tool.tool_name, tool.count, tool.median_seconds, tool.p90_seconds) == ("run-bash", 2, 4, 5)
