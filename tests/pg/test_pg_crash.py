"""The crash audit on PostgreSQL: SIGKILL rounds of workers and of the server, and PostgreSQL restarted mid-run.

The SQLite audit's workers (tests/integration/crash_worker.py, through pg_crash_worker.py) enqueue,
claim, complete and fail tasks on one PostgreSQL database: two through the library, one through the
real `sparkq` console script and one through the REST API of a real `sparkq run`, all configured by
one sparkq.yml naming the database's URL. Each round SIGKILLs a random subset of them, and sometimes
the server, and starts them again. Halfway, PostgreSQL itself is stopped (immediate shutdown: what a
crash of the server does to its clients) and started again on the same port: while it is down every
client says so in one line (no traceback), and all of them go on once it is back.

Afterwards the database is audited against the workers' journals with the SQLite test's Jepsen
categories (lost, duplicated, unexpected: all zero), tasks left running by killed workers are
auto-failed once, and a requeued one is a new task whose lineage names the old.
`SPARKQ_PG_CRASH_ROUNDS` sets the number of rounds (default 14).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from sparkq_adapters.clock import RandomIds, SystemClock
from sparkq_adapters.event_kinds import EventKind
from sparkq_adapters.postgres import PostgresStore
from sparkq_adapters.postgres.changes import ChangeFeed
from sparkq_domain import Queue
from sparkq_domain.errors import StorageError
from tests.conftest import SPARKQ, RunSparkq, _clean_env
from tests.integration.conftest import free_port, wait_for
from tests.integration.test_crash_safety import KINDS, TIMEOUT, Crowd, audit, consistent_state, read_history
from tests.pg.test_pg_servers import PatientServer
from tests.postgres_support import PASSWORD, Cluster

WORKER = Path(__file__).with_name("pg_crash_worker.py")
ROUNDS = int(os.environ.get("SPARKQ_PG_CRASH_ROUNDS", "14"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[Cluster]:
    """A cluster of this module's own: restarting it must not cut off the other tests' connections."""
    cluster = Cluster(durable_commits=True)  # an immediate shutdown loses no acknowledged commit
    try:
        yield cluster
    finally:
        cluster.stop()


def _url(cluster: Cluster) -> str:
    return cluster.url(cluster.new_database())


class PgCrowd(Crowd):
    """The SQLite audit's crowd with the PostgreSQL worker script, each worker's stderr kept in a file."""

    def start_worker(self, slot: int) -> None:
        self.starts += 1
        journal = self.workdir / f"journal-{slot}-{self.starts}.log"
        journal.touch()
        self.journals.append(journal)
        args = [sys.executable, str(WORKER), KINDS[slot], str(self.workdir), str(journal)]
        args += [str(self.starts), str(self.deadline), str(self.port)]
        with open(self.workdir / f"stderr-{slot}-{self.starts}.log", "wb") as stderr:
            self.workers[slot] = subprocess.Popen(
                args, cwd=self.workdir, env=_clean_env(), start_new_session=True, stderr=stderr
            )

    def start_server(self) -> None:
        self.server = PatientServer(self.workdir, self.port)

    def sizes(self) -> dict[Path, int]:
        return {journal: journal.stat().st_size for journal in self.journals}


def _lines_since(sizes: dict[Path, int], journals: list[Path]) -> dict[str, list[str]]:
    """The journal lines written after `sizes` were taken, by kind of worker."""
    found: dict[str, list[str]] = {}
    for journal in journals:
        kind = KINDS[int(journal.name.split("-")[1])]
        with open(journal, "rb") as f:
            f.seek(sizes.get(journal, 0))
            found.setdefault(kind, []).extend(f.read().decode().splitlines())
    return found


def read_tasks(url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return {row["id"]: row for row in conn.execute("SELECT * FROM sparkq.tasks ORDER BY seq")}


def claim_events(url: str) -> Counter[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT subject_id FROM sparkq.events WHERE kind = %s", (EventKind.TASK_CLAIMED.value,))
        return Counter(str(task_id) for (task_id,) in rows)


def _one_clear_line(stderr: str) -> str:
    assert stderr.count("\n") == 1 and stderr.startswith("Error: "), stderr
    assert "Traceback" not in stderr and PASSWORD not in stderr
    assert "PostgreSQL" in stderr, stderr
    return stderr


def test_sigkill_rounds_and_a_postgresql_restart_lose_duplicate_and_invent_nothing(
    own_cluster: Cluster, workdir: Path, sparkq: RunSparkq
) -> None:
    url = _url(own_cluster)
    (workdir / "sparkq.yml").write_text(f"database: {{url: '{url}'}}\n")
    assert sparkq("session", "create", "crash").returncode == 0
    for stream in ("alpha", "beta", "gamma"):
        assert sparkq("stream", "create", stream, "--session", "crash").returncode == 0
    rng = random.Random(7)
    crowd = PgCrowd(workdir, free_port(), deadline=time.time() + 60 + ROUNDS * 8)
    kills = Counter[str]()
    outage: dict[str, Any] = {}
    try:
        crowd.start_server()
        for slot in range(len(KINDS)):
            crowd.start_worker(slot)
        for round_number in range(ROUNDS):
            time.sleep(rng.uniform(0.2, 0.9))
            if round_number == ROUNDS // 2:
                outage = _restart_postgresql(own_cluster, crowd, sparkq)
                continue
            victims = [slot for slot in range(len(KINDS)) if rng.random() < 0.5] or [rng.randrange(len(KINDS))]
            for slot in victims:
                crowd.kill(crowd.workers[slot])
                kills[KINDS[slot]] += 1
            if rng.random() < 0.3:
                crowd.kill_server()
                kills["server"] += 1
                crowd.start_server()
            for slot in victims:
                crowd.start_worker(slot)
        time.sleep(1)  # the last workers started do some work too
    finally:
        crowd.stop_all()

    history = read_history(crowd.journals)
    tasks = read_tasks(url)
    assert all(consistent_state(t) for t in tasks.values()), [t for t in tasks.values() if not consistent_state(t)]
    found = audit(history, tasks, claim_events(url))
    counts = {category: len(items) for category, items in found.items()}
    print(
        f"\n{ROUNDS} rounds (one a PostgreSQL restart), kills {dict(kills)}; {len(tasks)} tasks, "
        f"{len(history.enqueue_ok)} enqueues and {len(history.report_ok)} reports acknowledged, "
        f"{len(history.claims_ok)} claims; errors seen by workers {dict(history.errors)}, "
        f"while PostgreSQL was down {outage['errors_while_down']}; audit {counts}"
    )
    assert counts == {"lost": 0, "duplicated": 0, "unexpected": 0}, found
    assert kills["server"] >= 2 and all(kills[k] >= 3 for k in ("cli", "lib", "http")), kills
    assert len(history.enqueue_ok) >= 50 and len(history.report_ok) >= 25, (len(history.enqueue_ok), history.errors)
    for stderr in workdir.glob("stderr-*.log"):  # a worker's own stderr: never a traceback
        assert "Traceback" not in stderr.read_text(errors="replace"), stderr.read_text(errors="replace")[-2000:]

    # tasks left running by killed workers: auto-failed once at 2x their timeout (by the server during the
    # run, or by the CLI's sweep now), and a requeue is one new task whose lineage names the old
    orphans = [t["id"] for t in tasks.values() if t["status"] == "running"]
    time.sleep(2 * TIMEOUT + 0.5)
    listed = sparkq("tasks", "--status", "running", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stdout
    after = read_tasks(url)
    auto = sorted(t["id"] for t in after.values() if (t["error"] or "").startswith("Auto-failed: "))
    assert auto, "some task should have been running when its worker was killed"
    assert set(orphans) <= set(auto)
    for task_id in auto:
        assert after[task_id]["status"] == "failed"
        assert after[task_id]["error"].startswith(f"Auto-failed: task exceeded 2x timeout ({TIMEOUT}s)")
    with psycopg.connect(url) as conn:
        auto_failed = conn.execute(
            "SELECT subject_id, count(*) FROM sparkq.events WHERE kind = %s GROUP BY subject_id",
            (EventKind.TASK_AUTO_FAILED.value,),
        ).fetchall()
    assert sorted(task_id for task_id, _ in auto_failed) == auto
    assert all(n == 1 for _, n in auto_failed), auto_failed  # each dead task auto-failed exactly once
    requeued = sparkq("requeue", auto[0], "--json")
    assert requeued.returncode == 0, requeued.stderr
    clone = json.loads(requeued.stdout)
    assert clone["status"] == "queued" and clone["requeued_from"] == auto[0]
    final = read_tasks(url)
    assert set(final) == set(after) | {clone["id"]}
    assert json.loads(final[clone["id"]]["payload"]) == json.loads(final[auto[0]]["payload"])
    print(f"auto-failed {len(auto)} tasks ({len(orphans)} still running when the run ended)")


def _restart_postgresql(cluster: Cluster, crowd: PgCrowd, sparkq: RunSparkq) -> dict[str, Any]:
    """Stop PostgreSQL (immediate shutdown) under the running crowd, check what everyone says, start it again."""
    assert crowd.server is not None
    log_before = len(crowd.server.output())
    waiter = subprocess.Popen(  # a worker blocked in `claim --wait` on an empty stream, LISTENing
        [SPARKQ, "claim", "--stream", "gamma", "--wait", "60"],
        cwd=crowd.workdir,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    sizes = crowd.sizes()
    cluster.stop_server("immediate")
    try:
        # the CLI: one line naming PostgreSQL, what is wrong and what to check
        stderr = _one_clear_line(sparkq("enqueue", "run-bash", "{}", "--stream", "alpha").stderr)
        assert "connection refused" in stderr or "shutting down" in stderr, stderr
        # the waiting claimer: it cannot wait on a database that is gone, and says so in one line
        _, waited = waiter.communicate(timeout=30)
        assert waiter.returncode == 1
        _one_clear_line(waited)
        # the server: a 503 whose message says the same, for every request that needs the database
        answer = httpx.post(
            f"http://127.0.0.1:{crowd.port}/api/tasks",
            json={"stream_id": "alpha", "tool_name": "run-bash", "payload": {}},
            timeout=30,
        )
        assert answer.status_code == 503, answer.text
        message = answer.json()["error"]["message"]
        assert "PostgreSQL" in message and PASSWORD not in message
        time.sleep(1.0)  # the workers meet the outage too
    finally:
        down_sizes = crowd.sizes()
        cluster.start_server()
    down = _lines_since(sizes, crowd.journals)
    errors_while_down = {kind: sum(line.startswith("err ") for line in lines) for kind, lines in down.items()}
    for lines in down.values():
        for line in lines:
            if line.startswith("err "):
                assert "Traceback" not in line and "unexpected" not in line.lower(), line
    assert sum(errors_while_down.values()) > 0, down  # the workers did meet it

    # the server logged the outage in lines of its own (no traceback), and its live feed came back
    server = crowd.server
    assert wait_for(lambda: "event feed back" in server.output()[log_before:], timeout=30), server.output()[-3000:]
    logged = server.output()[log_before:]
    assert "Traceback" not in logged, logged[-3000:]
    assert "event feed poll failed" in logged and PASSWORD not in logged

    # every kind of worker goes on once it is back: each acknowledges an operation after the restart
    assert wait_for(
        lambda: (
            all(
                any(line.startswith("ok ") for line in lines)
                for kind, lines in _lines_since(down_sizes, crowd.journals).items()
                if kind in ("cli", "lib", "http")
            )
            and set(_lines_since(down_sizes, crowd.journals)) >= {"cli", "lib", "http"}
        ),
        timeout=30,
    ), _lines_since(down_sizes, crowd.journals)
    return {"errors_while_down": errors_while_down}


def test_the_change_feed_listens_again_after_a_restart_and_loses_no_wake_up(own_cluster: Cluster) -> None:
    url = _url(own_cluster)
    writer = PostgresStore(url)
    queue = Queue(writer, SystemClock(), RandomIds())
    queue.ensure_project("demo")
    queue.create_session("s")
    queue.create_stream("auth", "s")
    reader = PostgresStore(url)
    feed = ChangeFeed(reader)
    try:
        last, version = feed.last_seq(), feed.data_version()
        own_cluster.stop_server("fast")
        try:
            message = _first_refusal(feed)
            assert "\n" not in message and PASSWORD not in message
            assert "connection refused" in message or "shutting down" in message, message
        finally:
            own_cluster.start_server()
        # committed before the feed looks again: its NOTIFY reached no listener
        task = queue.enqueue("auth", "run-bash", {})
        assert feed.data_version() != version  # yet the feed moves: whoever waits looks again
        events = feed.after(last)
        assert [(e["kind"], e["id"]) for e in events] == [(EventKind.TASK_ENQUEUED, task.id)]
        moved = feed.data_version()
        queue.claim("auth")  # and it listens again: the next commit is seen through NOTIFY
        assert wait_for(lambda: feed.data_version() != moved, timeout=30)
    finally:
        feed.close()
        reader.close()
        writer.close()


def test_a_pool_of_connections_from_before_a_restart_serves_the_next_unit(own_cluster: Cluster) -> None:
    store = PostgresStore(own_cluster.url(own_cluster.new_database()), pool_size=4)
    queue = Queue(store, SystemClock(), RandomIds())
    queue.ensure_project("demo")
    queue.create_session("s")
    pool = store.pool()
    held = [pool.get() for _ in range(4)]  # four idle connections, as a busy server keeps
    for conn in held:
        pool.put(conn)
    own_cluster.stop_server("fast")
    own_cluster.start_server()
    try:  # every one of them is dead now: the unit gets a new connection, not a second dead one
        assert [s.name for s in queue.list_sessions()] == ["s"]
    finally:
        store.close()


def _first_refusal(feed: ChangeFeed) -> str:
    """The message of the first look at `feed` that fails (the first may still find the socket quiet)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            feed.data_version()
        except StorageError as exc:
            return exc.message
        time.sleep(0.05)
    raise AssertionError("the feed never noticed that PostgreSQL was down")


