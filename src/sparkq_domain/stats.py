"""History in numbers: tasks finished per hour, and how long each tool's tasks take."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import attrs

from .model import TaskStatus


@attrs.frozen(kw_only=True)
class FinishedTask:
    """The little the statistics need of a finished task."""

    tool_name: str
    status: TaskStatus
    started_at: datetime | None
    finished_at: datetime


@attrs.frozen(kw_only=True)
class HourCount:
    hour: datetime
    succeeded: int = 0
    failed: int = 0


@attrs.frozen(kw_only=True)
class ToolDurations:
    tool_name: str
    count: int
    median_seconds: float
    p90_seconds: float


@attrs.frozen(kw_only=True)
class Stats:
    generated_at: datetime
    finished_per_hour: Sequence[HourCount]
    tools: Sequence[ToolDurations]


def summarize(records: Iterable[FinishedTask], now: datetime, *, hours: int = 24) -> Stats:
    """Count finished tasks per hour over the last `hours` (oldest first) and summarize durations.

    Durations are those of succeeded tasks (claim to finish), per tool: the median and the 90th
    percentile (nearest rank), the figures to expect of the next task of that tool.
    """
    current = now.replace(minute=0, second=0, microsecond=0)
    first = current - timedelta(hours=hours - 1)
    counts = {first + timedelta(hours=i): [0, 0] for i in range(hours)}
    durations: dict[str, list[float]] = {}
    for record in records:
        bucket = counts.get(record.finished_at.replace(minute=0, second=0, microsecond=0))
        if bucket is not None:
            bucket[0 if record.status is TaskStatus.SUCCEEDED else 1] += 1
        if record.status is TaskStatus.SUCCEEDED and record.started_at is not None:
            elapsed = max((record.finished_at - record.started_at).total_seconds(), 0.0)
            durations.setdefault(record.tool_name, []).append(elapsed)
    return Stats(
        generated_at=now,
        finished_per_hour=[HourCount(hour=h, succeeded=s, failed=f) for h, (s, f) in counts.items()],
        tools=[_durations(tool, values) for tool, values in sorted(durations.items())],
    )


def _durations(tool: str, values: list[float]) -> ToolDurations:
    # imported here, not at the top: its imports (fractions, decimal, random) would cost every CLI
    # call ~10 ms, and the domain is on the worker commands' path; only stats need it
    import statistics

    ordered = sorted(values)
    n = len(ordered)
    p90 = ordered[max(math.ceil(0.9 * n) - 1, 0)]
    return ToolDurations(tool_name=tool, count=n, median_seconds=statistics.median(ordered), p90_seconds=p90)
