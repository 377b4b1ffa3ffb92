"""The PostgreSQL store itself against the test cluster: the change feed and LISTEN, concurrent claims, migrations."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from sparkq_adapters.clock import RandomIds, SystemClock, format_time
from sparkq_adapters.event_kinds import EventKind
from sparkq_adapters.postgres import PostgresStore
from sparkq_adapters.postgres.changes import ChangeFeed
from sparkq_adapters.postgres.schema import LATEST_VERSION
from sparkq_domain import Queue, Status, Stream, Task, TaskClass, TaskQuery, TaskStatus
from sparkq_domain.errors import StorageCorrupt, StorageError
from tests.fakes import FakeClock
from tests.postgres_support import PASSWORD, Cluster

#: the longest a test waits for something that normally takes milliseconds (not a measured threshold)
PATIENCE = 30.0


@pytest.fixture
def store(pg_url: str) -> Iterator[PostgresStore]:
    found = PostgresStore(pg_url)
    yield found
    found.close()


def _queue(store: PostgresStore) -> Queue:
    queue = Queue(store, SystemClock(), RandomIds())
    queue.ensure_project("demo")
    return queue


def _until(predicate: object) -> None:
    deadline = time.monotonic() + PATIENCE
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.01)


def test_a_commit_by_another_connection_moves_data_version_through_notify(pg_url: str) -> None:
    writer, reader = PostgresStore(pg_url), PostgresStore(pg_url)
    queue = _queue(writer)
    queue.create_session("s")
    queue.create_stream("auth", "s")
    feed = ChangeFeed(reader)
    try:
        before = feed.data_version()
        assert feed.data_version() == before  # nothing committed: it stays
        task = queue.enqueue("auth", "run-bash", {})
        _until(lambda: feed.data_version() != before)
        events = feed.after(0)
        kinds = [e["kind"] for e in events]
        assert kinds[-3:] == [EventKind.SESSION_CREATED, EventKind.STREAM_CREATED, EventKind.TASK_ENQUEUED][-3:]
        assert events[-1]["id"] == task.id and events[-1]["status"] == "queued"
        assert feed.last_seq() == events[-1]["seq"]
        queue.claim("auth")
        queue.complete(task.id, {"summary": "ok"})
        after = [e["kind"] for e in feed.after(events[-1]["seq"])]
        assert after == [EventKind.TASK_CLAIMED, EventKind.TASK_COMPLETED]
    finally:
        feed.close()
        writer.close()
        reader.close()


def test_a_later_commit_is_not_read_past_an_earlier_event_still_uncommitted(pg_url: str) -> None:
    # sequence numbers are taken at the write, not the commit: the feed must not hand out B's event
    # (a higher seq) while A's (a lower seq) may still commit, or a reader resuming after B misses A
    store, other = PostgresStore(pg_url), PostgresStore(pg_url)
    queue, other_queue = _queue(store), _queue(other)
    queue.create_session("s")
    feed = ChangeFeed(store)
    try:
        last = feed.last_seq()
        with store.write() as repo:
            session = repo.find_session("s")
            assert session is not None
            now = datetime.now(UTC)
            stream = Stream(
                id="str_000000000001",
                session_id=session.id,
                name="x",
                instructions=None,
                status=Status.ACTIVE,
                created_at=now,
                updated_at=now,
            )
            repo.add_stream(stream)  # A: its event takes the lower seq, and stays uncommitted for now
            other_queue.create_session("t")  # B: commits an event with a higher seq
            assert feed.after(last) == []
            assert feed.last_seq() == last
        events = feed.after(last)
        assert [e["kind"] for e in events] == [EventKind.STREAM_CREATED, EventKind.SESSION_CREATED]
        assert events[0]["seq"] < events[1]["seq"]
    finally:
        feed.close()
        store.close()
        other.close()


def test_claimers_on_several_connections_get_each_task_once_in_fifo_order(pg_url: str) -> None:
    queue = _queue(PostgresStore(pg_url))
    queue.create_session("s")
    queue.create_stream("auth", "s")
    enqueued = [queue.enqueue("auth", "run-bash", {"n": n}).id for n in range(60)]
    claimed: list[list[str]] = [[] for _ in range(4)]

    def work(mine: list[str]) -> None:
        own = _queue(PostgresStore(pg_url))
        while (got := own.claim("auth")) is not None:
            mine.append(got.task.id)

    threads = [threading.Thread(target=work, args=(mine,)) for mine in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    every = [task for mine in claimed for task in mine]
    assert sorted(every) == sorted(enqueued)  # each exactly once
    for mine in claimed:  # each claimer got its tasks in enqueue order
        assert mine == sorted(mine, key=enqueued.index)


def test_the_schema_is_made_once_and_records_its_version(pg_url: str) -> None:
    stores = [PostgresStore(pg_url, schema="shared") for _ in range(4)]
    threads = [threading.Thread(target=s.pool) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM shared.schema_version").fetchall() == [(LATEST_VERSION,)]
    for s in stores:
        with s.read() as repo:
            assert repo.get_project() is None
        s.close()


def test_a_schema_of_another_program_is_refused_unchanged(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA theirs; CREATE TABLE theirs.orders(id int)")
    store = PostgresStore(pg_url, schema="theirs")
    with pytest.raises(StorageCorrupt, match="holds tables of another program \\(orders\\)"):
        store.pool()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'theirs'").fetchone() == (1,)


def test_a_schema_of_a_newer_sparkq_is_refused(store: PostgresStore, pg_url: str) -> None:
    store.pool()
    store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE sparkq.schema_version SET version = version + 1")
    with pytest.raises(StorageError, match="written by a newer SparkQ"):
        PostgresStore(pg_url).pool()


def _end_sparkq_connections(cluster: Cluster) -> None:
    """What a restart of the server does to the connections a pool keeps: the server ends them."""
    cluster.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sparkq'")


def test_a_server_restarted_under_an_idle_connection_is_reconnected(
    pg_cluster: Cluster, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = PostgresStore(pg_url)
    queue = _queue(store)
    queue.create_session("s")
    _end_sparkq_connections(pg_cluster)
    # a read unit: its BEGIN failed on the dead connection, and went again on a new one
    assert [s.name for s in queue.list_sessions()] == ["s"]
    _end_sparkq_connections(pg_cluster)
    queue.create_session("t")  # a write unit alike: nothing of it but BEGIN had been sent
    assert [s.name for s in queue.list_sessions()] == ["s", "t"]
    assert not [r for r in caplog.records if r.name.startswith("psycopg")]  # nothing for a CLI to print
    store.close()


def test_the_server_going_away_in_a_write_unit_is_one_clear_line_and_nothing_of_it_is_applied(
    pg_cluster: Cluster, pg_url: str
) -> None:
    from sparkq_domain import Project

    store = PostgresStore(pg_url)
    store.pool()
    at = datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(StorageError) as caught:
        with store.write() as repo:
            repo.add_project(Project(id="prj_1", name="demo", created_at=at, updated_at=at))
            _end_sparkq_connections(pg_cluster)  # the unit's transaction ends with its connection
            repo.get_project()  # never sent again: what the unit wrote before is gone
    assert "Lost the connection to PostgreSQL" in caught.value.message
    assert PASSWORD not in caught.value.message and ":***@" in caught.value.message
    with store.read() as repo:  # the broken connection was dropped: the next unit works
        assert repo.get_project() is None
    store.close()


def test_a_read_unit_that_lost_its_connection_goes_on_in_a_new_snapshot_that_agrees_with_it(
    pg_cluster: Cluster, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = PostgresStore(pg_url)
    queue = _queue(store)
    queue.create_session("s")
    with store.read() as repo:
        assert [s.name for s in repo.list_sessions()] == ["s"]
        _end_sparkq_connections(pg_cluster)
        # begun again on a new connection: list_sessions read the same rows again, so the unit goes on
        assert repo.find_session("s") is not None
        assert [s.name for s in repo.list_sessions()] == ["s"]
    assert not [r for r in caplog.records if r.name.startswith("psycopg")]
    store.close()


def test_a_read_unit_whose_earlier_reads_changed_meanwhile_reports_the_lost_connection(
    pg_cluster: Cluster, pg_url: str
) -> None:
    store, other = PostgresStore(pg_url), PostgresStore(pg_url)
    queue = _queue(store)
    queue.create_session("s")
    with pytest.raises(StorageError) as caught:
        with store.read() as repo:
            assert [s.name for s in repo.list_sessions()] == ["s"]
            _end_sparkq_connections(pg_cluster)
            _queue(other).create_session("t")  # committed between the unit's snapshot and a new one
            repo.find_session("s")
    assert "Lost the connection to PostgreSQL" in caught.value.message
    with store.read() as repo:
        assert [s.name for s in repo.list_sessions()] == ["s", "t"]
    store.close()
    other.close()


def test_text_with_nul_is_refused_as_invalid_input(store: PostgresStore) -> None:
    from sparkq_domain.errors import InvalidInput

    queue = _queue(store)
    with pytest.raises(InvalidInput, match="NUL"):
        queue.create_session("s", "a\x00b")


def test_enqueues_into_one_stream_commit_in_their_fifo_order(pg_url: str) -> None:
    # A takes its place in the stream, B enqueues behind it and claims at once: B must not get its own
    # task while A's, ahead of it, is still being committed (FIFO by enqueue, whatever the commit timing)
    store, other = PostgresStore(pg_url), PostgresStore(pg_url)
    queue, other_queue = _queue(store), _queue(other)
    queue.create_session("s")
    queue.create_stream("auth", "s")
    stream = queue.get_stream("auth")
    claimed: list[str | None] = []

    def enqueue_and_claim() -> None:
        other_queue.enqueue("auth", "run-bash", {"who": "B"})
        got = other_queue.claim("auth")
        claimed.append(None if got is None else got.task.id)

    with store.write() as repo:
        now = datetime.now(UTC)
        first = Task(
            id="tsk_00000000000a",
            stream_id=stream.id,
            tool_name="run-bash",
            task_class=TaskClass.MEDIUM_SCRIPT,
            payload={"who": "A"},
            status=TaskStatus.QUEUED,
            timeout=300,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        repo.add_task(first)
        b = threading.Thread(target=enqueue_and_claim)
        b.start()

        def b_waits_or_is_done() -> bool:
            if not b.is_alive():
                return True
            with psycopg.connect(pg_url) as conn:
                waiting = (
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sparkq' AND wait_event_type = %s"
                )
                row = conn.execute(waiting, ("Lock",)).fetchone()
            return row is not None and row[0] > 0

        _until(b_waits_or_is_done)
    b.join(timeout=PATIENCE)
    assert claimed == [first.id]
    store.close()
    other.close()


def _several(pg_url: str, clock: FakeClock, n: int) -> list[tuple[PostgresStore, Queue]]:
    """`n` queues on stores of their own (as several servers on several machines), one clock, stream `auth`."""
    found = []
    for _ in range(n):
        store = PostgresStore(pg_url)
        queue = Queue(store, clock, RandomIds())
        queue.ensure_project("demo")
        found.append((store, queue))
    found[0][1].create_session("s")
    found[0][1].create_stream("auth", "s")
    return found


def _at_once(work: list[Callable[[], object]]) -> list[object]:
    results: list[object] = [None] * len(work)
    start = threading.Barrier(len(work))

    def run(i: int) -> None:
        start.wait()
        results[i] = work[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_sweeps_of_several_servers_at_once_auto_fail_each_dead_task_once(pg_url: str) -> None:
    clock = FakeClock()
    servers = _several(pg_url, clock, 4)
    queue = servers[0][1]
    for n in range(20):
        queue.enqueue("auth", "run-bash-fast", {"n": n})
        queue.claim("auth")
    clock.advance(61)  # past twice the 30 s timeout
    swept = _at_once([q.sweep_dead for _, q in servers])
    assert sum(len(s) for s in swept) == 20  # type: ignore[arg-type]
    feed = ChangeFeed(servers[0][0])
    kinds = [e["kind"] for e in feed.after(0, limit=10_000)]
    feed.close()
    assert kinds.count(EventKind.TASK_AUTO_FAILED) == 20
    for store, _ in servers:
        store.close()


def test_purges_of_several_servers_at_once_delete_each_task_once(pg_url: str) -> None:
    clock = FakeClock()
    servers = _several(pg_url, clock, 4)
    queue = servers[0][1]
    for n in range(60):
        task = queue.enqueue("auth", "run-bash", {"n": n})
        queue.claim("auth")
        queue.complete(task.id, {"summary": "ok"})
    queue.enqueue("auth", "run-bash", {"still": "queued"})
    clock.advance(4 * 24 * 3600)
    purged = _at_once([lambda q=q: q.purge(timedelta(days=3), batch_size=5, pause=0) for _, q in servers])
    assert sum(purged) == 60  # type: ignore[arg-type]
    with servers[0][0].read() as repo:
        assert repo.count_tasks(TaskQuery()) == 1
    for store, _ in servers:
        store.close()


def _sparkq_backends(cluster: Cluster, database: str) -> int:
    with psycopg.connect(host=str(cluster.folder), port=cluster.port, user="postgres", dbname="postgres") as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s AND application_name = 'sparkq'", (database,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_the_pool_size_of_the_config_bounds_the_connections_a_process_opens(
    pg_cluster: Cluster, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sparkq_adapters import config
    from sparkq_entry.wiring import postgres_store

    monkeypatch.delenv(config.DATABASE_URL_ENV, raising=False)
    (tmp_path / "sparkq.yml").write_text(f"database: {{url: '{pg_url}', pool_size: 1}}\n")
    store = postgres_store(config.load(cwd=tmp_path))
    database = pg_url.rsplit("/", 1)[1]
    first_holds, second_done = threading.Event(), threading.Event()

    def second() -> None:
        first_holds.wait()
        with store.read() as repo:  # waits for the one connection, then reuses it
            repo.get_project()
        second_done.set()

    other = threading.Thread(target=second)
    other.start()
    with store.read() as repo:
        repo.get_project()
        first_holds.set()
        time.sleep(0.2)  # the other thread is waiting for the connection by now
        assert not second_done.is_set()
        assert _sparkq_backends(pg_cluster, database) == 1
    other.join(PATIENCE)
    assert second_done.is_set()
    assert _sparkq_backends(pg_cluster, database) == 1  # the second unit used the same connection
    store.close()


@pytest.mark.parametrize(("value", "expected"), [("0", "from 1 to 100, got 0"), ("many", "number, got 'many'")])
def test_a_pool_size_out_of_range_is_one_config_error_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    from sparkq_adapters import config

    monkeypatch.delenv(config.DATABASE_URL_ENV, raising=False)
    (tmp_path / "sparkq.yml").write_text(f"database: {{url: 'postgresql://me:pw@db/q', pool_size: {value}}}\n")
    with pytest.raises(config.ConfigError) as caught:
        config.load(cwd=tmp_path)
    message = str(caught.value)
    assert "database.pool_size: expected a whole number" in message and message.endswith(expected), message
    assert "\n" not in message and "pw" not in message


def _scans_of_tasks(plan: dict[str, object]) -> list[dict[str, object]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan that reads the tasks table, its index or both."""
    found = [plan] if plan.get("Relation Name") == "tasks" or "Index Name" in plan else []
    for child in plan.get("Plans", []):  # type: ignore[attr-defined]
        found += _scans_of_tasks(child)
    return found


