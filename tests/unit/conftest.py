"""Fixtures shared by the domain's unit tests."""

from __future__ import annotations

import pytest

from sparkq_adapters.memory import MemoryStore
from sparkq_domain import Queue
from tests.fakes import FakeClock, SequentialIds


@pytest.fixture
def clock() -> FakeClock:
    """The fixed clock of `bare_queue` and `queue`, for a test to advance."""
    return FakeClock()


@pytest.fixture
def bare_queue(clock: FakeClock) -> Queue:
    """A queue in memory on `clock` with project `demo` and nothing in it: a test file adds its own sessions."""
    q = Queue(MemoryStore(), clock, SequentialIds())
    q.ensure_project("demo")
    return q


@pytest.fixture
def queue(bare_queue: Queue) -> Queue:
    """A queue in memory with project `demo`, session `s` and its stream `st`."""
    bare_queue.create_session("s")
    bare_queue.create_stream("st", "s")
    return bare_queue
