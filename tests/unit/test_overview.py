"""The read side: the active work (`sparkq status`, `/api/status`) and the dashboard's overview, from `Queue` reads."""

from __future__ import annotations

import pytest

from sparkq_domain import InvalidInput, NotFound, Queue, Status, TaskStatus
from sparkq_domain.overview import MAX_OVERVIEW_TASKS, active_work, overview
from tests.fakes import FakeClock


@pytest.fixture
def queue(bare_queue: Queue) -> Queue:
    """Session `old` (ended, with stream `gone`), session `api` (streams `auth`, `docs`)."""
    q = bare_queue
    q.create_session("old")
    q.create_stream("gone", "old")
    q.end_session("old")
    q.create_session("api")
    q.create_stream("auth", "api")
    q.create_stream("docs", "api")
    return q


def test_active_work_is_the_active_sessions_and_streams_with_global_counts(queue: Queue) -> None:
    done = queue.enqueue("auth", "run-bash", {}).id
    queue.claim_task(done)
    queue.complete(done, {"summary": "ok"})
    queue.enqueue("docs", "run-bash", {})
    work = active_work(queue)
    assert [s.name for s in work.sessions] == ["api"]
    assert [s.stream.name for s in work.streams] == ["auth", "docs"]
    assert all(s.stream.status is Status.ACTIVE for s in work.streams)
    [api] = work.sessions
    assert [s.stream.name for s in work.streams_of(api)] == ["auth", "docs"]
    assert dict(work.counts) == {
        TaskStatus.QUEUED: 1,
        TaskStatus.RUNNING: 0,
        TaskStatus.SUCCEEDED: 1,
        TaskStatus.FAILED: 0,
        TaskStatus.CANCELLED: 0,
    }
    assert work.stale == 0


def test_active_work_counts_stale_tasks_and_shows_dead_ones_failed(queue: Queue, clock: FakeClock) -> None:
    stale = queue.enqueue("auth", "run-bash", {}, timeout=100).id
    dead = queue.enqueue("auth", "run-bash", {}, timeout=10).id
    queue.claim_task(stale)
    queue.claim_task(dead)
    clock.advance(101)  # `stale` past its timeout, `dead` past twice its own
    work = active_work(queue)
    assert work.stale == 1
    # counted after the sweep: the dead task is failed everywhere the counts are shown
    assert (work.counts[TaskStatus.RUNNING], work.counts[TaskStatus.FAILED]) == (1, 1)
    [auth, _] = work.streams
    assert (auth.counts[TaskStatus.RUNNING], auth.counts[TaskStatus.FAILED]) == (1, 1)
    assert queue.get_task(dead).auto_failed


def test_overview_has_every_stream_the_session_tally_the_newest_tasks_and_stats(queue: Queue, clock: FakeClock) -> None:
    ids = [queue.enqueue("docs" if n % 2 else "auth", "run-bash", {"n": n}).id for n in range(4)]
    queue.claim_task(ids[0])
    queue.complete(ids[0], {"summary": "built"})
    view = overview(queue, limit=3)
    assert view.generated_at == clock.now()
    assert (view.active_sessions, view.ended_sessions) == (1, 1)
    assert [s.stream.name for s in view.streams] == ["gone", "auth", "docs"]
    assert [t.id for t in view.newest.tasks] == ids[:0:-1] and view.newest.total == 4
    assert view.counts[TaskStatus.QUEUED] == 3 and view.counts[TaskStatus.SUCCEEDED] == 1
    assert view.counts == queue.status_counts()  # the streams' counts summed: every task, ended streams' too
    assert [t.tool_name for t in view.stats.tools] == ["run-bash"]
    assert view.stats.finished_per_hour[-1].succeeded == 1
    # one stream's newest tasks, by name or id; the counts stay global
    docs = overview(queue, stream="docs")
    assert [t.id for t in docs.newest.tasks] == [ids[3], ids[1]] and docs.counts == view.counts
    auth = overview(queue, stream=queue.get_stream("auth").id, limit=1)
    assert [t.id for t in auth.newest.tasks] == [ids[2]] and auth.newest.total == 2


def test_overview_refuses_an_unknown_stream_and_a_limit_out_of_range(queue: Queue) -> None:
    with pytest.raises(NotFound, match="nope"):
        overview(queue, stream="nope")
    for limit in (0, MAX_OVERVIEW_TASKS + 1):
        with pytest.raises(InvalidInput, match=f"1 to {MAX_OVERVIEW_TASKS}"):
            overview(queue, limit=limit)
    assert len(overview(queue, limit=MAX_OVERVIEW_TASKS).newest.tasks) == 0