@pytest.mark.parametrize(
    ("libpq_says", "we_say"),
    [
        (
            'connection failed: connection to server at "127.0.0.1", port 5432 failed: FATAL:  the database system '
            "is not yet accepting connections\nDETAIL:  Consistent recovery state has not been yet reached.",
            "is shutting down or starting up",
        ),
        (
            'connection failed: connection to server at "127.0.0.1", port 5432 failed: FATAL:  the database system '
            "is shutting down",
            "is shutting down or starting up",
        ),
        (
            'connection failed: connection to server at "127.0.0.1", port 5432 failed: server closed the connection '
            "unexpectedly\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the "
            "request.",
            "closed the connection as it was being opened",
        ),
        (
            'connection failed: connection to server at "127.0.0.1", port 5432 failed: FATAL:  sorry, too many '
            "clients already",
            ": sorry, too many clients already; check database.url",
        ),
    ],
)
def test_libpq_refusals_around_a_restart_are_one_line_saying_what_happened(libpq_says: str, we_say: str) -> None:
    # what libpq said, word for word (seen while the crash audit restarted PostgreSQL), as psycopg raises it
    from sparkq_adapters.postgres.errors import connect_failure

    message = connect_failure(psycopg.OperationalError(libpq_says), "postgresql://u:***@127.0.0.1:5432/db").message
    assert we_say in message and "\n" not in message and "DETAIL" not in message, message
