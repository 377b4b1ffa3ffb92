"""Test doubles for code that uses SparkQ as a library: a clock moved by hand, predictable ids, a queue in memory.

from sparkq_adapters.testing import FakeClock, memory_queue

clock = FakeClock()
queue = memory_queue(clock=clock)  # project `test`, nothing on disk
queue.create_session("s")
queue.create_stream("st", "s")
task = queue.enqueue("st", "run-bash", {})
queue.claim("st")
clock.advance(2 * task.timeout + 1)  # past twice the timeout: the sweep auto-fails it
queue.sweep_dead()
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sparkq_domain import Clock, IdFactory, Queue, Registry

from .memory import MemoryStore

__all__ = ["EPOCH", "FakeClock", "MemoryStore", "SequentialIds", "memory_queue"]

#: where a `FakeClock` starts unless told otherwise
EPOCH = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told to (forwards or backwards); its `sleep` moves it instead of waiting."""

    def __init__(self, start: datetime = EPOCH) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start, e.g. datetime(2026, 1, 1, tzinfo=UTC)")
        self.current = start

    def now(self) -> datetime:
        """Return the time the clock was set or moved to."""
        return self.current

    def advance(self, seconds: float) -> None:
        """Move the clock by `seconds` (negative moves it back)."""
        self.current += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        """Move the clock by `seconds` at once."""
        self.advance(seconds)


class SequentialIds:
    """Ids `tsk_000000000001`, `tsk_000000000002`, …: predictable, unique, and as long as real ones."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new_id(self, prefix: str) -> str:
        """Return the next id with `prefix`."""
        return f"{prefix}_{next(self._counter):012x}"


def memory_queue(
    *,
    project: str = "test",
    clock: Clock | None = None,
    ids: IdFactory | None = None,
    registry: Registry | None = None,
) -> Queue:
    """Return a `Queue` over a new `MemoryStore`, its project created (`FakeClock`, `SequentialIds` unless given)."""
    queue = Queue(MemoryStore(), clock or FakeClock(), ids or SequentialIds(), registry)
    queue.ensure_project(project)
    return queue
