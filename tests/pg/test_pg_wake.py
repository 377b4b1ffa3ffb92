"""PostgreSQL wake-ups come from LISTEN's socket, not from polling: a commit by another process wakes at once.

Each waiter here (the waiting loop of `claim --wait`, the CLI command itself, an HTTP `?wait=` claim,
an SSE subscriber, the wait of `sparkq mcp`'s claims) is given poll and recheck intervals of an hour,
and the commit comes from another process (the real `sparkq enqueue` console script). The waiter
still returns with that commit's task or event, far within the hour: only the NOTIFY on its LISTEN
socket can have woken it. A PostgreSQL restart while waiting ends the wait in one clear line, and
the feed listens again afterwards.
"""

from __future__ import annotations

import json
import queue as queues
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from sparkq_adapters import config, waiting
from sparkq_adapters.clock import RandomIds, SystemClock
from sparkq_adapters.http import events
from sparkq_adapters.postgres import PostgresStore
from sparkq_adapters.postgres.changes import ChangeFeed
from sparkq_domain import Claimed, Queue
from sparkq_entry.asgi import build_app
from tests.conftest import SPARKQ, RunSparkq, _clean_env
from tests.integration.cli_support import ok_json
from tests.integration.conftest import free_port, wait_for
from tests.integration.threaded_uvicorn import ThreadedUvicorn
from tests.postgres_support import PASSWORD, Cluster

#: the poll and recheck intervals the waiters get: were they what woke them, the tests would wait this long
HOUR = 3600.0
#: how long a test waits for a wake-up before failing (a bound on a hang, not on speed)
BOUND = 120.0


def _queue(url: str) -> tuple[Queue, PostgresStore]:
    store = PostgresStore(url, pool_size=2)
    queue = Queue(store, SystemClock(), RandomIds())
    queue.ensure_project("demo")
    queue.create_session("s")
    queue.create_stream("auth", "s")
    return queue, store


