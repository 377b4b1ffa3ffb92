"""The Repository port, method by method, through `store.read()` / `store.write()` of every store."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from sparkq_adapters.memory import MemoryStore
from sparkq_adapters.sqlite import SqliteStore
from sparkq_domain import (
    AUTO_FAIL_MESSAGE,
    CLOCK_TOLERANCE,
    Duplicate,
    FailureKind,
    Project,
    Session,
    Status,
    Store,
    Stream,
    Task,
    TaskChange,
    TaskClass,
    TaskQuery,
    TaskStatus,
)
from sparkq_domain.model import (
    auto_fail_change,
    cancel_change,
    claim_change,
    complete_change,
    fail_change,
    heartbeat_change,
    requeued_change,
)
from tests import postgres_support

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "postgres":
        cluster = request.getfixturevalue("pg_cluster")
        postgres = postgres_support.store(cluster)
        yield postgres
        postgres_support.close_store(cluster, postgres)
        return
    sqlite = SqliteStore(tmp_path / "contract.db")
    yield sqlite
    sqlite.close()


_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):012x}"


def project(**kw: Any) -> Project:
    return Project(**{"id": _id("prj"), "name": "demo", "created_at": T0, "updated_at": T0, **kw})


def session(project_id: str, name: str, at: datetime = T0, **kw: Any) -> Session:
    return Session(
        **{
            "id": _id("ses"),
            "project_id": project_id,
            "name": name,
            "started_at": at,
            "created_at": at,
            "updated_at": at,
            **kw,
        }
    )


def stream(session_id: str, name: str, at: datetime = T0, **kw: Any) -> Stream:
    return Stream(
        **{"id": _id("str"), "session_id": session_id, "name": name, "created_at": at, "updated_at": at, **kw}
    )


def task(stream_id: str, at: datetime = T0, **kw: Any) -> Task:
    return Task(
        **{
            "id": _id("tsk"),
            "stream_id": stream_id,
            "tool_name": "run-bash",
            "task_class": TaskClass.MEDIUM_SCRIPT,
            "payload": {"script": "x.sh"},
            "timeout": 60,
            "created_at": at,
            "updated_at": at,
            **kw,
        }
    )


@attrs.frozen
class World:
    project: Project
    session: Session
    streams: tuple[Stream, Stream]


@pytest.fixture
def world(store: Store) -> World:
    """A project, one active session and two streams `a` and `b`, already stored."""
    prj = project()
    ses = session(prj.id, "api-v2")
    a, b = stream(ses.id, "a"), stream(ses.id, "b", at=T0 + timedelta(seconds=1))
    with store.write() as repo:
        repo.add_project(prj)
        repo.add_session(ses)
        repo.add_stream(a)
        repo.add_stream(b)
    return World(prj, ses, (a, b))


def add_tasks(store: Store, *tasks: Task) -> list[Task]:
    with store.write() as repo:
        for t in tasks:
            repo.add_task(t)
    return list(tasks)


def finished(t: Task, status: TaskStatus, at: datetime) -> Task:
    started = t.claim(at - timedelta(seconds=5))
    if status is TaskStatus.SUCCEEDED:
        return started.complete({"summary": "done"}, at)
    return started.fail("broke", at)


def save(store: Store, *tasks: Task) -> None:
    """Bring stored queued tasks to the states given, through the store's own transitions."""
    with store.write() as repo:
        for t in tasks:
            if t.status is TaskStatus.CANCELLED:
                assert t.finished_at is not None
                assert repo.apply(t.id, cancel_change(t.finished_at, t.error)) == t
                continue
            assert t.started_at is not None
            changed = repo.apply(t.id, claim_change(t.started_at))
            if t.status is TaskStatus.SUCCEEDED:
                assert t.result is not None and t.finished_at is not None
                change = complete_change(t.result, t.finished_at, stdout=t.stdout, stderr=t.stderr)
                changed = repo.apply(t.id, change)
            elif t.status is TaskStatus.FAILED:
                assert t.error is not None and t.finished_at is not None
                changed = repo.apply(t.id, fail_change(t.error, t.finished_at, stdout=t.stdout, stderr=t.stderr))
            assert changed == t


def ids(tasks: Any) -> list[str]:
    return [t.id for t in tasks]


# -- project -----------------------------------------------------------------------------------------


def test_get_project_is_none_on_an_empty_store(store: Store) -> None:
    with store.read() as repo:
        assert repo.get_project() is None


def test_add_project_stores_it_and_adding_again_replaces_it(store: Store) -> None:
    prj = project(repo_path="/home/me/app", prd_path="docs/PRD.md")
    with store.write() as repo:
        repo.add_project(prj)
        repo.add_session(session(prj.id, "s1"))
    renamed = attrs.evolve(prj, name="renamed", repo_path=None, updated_at=T0 + timedelta(hours=1))
    with store.write() as repo:
        repo.add_project(renamed)
    with store.read() as repo:
        assert repo.get_project() == renamed
        assert [s.name for s in repo.list_sessions()] == ["s1"]


