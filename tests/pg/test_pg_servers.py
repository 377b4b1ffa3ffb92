"""Several servers on several machines: `sparkq run` processes with folders and configs of their own, one database.

Each "machine" is a working folder with its own sparkq.yml naming the same PostgreSQL URL. Their
servers each bind loopback and keep their own lockfile; what one is told, the other serves (a task
enqueued through A is claimed through B, and B's live events show A's changes through NOTIFY); and
their background upkeep runs at once without conflict: the purges at start delete each old task
once between them, and their sweeps auto-fail each dead task exactly once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from sparkq_adapters.clock import RandomIds
from sparkq_adapters.event_kinds import EventKind
from sparkq_adapters.postgres import PostgresStore
from sparkq_adapters.testing import FakeClock
from sparkq_domain import Queue
from tests.integration.conftest import Server, free_port, wait_for
from tests.postgres_support import PASSWORD

OLD_TASKS = 40
DEAD_TASKS = 12

pytestmark = pytest.mark.slow


class PatientServer(Server):
    """A server given a minute to answer: several start at once, beside the suite's other PostgreSQL tests
    (the 20 s of the others passed once beside the contention test's 16 processes)."""

    def wait_ready(self, timeout: float = 60, *, retry_if_taken: bool = False) -> bool:
        return super().wait_ready(timeout, retry_if_taken=retry_if_taken)


def _machine(root: Path, name: str, url: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "sparkq.yml").write_text(f"database: {{url: '{url}'}}\n")
    return folder


def _listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as /proc/net/tcp shows them) on which something listens on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def _old_finished_tasks(url: str) -> None:
    """`OLD_TASKS` tasks that finished four days ago (past the default purge age of three days)."""
    store = PostgresStore(url)
    clock = FakeClock(datetime.now(UTC) - timedelta(days=4))
    queue = Queue(store, clock, RandomIds())
    queue.ensure_project("shared")
    queue.create_session("s")
    queue.create_stream("auth", "s")
    for n in range(OLD_TASKS):
        task = queue.enqueue("auth", "run-bash", {"n": n})
        queue.claim("auth")
        queue.complete(task.id, {"summary": "old"})
    store.close()


@pytest.fixture
def servers(pg_url: str, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Two servers on two "machines", started at once (so their purges at start run at once)."""
    _old_finished_tasks(pg_url)
    folders = [_machine(tmp_path, name, pg_url) for name in ("machine-a", "machine-b")]
    started: dict[int, Server] = {}
    failed: list[BaseException] = []

    def start(i: int) -> None:
        try:
            started[i] = PatientServer(folders[i], free_port())
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=start, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    try:
        assert not failed and set(started) == {0, 1}, failed
        yield started[0], started[1]
    finally:
        for server in started.values():
            server.stop()


def test_two_servers_on_one_database_serve_each_others_work_and_upkeep_without_conflict(
    servers: tuple[Server, Server], pg_url: str
) -> None:
    a, b = servers
    # each binds loopback only, and keeps its lockfile in its own folder, naming itself
    for server in (a, b):
        assert _listening_addresses(server.port) == {"0100007F"}  # 127.0.0.1
        assert (server.folder / "sparkq.lock").read_text().split()[0] == str(server.pid)
    assert a.folder != b.folder

    # their purges at start ran at once: each old task deleted once between them, and no error
    purged = [_purged(server) for server in (a, b)]
    assert sum(purged) == OLD_TASKS, purged
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM sparkq.tasks").fetchone() == (0,)

    with a.client() as api_a, b.client() as api_b:
        # what A is told, B serves: enqueued through A, claimed through B; and B's live events show it
        after = _newest_event(pg_url)
        body = {"stream_id": "auth", "tool_name": "run-bash", "payload": {"from": "A"}}
        seen: list[list[dict[str, object]]] = []
        task_ids: list[str] = []

        def enqueue_soon() -> None:
            time.sleep(0.5)  # B's event stream is open by then
            created = api_a.post("/api/tasks", json=body)
            assert created.status_code == 201, created.text
            task_ids.append(created.json()["task"]["id"])

        enqueuer = threading.Thread(target=enqueue_soon)
        enqueuer.start()
        try:
            seen.append(_events_until_an_enqueue(b, after))
        finally:
            enqueuer.join(timeout=60)
        task_id = task_ids[0]
        assert [e["kind"] for e in seen[0] if e["id"] == task_id] == [EventKind.TASK_ENQUEUED.value]
        claimed = api_b.post("/api/streams/auth/claim")
        assert claimed.status_code == 200 and claimed.json()["id"] == task_id

        # dead tasks: both servers sweep every 2 s; each dead task is auto-failed exactly once
        dead = []
        for n in range(DEAD_TASKS):
            enqueue_to, claim_from = (api_a, api_b) if n % 2 else (api_b, api_a)
            created = enqueue_to.post("/api/tasks", json={**body, "payload": {"n": n}, "timeout": 1})
            assert created.status_code == 201, created.text
            dead.append(created.json()["task"]["id"])
            assert claim_from.post("/api/streams/auth/claim").json()["id"] == dead[-1]
    assert wait_for(lambda: _statuses(pg_url, dead) == {"failed"}, timeout=60), _statuses(pg_url, dead)
    with psycopg.connect(pg_url) as conn:
        counts = dict(
            conn.execute(
                "SELECT subject_id, count(*) FROM sparkq.events WHERE kind = %s GROUP BY subject_id",
                (EventKind.TASK_AUTO_FAILED.value,),
            ).fetchall()
        )
    assert counts == {task: 1 for task in dead}, counts
    swept = [_auto_failed(server) for server in (a, b)]
    assert swept[0] | swept[1] == set(dead) and not swept[0] & swept[1], swept
    print(f"\npurged at start by A, B: {purged}; dead tasks auto-failed by A, B: {[len(s) for s in swept]}")
    for server in (a, b):
        log = server.output()
        assert "Traceback" not in log and "ERROR" not in log and "failed, retrying" not in log, log
        assert "skipped" not in log and PASSWORD not in log, log


def _events_until_an_enqueue(server: Server, after: int) -> list[dict[str, object]]:
    """B's live events after `after`, up to the first enqueue (A's: nothing else enqueues meanwhile).

    It stops at the event's kind, not at A's task id: B's event can arrive before A's POST has
    returned the id to the test, and then no later line would end the wait."""
    seen: list[dict[str, object]] = []
    deadline = time.monotonic() + 30
    with httpx.stream("GET", f"{server.url}/api/events", params={"after": after}, timeout=30) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line.removeprefix("data: ")))
                if seen[-1]["kind"] == EventKind.TASK_ENQUEUED.value:
                    return seen
            assert time.monotonic() < deadline, seen
    raise AssertionError(f"B's event stream ended before A's enqueue: {seen}")


def _newest_event(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT COALESCE(max(seq), 0) FROM sparkq.events").fetchone()
    assert row is not None
    return int(row[0])


def _statuses(url: str, task_ids: list[str]) -> set[str]:
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute("SELECT status FROM sparkq.tasks WHERE id = ANY(%s)", (task_ids,))}


def _purged(server: Server) -> int:
    """How many tasks the server's purge at start deleted (its log line says)."""
    assert wait_for(lambda: "purged " in server.output(), timeout=30), server.output()
    line = next(line for line in server.output().splitlines() if "purged " in line)
    return int(line.split("purged ", 1)[1].split()[0])


def _auto_failed(server: Server) -> set[str]:
    return {
        line.split("auto-failed ", 1)[1].split(":")[0]
        for line in server.output().splitlines()
        if "auto-failed " in line
    }
