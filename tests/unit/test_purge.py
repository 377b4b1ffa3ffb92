"""Purge in batches: `Queue.purge` over the in-memory store, each batch its own write unit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta

import pytest

from sparkq_adapters.memory import MemoryStore
from sparkq_domain import InvalidInput, Queue, Repository, TaskStatus
from tests.fakes import FakeClock, SequentialIds


class SpyRepository:
    """Passes everything to the real repository; notes each purge call of its write unit."""

    def __init__(self, inner: Repository, unit: list[tuple[str, int, int]]) -> None:
        self._inner = inner
        self._unit = unit

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def delete_finished_before(self, cutoff: datetime, limit: int | None = None) -> int:
        deleted = self._inner.delete_finished_before(cutoff, limit)
        self._unit.append(("tasks", limit or -1, deleted))
        return deleted


class SpyStore:
    """A MemoryStore that records, per write unit, the purge calls made in it."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.units: list[list[tuple[str, int, int]]] = []

    def read(self) -> AbstractContextManager[Repository]:
        return self.inner.read()

    @contextmanager
    def write(self) -> Iterator[Repository]:
        unit: list[tuple[str, int, int]] = []
        with self.inner.write() as repo:
            yield SpyRepository(repo, unit)  # type: ignore[misc]
        self.units.append(unit)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> SpyStore:
    return SpyStore()


@pytest.fixture
def queue(store: SpyStore, clock: FakeClock) -> Queue:
    q = Queue(store, clock, SequentialIds())
    q.ensure_project("demo")
    q.create_session("api-v2")
    q.create_stream("auth", "api-v2")
    return q


def finish(queue: Queue, n: int, *, fail_every: int = 3) -> list[str]:
    """Enqueue, claim and finish `n` tasks (every `fail_every`-th one fails); return their ids."""
    done = []
    for i in range(n):
        queue.enqueue("auth", "run-bash", {"n": i})
        claimed = queue.claim("auth")
        assert claimed is not None
        if i % fail_every == 0:
            queue.fail(claimed.task.id, "broke")
        else:
            queue.complete(claimed.task.id, {"summary": "ok"})
        done.append(claimed.task.id)
    return done


def purge_units(store: SpyStore) -> list[list[tuple[str, int, int]]]:
    return [unit for unit in store.units if unit]


def test_purge_deletes_exactly_the_old_finished_tasks_across_several_batches(
    queue: Queue, store: SpyStore, clock: FakeClock
) -> None:
    old = finish(queue, 7)
    clock.advance(4 * 86400)
    queue.enqueue("auth", "run-bash", {"queued": True})
    fresh = finish(queue, 2)
    queue.enqueue("auth", "run-bash", {"will": "run"})
    still_running = queue.claim("auth")
    assert still_running is not None
    before = {t.id for t in queue.list_tasks(limit=None).tasks}

    assert queue.purge(timedelta(days=3), batch_size=3, pause=0) == 7

    remaining = {t.id for t in queue.list_tasks(limit=None).tasks}
    assert remaining == before - set(old)
    assert set(fresh) <= remaining and still_running.task.id in remaining
    assert {t.status for t in queue.list_tasks(limit=None).tasks} == {
        TaskStatus.QUEUED,
        TaskStatus.RUNNING,
        TaskStatus.SUCCEEDED,
        TaskStatus.FAILED,
    }
    # one write unit per batch: 3 + 3 + 1 tasks (a store's change feed is its own upkeep)
    assert purge_units(store) == [[("tasks", 3, 3)], [("tasks", 3, 3)], [("tasks", 3, 1)]]


def test_purge_of_an_exact_multiple_of_the_batch_ends_with_an_empty_batch(
    queue: Queue, store: SpyStore, clock: FakeClock
) -> None:
    finish(queue, 6)
    clock.advance(2 * 86400)
    assert queue.purge(timedelta(days=1), batch_size=3, pause=0) == 6
    assert [unit[0][2] for unit in purge_units(store) if unit[0][0] == "tasks"] == [3, 3, 0]
    assert queue.list_tasks(limit=None).total == 0


def test_purge_with_nothing_old_enough_deletes_nothing_in_one_batch(
    queue: Queue, store: SpyStore, clock: FakeClock
) -> None:
    finish(queue, 4)
    store.units.clear()
    assert queue.purge(timedelta(days=3), batch_size=2, pause=0) == 0
    assert purge_units(store) == [[("tasks", 2, 0)]]
    assert queue.list_tasks(limit=None).total == 4


@pytest.mark.parametrize("size", [0, -5])
def test_purge_refuses_a_batch_size_below_one(queue: Queue, size: int) -> None:
    with pytest.raises(InvalidInput, match=f"Invalid purge batch size {size}: must be 1 or more"):
        queue.purge(timedelta(days=3), batch_size=size)


def test_purge_reports_its_progress_after_each_batch_and_ends_at_what_it_deleted(
    queue: Queue, store: SpyStore, clock: FakeClock
) -> None:
    finish(queue, 7)
    clock.advance(4 * 86400)
    finish(queue, 2)  # finished too recently: counted in the bound, never deleted
    seen: list[tuple[int, int]] = []
    assert queue.purge(timedelta(days=3), batch_size=3, pause=0, progress=lambda *at: seen.append(at)) == 7
    # at most the 9 finished tasks there were; the last report is the 7 deleted, all of them
    assert seen == [(0, 9), (3, 9), (6, 9), (7, 7)]
    assert purge_units(store) == [[("tasks", 3, 3)], [("tasks", 3, 3)], [("tasks", 3, 1)]]


def test_purge_with_nothing_to_delete_reports_zero_of_zero_at_the_end(queue: Queue, clock: FakeClock) -> None:
    seen: list[tuple[int, int]] = []
    assert queue.purge(timedelta(days=3), batch_size=2, pause=0, progress=lambda *at: seen.append(at)) == 0
    assert seen == [(0, 0), (0, 0)]