def test_the_sweep_seeks_the_dead_through_the_running_index_without_reading_every_running_task(
    store: PostgresStore,
) -> None:
    from sparkq_adapters.postgres.repository import SELECT_SWEEP_CANDIDATES

    queue = _queue(store)
    queue.create_session("s")
    stream = queue.create_stream("busy", "s")
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    alive = format_time(now - timedelta(seconds=30))
    with store.connect() as conn:  # a connection as the store makes them (its options)
        # 3,000 running tasks, alive (timeouts of 60, 120 and 180 s), among 100,000; no triggers: quicker
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "INSERT INTO tasks(id, stream_id, tool_name, task_class, payload, status, timeout, attempts, created_at, "
            "updated_at, started_at, heartbeat_at, finished_at) SELECT 'tsk_' || g, %(s)s, 'run-bash', "
            "'MEDIUM_SCRIPT', '{}', CASE WHEN g <= 3000 THEN 'running' ELSE 'succeeded' END, 60 * (1 + g %% 3), 1, "
            "%(t)s, %(t)s, %(t)s, CASE WHEN g %% 2 = 0 THEN %(t)s END, CASE WHEN g > 3000 THEN %(t)s END "
            "FROM generate_series(1, 100000) AS g",
            {"s": stream.id, "t": alive},
        )
        dead = format_time(now - timedelta(seconds=121))  # timeout 60: dead after 120 s of silence
        ahead = format_time(now + timedelta(hours=1))  # started "after now": the clock went back
        conn.execute("UPDATE tasks SET timeout = 60, started_at = %s, heartbeat_at = NULL WHERE id = 'tsk_7'", (dead,))
        conn.execute("UPDATE tasks SET started_at = %s WHERE id = 'tsk_8'", (ahead,))
        conn.execute("ANALYZE tasks")
        found = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + SELECT_SWEEP_CANDIDATES, {"now": format_time(now)})
        explained = found.fetchone()[0][0]  # type: ignore[index]
    with store.read() as repo:
        assert sorted(t.id for t in repo.sweep_candidates(now)) == ["tsk_7", "tsk_8"]
    scans = _scans_of_tasks(explained["Plan"])
    assert scans and all(s["Node Type"] != "Seq Scan" for s in scans), scans
    assert {s["Index Name"] for s in scans if "Index Name" in s} == {"idx_tasks_running"}, scans
    # seeks: a few entries per distinct timeout (3 of them), not 3,000 running tasks
    read = sum(int(s["Actual Rows"]) * int(s["Actual Loops"]) + int(s.get("Rows Removed by Filter", 0)) for s in scans)
    assert read < 50, scans
    assert "JIT" not in explained  # no compiling of a query that takes a fraction of a millisecond


def test_a_schema_of_version_1_gets_the_running_index_by_last_sign_of_life(pg_url: str) -> None:
    from sparkq_adapters.postgres.schema import MIGRATIONS

    with psycopg.connect(pg_url, autocommit=True, options="-c search_path=sparkq") as conn:
        conn.execute("CREATE SCHEMA sparkq")
        conn.execute("CREATE TABLE schema_version(version INTEGER NOT NULL)")
        conn.execute(MIGRATIONS[0])
        conn.execute("INSERT INTO schema_version VALUES (1)")
    PostgresStore(pg_url).pool().close()
    with psycopg.connect(pg_url) as conn:
        version = conn.execute("SELECT version FROM sparkq.schema_version").fetchone()
        index = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_tasks_running'").fetchone()
    assert version == (LATEST_VERSION,) and LATEST_VERSION >= 2
    assert index is not None and "(timeout, GREATEST(started_at, heartbeat_at))" in index[0], index
    assert "WHERE (status = 'running'::text)" in index[0], index