# -- sessions ----------------------------------------------------------------------------------------


def test_session_round_trips_through_add_get_and_find(store: Store, world: World) -> None:
    described = session(world.project.id, "docs", description="Write the docs ✍️")
    with store.write() as repo:
        repo.add_session(described)
    with store.read() as repo:
        assert repo.get_session(described.id) == described
        assert repo.find_session("docs") == described
        assert repo.get_session("ses_missing") is None
        assert repo.find_session("missing") is None


def test_add_session_with_a_taken_id_raises_duplicate(store: Store, world: World) -> None:
    with pytest.raises(Duplicate), store.write() as repo:
        repo.add_session(attrs.evolve(world.session, name="other"))


def test_save_session_replaces_the_stored_session(store: Store, world: World) -> None:
    ended = world.session.end(T0 + timedelta(minutes=3))
    with store.write() as repo:
        repo.save_session(attrs.evolve(ended, description="over"))
    with store.read() as repo:
        got = repo.get_session(world.session.id)
    assert got == attrs.evolve(ended, description="over")
    assert got is not None and got.status is Status.ENDED and got.ended_at == T0 + timedelta(minutes=3)


def test_list_sessions_in_start_order_filtered_by_status(store: Store, world: World) -> None:
    later = session(world.project.id, "later", at=T0 + timedelta(minutes=1))
    ended = session(world.project.id, "ended", at=T0 + timedelta(minutes=2)).end(T0 + timedelta(minutes=3))
    with store.write() as repo:
        repo.add_session(later)
        repo.add_session(ended)
    with store.read() as repo:
        assert [s.name for s in repo.list_sessions()] == ["api-v2", "later", "ended"]
        assert [s.name for s in repo.list_sessions(Status.ACTIVE)] == ["api-v2", "later"]
        assert [s.name for s in repo.list_sessions(Status.ENDED)] == ["ended"]


# -- streams -----------------------------------------------------------------------------------------


def test_stream_round_trips_through_add_get_and_find(store: Store, world: World) -> None:
    spec = stream(world.session.id, "auth", instructions="Goals:\n- login\nDone when: tests pass — ✓")
    with store.write() as repo:
        repo.add_stream(spec)
    with store.read() as repo:
        assert repo.get_stream(spec.id) == spec
        assert repo.find_stream("auth") == spec
        assert repo.get_stream("str_missing") is None
        assert repo.find_stream("missing") is None


def test_add_stream_with_a_taken_name_raises_duplicate_and_keeps_the_first(store: Store, world: World) -> None:
    with pytest.raises(Duplicate), store.write() as repo:
        repo.add_stream(stream(world.session.id, "a"))
    with store.read() as repo:
        assert repo.find_stream("a") == world.streams[0]


def test_save_stream_replaces_the_stored_stream(store: Store, world: World) -> None:
    changed = attrs.evolve(world.streams[0].end(T0 + timedelta(hours=1)), instructions="new")
    with store.write() as repo:
        repo.save_stream(changed)
    with store.read() as repo:
        assert repo.get_stream(changed.id) == changed


def test_list_streams_in_creation_order_filtered_by_session_and_status(store: Store, world: World) -> None:
    other = session(world.project.id, "other")
    c = stream(other.id, "c", at=T0 + timedelta(seconds=2))
    d = stream(world.session.id, "d", at=T0 + timedelta(seconds=3)).end(T0 + timedelta(seconds=4))
    with store.write() as repo:
        repo.add_session(other)
        repo.add_stream(c)
        repo.add_stream(d)
    with store.read() as repo:
        assert [s.name for s in repo.list_streams()] == ["a", "b", "c", "d"]
        assert [s.name for s in repo.list_streams(world.session.id)] == ["a", "b", "d"]
        assert [s.name for s in repo.list_streams(status=Status.ENDED)] == ["d"]
        assert [s.name for s in repo.list_streams(world.session.id, Status.ACTIVE)] == ["a", "b"]
        assert repo.list_streams(other.id, Status.ENDED) == []


# -- tasks: add / get / save -------------------------------------------------------------------------


def test_task_round_trips_every_field(store: Store, world: World) -> None:
    t = task(world.streams[0].id, task_class=TaskClass.LLM_HEAVY, timeout=900)
    add_tasks(store, t)
    done = t.claim(T0 + timedelta(seconds=1)).complete(
        {"summary": "ok"}, T0 + timedelta(seconds=2), stdout="out\n", stderr="err\n"
    )
    save(store, done)
    with store.read() as repo:
        assert repo.get_task(t.id) == done
        assert repo.get_task("tsk_missing") is None


