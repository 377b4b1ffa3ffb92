"""The public test doubles (`sparkq_adapters.testing`), used as a library user would: the README's example runs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import sparkq_adapters.testing as testing
from sparkq_adapters.testing import EPOCH, FakeClock, MemoryStore, SequentialIds, memory_queue
from sparkq_domain import Queue, TaskStatus

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_testing_example() -> str:
    match = re.search(r"<!-- testing-example -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert match, "README.md lost its testing example block"
    return match.group(1)


def test_the_readme_testing_example_is_a_test_that_passes() -> None:
    namespace: dict[str, object] = {}
    exec(compile(readme_testing_example(), "README.md", "exec"), namespace)
    tests = [value for name, value in namespace.items() if name.startswith("test_") and callable(value)]
    assert len(tests) == 1
    tests[0]()


def test_the_module_exports_what_the_readme_names() -> None:
    assert set(testing.__all__) == {"EPOCH", "FakeClock", "MemoryStore", "SequentialIds", "memory_queue"}
    section = README.read_text().split("<!-- testing-example -->")[0][-400:]
    for name in ("memory_queue()", "FakeClock", "SequentialIds", "MemoryStore"):
        assert f"`{name}`" in section, section


def test_memory_queue_has_its_project_and_predictable_ids_and_time() -> None:
    queue = memory_queue(project="shop")
    project = queue.project()
    assert project is not None and project.name == "shop"
    assert project.id == "prj_000000000001"
    assert project.created_at == EPOCH
    session = queue.create_session("s")
    assert session.id == "ses_000000000002"


def test_memory_queues_share_nothing() -> None:
    first, second = memory_queue(), memory_queue()
    first.create_session("s")
    assert [s.name for s in first.list_sessions()] == ["s"]
    assert second.list_sessions() == []


def test_memory_queue_takes_a_clock_ids_and_registry_of_ones_own() -> None:
    clock = FakeClock(datetime(2030, 5, 1, tzinfo=UTC))
    ids = SequentialIds()
    queue = memory_queue(clock=clock, ids=ids)
    assert queue.now() == datetime(2030, 5, 1, tzinfo=UTC)
    assert ids.new_id("x") == "x_000000000002"  # the project took the first
    assert isinstance(Queue(MemoryStore(), FakeClock(), SequentialIds()), Queue)


def test_the_fake_clock_moves_only_when_told_and_its_sleep_does_not_wait() -> None:
    clock = FakeClock()
    assert clock.now() == EPOCH == clock.now()
    clock.advance(90)
    assert clock.now() == EPOCH + timedelta(seconds=90)
    clock.advance(-30)
    assert clock.now() == EPOCH + timedelta(seconds=60)
    clock.sleep(3600)  # an hour of purge pauses, at once
    assert clock.now() == EPOCH + timedelta(seconds=3660)


def test_a_fake_clock_without_a_timezone_is_refused_naming_the_fix() -> None:
    with pytest.raises(ValueError, match=r"timezone-aware start, e\.g\. datetime\(2026, 1, 1, tzinfo=UTC\)"):
        FakeClock(datetime(2026, 1, 1))


def test_a_stale_task_is_auto_failed_on_the_fake_clock() -> None:
    clock = FakeClock()
    queue = memory_queue(clock=clock)
    queue.create_session("s")
    queue.create_stream("st", "s")
    task = queue.enqueue("st", "run-bash", {})
    queue.claim("st")
    clock.advance(2 * task.timeout)
    assert queue.sweep_dead() == []  # at twice the timeout, not yet
    clock.advance(1)
    [dead] = queue.sweep_dead()
    assert dead.status is TaskStatus.FAILED
