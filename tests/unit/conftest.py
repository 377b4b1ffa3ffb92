"""Fixtures shared by the domain's unit tests."""

from __future__ import annotations

import pytest

from sparkq_adapters.memory import MemoryStore
from sparkq_domain import Queue
from tests.fakes import FakeClock, SequentialIds


@pytest.fixture
def queue() -> Queue:
    """A queue in memory with project `demo`, session `s` and its stream `st`."""
    q = Queue(MemoryStore(), FakeClock(), SequentialIds())
    q.ensure_project("demo")
    q.create_session("s")
    q.create_stream("st", "s")
    return q