def test_failure_facts_round_trip_as_the_transitions_record_them(store: Store, world: World) -> None:
    reported, dead = add_tasks(store, task(world.streams[0].id), task(world.streams[0].id))
    lookalike = AUTO_FAIL_MESSAGE.format(timeout=60)  # a worker's message in the sweep's words
    with store.write() as repo:
        for t in (reported, dead):
            repo.apply(t.id, claim_change(T0))
        failed = repo.apply(reported.id, fail_change(lookalike, T0 + timedelta(seconds=1), error_type="Timeout"))
        auto = repo.apply(dead.id, auto_fail_change(60, T0 + timedelta(seconds=121)))
    assert failed is not None and auto is not None
    assert (failed.failure_kind, failed.error_type, failed.error) == (FailureKind.ERROR, "Timeout", lookalike)
    assert (auto.failure_kind, auto.error_type, auto.error) == (FailureKind.AUTO, None, lookalike)
    assert (failed.auto_failed, auto.auto_failed) == (False, True)
    with store.read() as repo:
        assert (repo.get_task(reported.id), repo.get_task(dead.id)) == (failed, auto)
    # a task added with its facts (as an import would) keeps them too
    imported = attrs.evolve(failed, id=_id("tsk"))
    add_tasks(store, imported)
    with store.read() as repo:
        assert repo.get_task(imported.id) == imported


def test_add_task_with_a_taken_id_raises_duplicate(store: Store, world: World) -> None:
    (t,) = add_tasks(store, task(world.streams[0].id))
    with pytest.raises(Duplicate), store.write() as repo:
        repo.add_task(attrs.evolve(t, payload={"other": True}))
    with store.read() as repo:
        assert repo.get_task(t.id) == t


@pytest.mark.parametrize(
    "value",
    [
        {"text": "héllo wörld — 日本語 — emoji 🚀👩‍💻", "quote": '"\\\n\t'},
        {"nested": {"list": [1, 2.5, -3, True, False, None, {"deep": ["x", {"y": []}]}], "empty": {}}},
        {"big": 2**62, "tiny": 1e-300, "zero": 0, "control": "\x00\x01\x1f", "rtl": "שלום"},
        {"ünïcödé kéy 🔑": "value", "": "empty key"},
    ],
)
def test_payload_and_result_json_round_trip_exactly(store: Store, world: World, value: dict[str, Any]) -> None:
    t = task(world.streams[0].id, payload=value)
    add_tasks(store, t)
    done = t.claim(T0).complete({"summary": "résumé ✓", "data": value}, T0 + timedelta(seconds=1))
    save(store, done)
    with store.read() as repo:
        got = repo.get_task(t.id)
    assert got is not None
    assert got.payload == value
    assert got.result == {"summary": "résumé ✓", "data": value}