def _enqueue_elsewhere(url: str, folder: Path, n: int) -> str:
    """Enqueue a task on `auth` from another process (the console script); its id."""
    done = subprocess.run(
        [SPARKQ, "enqueue", "run-bash", json.dumps({"n": n}), "--stream", "auth"],
        cwd=folder,
        env=_clean_env({"SPARKQ_DATABASE_URL": url}),
        capture_output=True,
        text=True,
        timeout=BOUND,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _listening(url: str, count: int) -> bool:
    """Whether `count` connections LISTEN on the database of `url` (their last statement)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %%'"
        ).fetchone()
    return row is not None and row[0] >= count


def test_the_waiting_loop_is_woken_by_a_commit_of_another_process(pg_url: str, tmp_path: Path) -> None:
    queue, store = _queue(pg_url)
    reader = PostgresStore(pg_url, pool_size=1)
    feed = ChangeFeed(reader)
    assert feed.wake_fd() is not None
    changes = waiting.DataVersionChanges.of(feed, poll=HOUR)
    attempts: list[Claimed | None] = []
    first_attempt = threading.Event()

    def claim() -> Claimed | None:
        got = queue.claim("auth")
        attempts.append(got)
        first_attempt.set()
        return got

    results: list[Claimed | None] = []
    waiter = threading.Thread(
        target=lambda: results.append(waiting.claim_waiting(claim, changes, HOUR, recheck=HOUR)), daemon=True
    )
    waiter.start()
    try:
        assert first_attempt.wait(BOUND) and attempts == [None]  # waiting now, its mark taken before that claim
        task = _enqueue_elsewhere(pg_url, tmp_path, 1)
        waiter.join(BOUND)
        assert not waiter.is_alive(), "the NOTIFY did not wake the waiting loop"
        claimed = results[0]
        assert claimed is not None and claimed.task.id == task
        assert len(attempts) == 2  # one claim before the wait, one after the wake: no polling in between
    finally:
        waiter.join(BOUND)
        feed.close()
        reader.close()
        store.close()


def test_the_sqlite_feed_has_no_socket_and_its_waiters_poll(tmp_path: Path) -> None:
    from sparkq_adapters.sqlite.changes import ChangeFeed as SqliteFeed

    feed = SqliteFeed(tmp_path / "sparkq.db")
    try:
        assert feed.wake_fd() is None
        sleeps: list[float] = []
        ticks = iter(range(1000))
        changes = waiting.DataVersionChanges(
            feed.data_version, wake_fd=feed.wake_fd, poll=0.5, sleep=sleeps.append, clock=lambda: float(next(ticks))
        )
        changes.wait(changes.mark(), 3)
        assert sleeps == [0.5, 0.5]  # read the counter every poll until the time was up (the clock ticks 1 a look)
    finally:
        feed.close()


@pytest.mark.in_process
def test_claim_wait_is_woken_by_a_commit_of_another_process(
    sparkq: RunSparkq, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(waiting, "POLL_SECONDS", HOUR)
    monkeypatch.setattr(waiting, "RECHECK_SECONDS", HOUR)
    _, store = _queue(pg_url)
    env = {"SPARKQ_DATABASE_URL": pg_url}
    results: list[subprocess.CompletedProcess[str]] = []
    waiter = threading.Thread(
        target=lambda: results.append(sparkq("claim", "--stream", "auth", "--wait", "3000", env=env)), daemon=True
    )
    waiter.start()
    try:
        assert wait_for(lambda: _listening(pg_url, 1), timeout=BOUND)  # its feed listens: it claims, then waits
        time.sleep(0.5)  # not a bound: lets the first claim finish before the enqueue (else nothing is shown)
        task = _enqueue_elsewhere(pg_url, tmp_path, 1)
        waiter.join(BOUND)
        assert not waiter.is_alive(), "the NOTIFY did not wake sparkq claim --wait"
        assert ok_json(results[0])["id"] == task
    finally:
        waiter.join(BOUND)
        store.close()


# -- the server: HTTP ?wait= claims and SSE, one hub woken by the socket ---------------------------


@pytest.fixture
def served(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedUvicorn]:
    """A real uvicorn serving the app on PostgreSQL in a thread, its hub polling and rechecking once an hour."""
    monkeypatch.setattr(events, "POLL_SECONDS", HOUR)
    monkeypatch.setattr(waiting, "RECHECK_SECONDS", HOUR)
    monkeypatch.setenv(config.DATABASE_URL_ENV, pg_url)
    port = free_port()
    app = build_app(config.defaults(tmp_path), port)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    running = ThreadedUvicorn(server, port, bound=BOUND)
    try:
        yield running
    finally:
        running.stop()


class Events:
    """A GET /api/events subscriber reading on a thread: (kind, id) of each event, in order."""

    def __init__(self, url: str) -> None:
        self.seen: queues.Queue[tuple[str, str]] = queues.Queue()
        self.opened = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=None))
        self._response = self._client.send(self._client.build_request("GET", url + "/api/events"), stream=True)
        assert self._response.status_code == 200
        threading.Thread(target=self._read, daemon=True).start()
        assert self.opened.wait(BOUND)

    def _read(self) -> None:
        try:
            for line in self._response.iter_lines():
                if line.startswith(":"):
                    self.opened.set()
                elif line.startswith("data:"):
                    event: dict[str, Any] = json.loads(line.removeprefix("data:"))
                    self.seen.put((event["kind"], event["id"]))
        except httpx.HTTPError:
            pass

    def next_enqueued(self) -> str:
        while True:
            kind, subject = self.seen.get(timeout=BOUND)
            if kind == "task.enqueued":
                return subject

    def close(self) -> None:
        self._response.close()
        self._client.close()


def test_sse_and_a_long_poll_claim_are_woken_by_a_commit_of_another_process(
    served: ThreadedUvicorn, pg_url: str, tmp_path: Path
) -> None:
    queue, store = _queue(pg_url)
    subscriber = Events(served.url)
    try:
        first = _enqueue_elsewhere(pg_url, tmp_path, 1)
        # the hub's first look may come after this commit (it starts with the server); the second cannot
        assert subscriber.next_enqueued() == first
        second = _enqueue_elsewhere(pg_url, tmp_path, 2)
        assert subscriber.next_enqueued() == second  # woken by the NOTIFY: its next look is an hour away
        assert queue.claim("auth") is not None and queue.claim("auth") is not None  # the stream is empty again

        answers: list[httpx.Response] = []

        def long_poll() -> None:
            with httpx.Client(base_url=served.url, timeout=BOUND) as client:
                answers.append(
                    client.post(
                        "/api/streams/auth/claim", params={"wait": 60}, headers={"content-type": "application/json"}
                    )
                )

        waiter = threading.Thread(target=long_poll, daemon=True)
        waiter.start()
        time.sleep(0.5)  # not a bound: lets its first claim find nothing before the enqueue (else nothing is shown)
        third = _enqueue_elsewhere(pg_url, tmp_path, 3)
        waiter.join(BOUND)
        assert not waiter.is_alive(), "the NOTIFY did not wake the long poll"
        assert answers[0].status_code == 200, answers[0].text
        assert answers[0].json()["id"] == third
        assert subscriber.next_enqueued() == third
    finally:
        subscriber.close()
        store.close()


# -- PostgreSQL restarted while waiting ------------------------------------------------------------


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[Cluster]:
    """A cluster of this module's own: restarting it must not cut off the other tests' connections."""
    cluster = Cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.slow
def test_a_restart_while_claim_wait_waits_ends_it_in_one_clear_line(own_cluster: Cluster, tmp_path: Path) -> None:
    url = own_cluster.url(own_cluster.new_database())
    _queue(url)[1].close()
    waiting_claim = subprocess.Popen(
        [SPARKQ, "claim", "--stream", "auth", "--wait", "3000"],
        cwd=tmp_path,
        env=_clean_env({"SPARKQ_DATABASE_URL": url}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: _listening(url, 1), timeout=BOUND)
        own_cluster.stop_server("fast")
        try:
            # the socket ends: the wait ends at once, saying why, instead of sleeping out its 3000 s
            out, err = waiting_claim.communicate(timeout=BOUND)
        finally:
            own_cluster.start_server()
        assert waiting_claim.returncode == 1, (out, err)
        assert out == "" and err.count("\n") == 1 and "Traceback" not in err and PASSWORD not in err, err
        assert "connection" in err.lower(), err
    finally:
        if waiting_claim.poll() is None:
            waiting_claim.kill()
            waiting_claim.wait()


@pytest.mark.slow
def test_after_a_restart_the_feed_wakes_its_waiters_again(own_cluster: Cluster, tmp_path: Path) -> None:
    url = own_cluster.url(own_cluster.new_database())
    queue, store = _queue(url)
    reader = PostgresStore(url, pool_size=1)
    feed = ChangeFeed(reader)
    changes = waiting.DataVersionChanges.of(feed, poll=HOUR)
    try:
        own_cluster.stop_server("fast")
        own_cluster.start_server()
        # the looks after it find the socket ended and listen on a new one, counted as a change (NOTIFYs sent
        # meanwhile reached nobody); the first may still read the server's goodbye: look until it moved
        start = feed.data_version()
        assert wait_for(lambda: feed.data_version() != start, timeout=BOUND)
        mark = changes.mark()  # the next wait blocks on the new socket
        done = threading.Event()
        threading.Thread(target=lambda: (changes.wait(mark, HOUR), done.set()), daemon=True).start()
        queue.enqueue("auth", "run-bash", {})
        assert done.wait(BOUND), "the new LISTEN socket did not wake the waiter"
    finally:
        feed.close()
        reader.close()
        store.close()


def test_sparkq_mcp_claims_are_woken_by_a_commit_of_another_process(pg_url: str, tmp_path: Path) -> None:
    import anyio
    import anyio.to_thread

    from sparkq_adapters.mcp.server import PolledChanges, polled_waiter

    queue, store = _queue(pg_url)
    reader = PostgresStore(pg_url, pool_size=1)
    feed = ChangeFeed(reader)
    changes = PolledChanges(feed.data_version, HOUR, wake_fd=feed.wake_fd)  # as `sparkq mcp` waits, polling hourly

    async def main() -> tuple[bool, str, Claimed | None]:
        mark = changes.mark()
        async with anyio.create_task_group() as tasks:
            enqueued: list[str] = []

            async def enqueue() -> None:
                enqueued.append(await anyio.to_thread.run_sync(_enqueue_elsewhere, pg_url, tmp_path, 1))

            tasks.start_soon(enqueue)
            with anyio.move_on_after(BOUND) as scope:
                await changes.wait(mark, HOUR)
        claimed = await polled_waiter(queue, feed)("auth", 1)  # the tool's claim: the task is there
        return not scope.cancelled_caught, enqueued[0], claimed

    try:
        woken, task, claimed = anyio.run(main)
        assert woken, "the NOTIFY did not wake the MCP server's wait"
        assert claimed is not None and claimed.task.id == task
    finally:
        feed.close()
        reader.close()
        store.close()