def test_datetimes_round_trip_as_timezone_aware_utc(store: Store, world: World) -> None:
    created = datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    started = datetime(2027, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    t = task(world.streams[0].id, at=created)
    add_tasks(store, t)
    save(store, t.claim(started))
    with store.read() as repo:
        got = repo.get_task(t.id)
    assert got is not None
    assert got.created_at == created
    assert got.started_at == started
    for value in (got.created_at, got.updated_at, got.started_at):
        assert value is not None and value.utcoffset() == timedelta(0)


# -- tasks: FIFO and running -------------------------------------------------------------------------


def test_next_queued_is_fifo_by_insertion_even_when_created_at_ties(store: Store, world: World) -> None:
    a = world.streams[0].id
    # same timestamp, and ids that sort the other way round: only insertion order may decide
    tied = [task(a, id=f"tsk_{n:012x}") for n in (9, 3, 7, 1)]
    add_tasks(store, *tied)
    order = []
    for _ in tied:
        with store.write() as repo:
            nxt = repo.next_queued(a)
            assert nxt is not None
            assert repo.claim_next(a, claim_change(T0)) == nxt.claim(T0)
            order.append(nxt.id)
    assert order == ids(tied)
    with store.read() as repo:
        assert repo.next_queued(a) is None


def test_next_queued_skips_other_streams_and_non_queued_tasks(store: Store, world: World) -> None:
    a, b = (s.id for s in world.streams)
    first_b, first_a, second_a = add_tasks(store, task(b), task(a), task(a))
    save(store, first_a.claim(T0))
    with store.read() as repo:
        assert repo.next_queued(a) == second_a
        assert repo.next_queued(b) == first_b
        assert repo.next_queued("str_missing") is None


def test_next_queued_puts_a_later_insert_behind_even_with_an_older_timestamp(store: Store, world: World) -> None:
    a = world.streams[0].id
    newer, older = add_tasks(store, task(a, at=T0 + timedelta(hours=1)), task(a, at=T0 - timedelta(hours=1)))
    with store.read() as repo:
        assert repo.next_queued(a) == newer
    assert older.created_at < newer.created_at


def test_sweep_candidates_include_every_dead_and_future_started_running_task(store: Store, world: World) -> None:
    a, b = (s.id for s in world.streams)
    tasks = add_tasks(store, *(task(a if i % 2 else b) for i in range(7)))
    # timeout 60 (from task()): dead when started more than 120 s before `now`
    save(
        store,
        tasks[0].claim(T0 - timedelta(seconds=121)),  # dead
        tasks[1].claim(T0 - timedelta(seconds=120, microseconds=1)),  # dead by a microsecond
        tasks[2].claim(T0 - timedelta(seconds=120)),  # exactly 2x: not dead
        tasks[3].claim(T0 - timedelta(seconds=5)),  # alive
        tasks[4].claim(T0 + timedelta(days=1)),  # started "after now": the clock went back
        finished(tasks[5], TaskStatus.FAILED, T0 - timedelta(days=9)),  # finished long ago: never a candidate
    )
    with store.read() as repo:
        found = repo.sweep_candidates(T0)
    assert all(t.status is TaskStatus.RUNNING for t in found)
    wanted = {t.id for t in found if t.is_dead(T0) or t.starts_after(T0)}
    assert wanted == {tasks[0].id, tasks[1].id, tasks[4].id}


def test_sweep_candidates_judge_each_running_task_by_its_own_timeout(store: Store, world: World) -> None:
    a = world.streams[0].id
    timeouts = (1, 30, 60, 300, 900, 86_400)
    started = [(t, T0 - timedelta(seconds=2 * t, microseconds=1)) for t in timeouts]  # each dead by a microsecond
    started += [(t, T0 - timedelta(seconds=2 * t)) for t in timeouts]  # each exactly 2x: not dead
    started += [(t, T0 + CLOCK_TOLERANCE + timedelta(seconds=t)) for t in timeouts]  # each started "after now"
    tasks = add_tasks(store, *(task(a, timeout=t) for t, _ in started))
    save(store, *(t.claim(at) for t, (_, at) in zip(tasks, started, strict=True)))
    with store.read() as repo:
        found = repo.sweep_candidates(T0)
    dead = {t.id for t in found if t.is_dead(T0)}
    future = {t.id for t in found if t.starts_after(T0)}
    n = len(timeouts)
    assert dead == {t.id for t in tasks[:n]}
    assert future == {t.id for t in tasks[2 * n :]}


def test_sweep_candidates_count_from_the_last_heartbeat(store: Store, world: World) -> None:
    a = world.streams[0].id
    tasks = add_tasks(store, *(task(a) for _ in range(4)))
    # timeout 60: dead when last alive more than 120 s before `now`, whenever it started
    starts = [T0 - timedelta(hours=1)] * 3 + [T0 - timedelta(seconds=5)]
    save(store, *(t.claim(at) for t, at in zip(tasks, starts, strict=True)))
    beats = [
        T0 - timedelta(seconds=121),  # its last heartbeat too long ago: dead
        T0 - timedelta(seconds=120),  # exactly 2x since the heartbeat: not dead
        T0 - timedelta(seconds=5),  # alive
        T0 + timedelta(days=1),  # started a moment ago, a heartbeat "after now": the clock went back
    ]
    with store.write() as repo:
        for t, start, at in zip(tasks, starts, beats, strict=True):
            assert repo.apply(t.id, heartbeat_change(at, "halfway")) == t.claim(start).heartbeat(at, "halfway")
    with store.read() as repo:
        found = repo.sweep_candidates(T0)
    assert {t.id for t in found if t.is_dead(T0)} == {tasks[0].id}
    assert {t.id for t in found if t.starts_after(T0)} == {tasks[3].id}


def test_a_heartbeat_keeps_the_latest_note_and_applies_only_to_running_tasks(store: Store, world: World) -> None:
    a = world.streams[0].id
    queued, running = add_tasks(store, task(a), task(a))
    save(store, running.claim(T0))
    with store.write() as repo:
        assert repo.apply(queued.id, heartbeat_change(T0)) is None
        repo.apply(running.id, heartbeat_change(T0 + timedelta(seconds=1), "tests written"))
        beat = repo.apply(running.id, heartbeat_change(T0 + timedelta(seconds=2)))
    assert beat is not None
    assert (beat.heartbeat_at, beat.progress) == (T0 + timedelta(seconds=2), "tests written")
    with store.read() as repo:
        assert repo.get_task(running.id) == beat
        assert repo.get_task(queued.id) == queued


def test_apply_to_queued_cancels_every_queued_task_of_one_stream(store: Store, world: World) -> None:
    a, b = (s.id for s in world.streams)
    ts = add_tasks(store, task(a), task(a), task(b), task(a))
    save(store, ts[0].claim(T0))
    with store.write() as repo:
        assert repo.apply_to_queued(a, cancel_change(T0, "stream ended")) == 2
        assert repo.apply_to_queued(a, cancel_change(T0, "stream ended")) == 0
    with store.read() as repo:
        assert repo.get_task(ts[0].id) == ts[0].claim(T0)
        assert repo.get_task(ts[1].id) == ts[1].cancel(T0, "stream ended")
        assert repo.get_task(ts[3].id) == ts[3].cancel(T0, "stream ended")
        assert repo.get_task(ts[2].id) == ts[2]
        cancelled = repo.get_task(ts[1].id)
        assert cancelled is not None and cancelled.failure_kind is FailureKind.CANCELLED
        assert repo.count_tasks(TaskQuery(status=TaskStatus.CANCELLED)) == 2
        assert repo.task_counts([a])[a] == {TaskStatus.RUNNING: 1, TaskStatus.CANCELLED: 2}


def test_failed_not_requeued_lists_failed_tasks_without_a_copy_in_fifo_order(store: Store, world: World) -> None:
    a, b = (s.id for s in world.streams)
    ts = add_tasks(store, *(task(a if n % 2 == 0 else b, at=T0 + timedelta(seconds=10 - n)) for n in range(6)))
    save(
        store,
        finished(ts[0], TaskStatus.FAILED, T0 + timedelta(minutes=1)),
        finished(ts[1], TaskStatus.FAILED, T0 + timedelta(minutes=2)),
        finished(ts[2], TaskStatus.SUCCEEDED, T0 + timedelta(minutes=3)),
        finished(ts[3], TaskStatus.FAILED, T0 + timedelta(minutes=4)),
        finished(ts[4], TaskStatus.FAILED, T0 + timedelta(minutes=5)),
    )
    with store.write() as repo:
        original = repo.get_task(ts[4].id)
        assert original is not None
        marked = repo.apply(ts[4].id, requeued_change(original, "tsk_copy00000001"))
        assert marked == attrs.evolve(original, requeued_to="tsk_copy00000001")
    with store.read() as repo:
        assert ids(repo.failed_not_requeued(None, None)) == [ts[0].id, ts[1].id, ts[3].id]
        assert ids(repo.failed_not_requeued(b, None)) == [ts[1].id, ts[3].id]
        assert ids(repo.failed_not_requeued(None, T0 + timedelta(minutes=2))) == [ts[1].id, ts[3].id]
        assert ids(repo.failed_not_requeued(a, T0 + timedelta(minutes=2))) == []


# -- tasks: transitions the store executes atomically ---------------------------------------------


def test_claim_next_changes_the_streams_first_queued_task_and_returns_it_changed(store: Store, world: World) -> None:
    a, b = (s.id for s in world.streams)
    first, other, second = add_tasks(store, task(a), task(b), task(a))
    with store.write() as repo:
        claimed = repo.claim_next(a, claim_change(T0))
        assert claimed == first.claim(T0)
        assert claimed is not None and claimed.attempts == 1
        assert repo.claim_next(a, claim_change(T0)) == second.claim(T0)
        assert repo.claim_next(a, claim_change(T0)) is None
    with store.read() as repo:
        assert repo.get_task(first.id) == first.claim(T0)
        assert repo.get_task(other.id) == other


def test_claim_next_counts_attempts_from_the_stored_row(store: Store, world: World) -> None:
    add_tasks(store, task(world.streams[0].id, attempts=3))
    with store.write() as repo:
        claimed = repo.claim_next(world.streams[0].id, claim_change(T0))
    assert claimed is not None and claimed.attempts == 4


def test_apply_is_a_compare_and_set_on_the_status_the_change_starts_from(store: Store, world: World) -> None:
    queued, running = add_tasks(store, task(world.streams[0].id), task(world.streams[0].id))
    save(store, running.claim(T0))
    done = complete_change({"summary": "ok"}, T0 + timedelta(seconds=1), stdout="out")
    with store.write() as repo:
        assert repo.apply(queued.id, done) is None  # queued, not running: nothing changes
        assert repo.apply("tsk_missing", done) is None
        assert repo.apply(running.id, done) == running.claim(T0).apply(done)
        assert repo.apply(running.id, done) is None  # already succeeded: the second one misses
    with store.read() as repo:
        assert repo.get_task(queued.id) == queued
        got = repo.get_task(running.id)
    assert got is not None and got.status is TaskStatus.SUCCEEDED and got.stdout == "out"


def _race(store: Store, contenders: int, attempt: Callable[[], Task | None]) -> list[Task]:
    """Run `attempt` in a write unit of its own on `contenders` threads at once; return what each won."""
    start = threading.Barrier(contenders)
    won: list[Task] = []
    errors: list[BaseException] = []

    def contend() -> None:
        try:
            start.wait(10)
            got = attempt()
            if got is not None:
                won.append(got)
        except BaseException as exc:  # reported below: a thread's exception would be lost
            errors.append(exc)

    threads = [threading.Thread(target=contend) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return won


def _in_unit(store: Store, action: Callable[[Any], Task | None]) -> Callable[[], Task | None]:
    def attempt() -> Task | None:
        with store.write() as repo:
            return action(repo)

    return attempt


@pytest.mark.parametrize("rounds", [12])
def test_two_writers_racing_on_the_same_transition_get_exactly_one_winner(
    store: Store, world: World, rounds: int
) -> None:
    a = world.streams[0].id
    for n in range(rounds):
        (t,) = add_tasks(store, task(a))
        at = T0 + timedelta(seconds=n)
        claims = _race(store, 4, _in_unit(store, lambda repo, at=at: repo.claim_next(a, claim_change(at))))
        assert [c.id for c in claims] == [t.id]
        change: TaskChange = complete_change({"summary": "ok"}, at) if n % 2 else fail_change("broke", at)
        reports = _race(store, 4, _in_unit(store, lambda repo, t=t, change=change: repo.apply(t.id, change)))
        assert len(reports) == 1 and reports[0].status is change.values["status"]
    with store.read() as repo:
        assert repo.task_counts([a])[a] == {TaskStatus.SUCCEEDED: rounds // 2, TaskStatus.FAILED: rounds - rounds // 2}


# -- tasks: list / count -----------------------------------------------------------------------------


@pytest.fixture
def mixed(store: Store, world: World) -> dict[str, list[Task]]:
    """Eight tasks over both streams in every status (cancelled too); returns them by status, in insertion order."""
    a, b = (s.id for s in world.streams)
    ts = add_tasks(store, *(task(a if n % 2 == 0 else b, at=T0 + timedelta(seconds=n)) for n in range(8)))
    changed = [
        ts[0].claim(T0 + timedelta(seconds=10)),  # running, started long ago: stale at T0+200
        ts[1].claim(T0 + timedelta(seconds=150)),  # running, fresh
        finished(ts[2], TaskStatus.SUCCEEDED, T0 + timedelta(seconds=20)),
        finished(ts[3], TaskStatus.FAILED, T0 + timedelta(seconds=30)),
        ts[4].claim(T0 + timedelta(seconds=12)),  # running, stale at T0+200
        ts[5].cancel(T0 + timedelta(seconds=40), "not needed"),
    ]
    save(store, *changed)
    by_status: dict[str, list[Task]] = {s.value: [] for s in TaskStatus}
    final = {t.id: t for t in ts} | {t.id: t for t in changed}
    for t in final.values():
        by_status[t.status.value].append(t)
    by_status["all"] = list(final.values())
    return by_status


def test_list_tasks_is_newest_first_by_default_and_oldest_first_on_request(
    store: Store, mixed: dict[str, list[Task]]
) -> None:
    every = ids(mixed["all"])
    with store.read() as repo:
        assert ids(repo.list_tasks(TaskQuery(limit=None))) == every[::-1]
        assert ids(repo.list_tasks(TaskQuery(limit=None, newest_first=False))) == every
        assert repo.count_tasks(TaskQuery()) == 8


def test_list_tasks_pages_with_limit_and_offset(store: Store, mixed: dict[str, list[Task]]) -> None:
    newest = ids(mixed["all"])[::-1]
    with store.read() as repo:
        assert ids(repo.list_tasks(TaskQuery(limit=3))) == newest[:3]
        assert ids(repo.list_tasks(TaskQuery(limit=3, offset=3))) == newest[3:6]
        assert ids(repo.list_tasks(TaskQuery(limit=3, offset=6))) == newest[6:]
        assert ids(repo.list_tasks(TaskQuery(limit=None, offset=5))) == newest[5:]
        assert repo.list_tasks(TaskQuery(offset=8)) == []
        assert repo.count_tasks(TaskQuery(limit=3, offset=6)) == 8  # the count ignores the page


def test_list_and_count_tasks_filter_by_stream_and_status(
    store: Store, world: World, mixed: dict[str, list[Task]]
) -> None:
    a = world.streams[0].id
    with store.read() as repo:
        for status in TaskStatus:
            q = TaskQuery(status=status, limit=None, newest_first=False)
            assert ids(repo.list_tasks(q)) == ids(mixed[status.value]), status
            assert repo.count_tasks(q) == len(mixed[status.value])
        in_a = TaskQuery(stream_id=a, limit=None, newest_first=False)
        assert ids(repo.list_tasks(in_a)) == [t.id for t in mixed["all"] if t.stream_id == a]
        running_in_a = TaskQuery(stream_id=a, status=TaskStatus.RUNNING, limit=None, newest_first=False)
        expected = [t.id for t in mixed["running"] if t.stream_id == a]
        assert ids(repo.list_tasks(running_in_a)) == expected
        assert repo.count_tasks(running_in_a) == len(expected) == 2
        assert repo.count_tasks(TaskQuery(stream_id="str_missing")) == 0


def test_a_streams_page_holds_its_tasks_of_every_status_newest_first(
    store: Store, world: World, mixed: dict[str, list[Task]]
) -> None:
    assert {t.status for t in mixed["all"]} == set(TaskStatus)
    with store.read() as repo:
        for stream_id in (s.id for s in world.streams):
            newest = [t.id for t in mixed["all"] if t.stream_id == stream_id][::-1]
            assert ids(repo.list_tasks(TaskQuery(stream_id=stream_id, limit=None))) == newest
            assert ids(repo.list_tasks(TaskQuery(stream_id=stream_id, limit=2))) == newest[:2]
            assert ids(repo.list_tasks(TaskQuery(stream_id=stream_id, limit=2, offset=1))) == newest[1:3]
            oldest = TaskQuery(stream_id=stream_id, limit=2, offset=1, newest_first=False)
            assert ids(repo.list_tasks(oldest)) == newest[::-1][1:3]
            assert repo.list_tasks(TaskQuery(stream_id=stream_id, offset=len(newest))) == []
            assert repo.count_tasks(TaskQuery(stream_id=stream_id, limit=1)) == len(newest)


def test_stale_filter_keeps_running_tasks_past_their_timeout(store: Store, mixed: dict[str, list[Task]]) -> None:
    at = T0 + timedelta(seconds=200)
    stale_ids = [t.id for t in mixed["running"] if t.is_stale(at)]
    assert len(stale_ids) == 2
    with store.read() as repo:
        q = TaskQuery(stale_at=at, limit=None, newest_first=False)
        assert ids(repo.list_tasks(q)) == stale_ids
        assert repo.count_tasks(q) == 2
        assert ids(repo.list_tasks(TaskQuery(stale_at=at, limit=1))) == stale_ids[-1:]
        assert repo.count_tasks(TaskQuery(stale_at=T0 + timedelta(seconds=11))) == 0


def test_stale_means_strictly_longer_than_the_timeout_to_the_microsecond(store: Store, world: World) -> None:
    starts = [T0 + timedelta(seconds=n, microseconds=n) for n in range(25)]
    ts = add_tasks(store, *(task(world.streams[0].id, timeout=30 + n) for n in range(25)))
    save(store, *(t.claim(s) for t, s in zip(ts, starts, strict=True)))
    with store.read() as repo:
        for n, (t, s) in enumerate(zip(ts, starts, strict=True)):
            exactly = s + timedelta(seconds=30 + n)
            assert t.id not in ids(repo.list_tasks(TaskQuery(stale_at=exactly, limit=None)))
            assert t.id in ids(repo.list_tasks(TaskQuery(stale_at=exactly + timedelta(microseconds=1), limit=None)))


# -- task counts and purge ---------------------------------------------------------------------------


def test_task_counts_per_stream_and_status(store: Store, world: World, mixed: dict[str, list[Task]]) -> None:
    a, b = (s.id for s in world.streams)
    expected: dict[str, dict[TaskStatus, int]] = {}
    for t in mixed["all"]:
        per = expected.setdefault(t.stream_id, {})
        per[t.status] = per.get(t.status, 0) + 1
    with store.read() as repo:
        assert {k: dict(v) for k, v in repo.task_counts().items()} == expected
        assert {k: dict(v) for k, v in repo.task_counts([a]).items()} == {a: expected[a]}
        assert {k: dict(v) for k, v in repo.task_counts([b, "str_empty"]).items()} == {b: expected[b], "str_empty": {}}


def test_delete_finished_before_deletes_only_finished_tasks_older_than_the_cutoff(store: Store, world: World) -> None:
    a = world.streams[0].id
    old_ok, old_failed, new_ok, queued, running, at_cutoff = add_tasks(store, *(task(a) for _ in range(6)))
    cutoff = T0 + timedelta(days=3)
    save(
        store,
        finished(old_ok, TaskStatus.SUCCEEDED, cutoff - timedelta(days=1)),
        finished(old_failed, TaskStatus.FAILED, cutoff - timedelta(microseconds=1)),
        finished(new_ok, TaskStatus.SUCCEEDED, cutoff + timedelta(seconds=1)),
        running.claim(T0),
        finished(at_cutoff, TaskStatus.SUCCEEDED, cutoff),
    )
    with store.write() as repo:
        assert repo.delete_finished_before(cutoff) == 2
    with store.read() as repo:
        assert repo.get_task(old_ok.id) is None and repo.get_task(old_failed.id) is None
        assert sorted(ids(repo.list_tasks(TaskQuery(limit=None)))) == sorted(
            [new_ok.id, queued.id, running.id, at_cutoff.id]
        )
    with store.write() as repo:
        assert repo.delete_finished_before(T0 + timedelta(days=3650)) == 2
    with store.read() as repo:
        assert sorted(ids(repo.list_tasks(TaskQuery(limit=None)))) == sorted([queued.id, running.id])


def test_delete_finished_before_with_a_limit_deletes_those_that_finished_first(store: Store, world: World) -> None:
    a, b = (s.id for s in world.streams)
    # enqueued in one order, finished in another: a batch follows the finish time
    tasks = add_tasks(store, *(task(a if n % 2 else b) for n in range(7)))
    queued, running, *done = tasks
    order = [4, 0, 3, 1, 2]  # done[4] finished first, then done[0], ...
    cutoff = T0 + timedelta(days=3)
    save(
        store,
        running.claim(T0),
        *(
            finished(done[i], TaskStatus.FAILED if i % 2 else TaskStatus.SUCCEEDED, T0 + timedelta(minutes=rank))
            for rank, i in enumerate(order)
        ),
    )
    left = {t.id for t in tasks}
    for expected in ([done[4].id, done[0].id], [done[3].id, done[1].id], [done[2].id], []):
        with store.write() as repo:
            assert repo.delete_finished_before(cutoff, 2) == len(expected)
        left -= set(expected)
        with store.read() as repo:
            assert {t.id for t in repo.list_tasks(TaskQuery(limit=None))} == left
    assert left == {queued.id, running.id}


def test_finished_since_lists_finished_tasks_from_the_cutoff_latest_enqueued_first(store: Store, world: World) -> None:
    a = world.streams[0].id
    old, ok, failed, queued, running = add_tasks(store, *(task(a, tool_name=f"tool-{n}") for n in range(5)))
    cutoff = T0 + timedelta(days=1)
    save(
        store,
        finished(old, TaskStatus.SUCCEEDED, cutoff - timedelta(microseconds=1)),
        finished(ok, TaskStatus.SUCCEEDED, cutoff),
        finished(failed, TaskStatus.FAILED, cutoff + timedelta(hours=1)),
        running.claim(T0),
    )
    with store.read() as repo:
        found = repo.finished_since(cutoff, 10)
        assert [(f.tool_name, f.status) for f in found] == [
            ("tool-2", TaskStatus.FAILED),
            ("tool-1", TaskStatus.SUCCEEDED),
        ]
        assert found[1].started_at == cutoff - timedelta(seconds=5) and found[1].finished_at == cutoff
        assert [f.tool_name for f in repo.finished_since(cutoff, 1)] == ["tool-2"]
    assert queued.status is TaskStatus.QUEUED


# -- units of work -----------------------------------------------------------------------------------


class Boom(Exception):
    pass


def test_a_write_unit_that_raises_rolls_back_everything_it_did(store: Store, world: World) -> None:
    a = world.streams[0].id
    (kept,) = add_tasks(store, task(a))
    newcomer = task(a)
    ses = session(world.project.id, "doomed")

    with pytest.raises(Boom), store.write() as repo:
        repo.add_task(newcomer)
        repo.apply(kept.id, claim_change(T0))
        repo.add_session(ses)
        repo.add_stream(stream(ses.id, "doomed-stream"))
        repo.save_stream(world.streams[1].end(T0))
        repo.save_session(world.session.end(T0))
        repo.delete_finished_before(T0 + timedelta(days=1))
        repo.add_project(attrs.evolve(world.project, name="renamed"))
        raise Boom

    with store.read() as repo:
        assert repo.get_task(newcomer.id) is None
        assert repo.get_task(kept.id) == kept
        assert repo.find_session("doomed") is None
        assert repo.find_stream("doomed-stream") is None
        assert repo.get_stream(world.streams[1].id) == world.streams[1]
        assert repo.get_session(world.session.id) == world.session
        assert repo.get_project() == world.project


def test_a_failed_write_unit_leaves_the_store_usable(store: Store, world: World) -> None:
    with pytest.raises(Duplicate), store.write() as repo:
        repo.add_task(task(world.streams[0].id, id="tsk_00000000dead"))
        repo.add_stream(stream(world.session.id, "a"))
    with store.write() as repo:
        repo.add_task(task(world.streams[0].id, id="tsk_00000000dead"))
    with store.read() as repo:
        assert repo.get_task("tsk_00000000dead") is not None


def test_a_write_unit_commits_when_the_block_ends(store: Store, world: World) -> None:
    t = task(world.streams[0].id)
    with store.write() as repo:
        repo.add_task(t)
        assert repo.get_task(t.id) == t  # a unit sees its own writes
    with store.read() as repo:
        assert repo.get_task(t.id) == t
