"""Writers queue for each other (threads in turn, processes by an advisory lock), never in SQLite's busy handler.

Each writer here sets SQLite's busy timeout to 0 on its own connection: any write that found the
database locked would fail at once with StorageBusy instead of sleeping and retrying. With the
writer queue no write ever finds it locked, so none fails.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from sparkq_adapters.clock import SystemClock
from sparkq_adapters.sqlite import SqliteStore
from sparkq_domain import Queue, TaskStatus
from sparkq_domain.errors import StorageBusy
from sparkq_entry.wiring import open_queue
from tests.fakes import SequentialIds

THREADS = 8
CYCLES = 40


def _cycles(queue: Queue, store: SqliteStore, stream: str, count: int, errors: list[BaseException]) -> None:
    try:
        store.connection().execute("PRAGMA busy_timeout = 0")  # this thread's connection: no sleeping, no retry
        for n in range(count):
            queue.enqueue(stream, "run-bash", {"n": n})
            claimed = queue.claim(stream)
            assert claimed is not None
            queue.complete(claimed.task.id, {"summary": "ok"})
    except BaseException as exc:
        errors.append(exc)


def test_threads_writing_through_one_store_take_turns_instead_of_finding_the_database_locked(tmp_path: Path) -> None:
    db = tmp_path / "sparkq.db"
    open_queue(db).create_session("s")
    store = SqliteStore(db)
    queue = Queue(store, SystemClock(), SequentialIds())
    queue.create_stream("a", "s")
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_cycles, args=(queue, store, "a", CYCLES, errors)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert queue.status_counts()[TaskStatus.SUCCEEDED] == THREADS * CYCLES


WORKER = textwrap.dedent(
    """
    import sys
    from sparkq_entry.wiring import open_queue
    queue = open_queue(sys.argv[1])
    queue._store.connection().execute("PRAGMA busy_timeout = 0")
    for n in range(int(sys.argv[2])):
        queue.enqueue("a", "run-bash", {"n": n})
        claimed = queue.claim("a")
        queue.complete(claimed.task.id, {"summary": "ok"})
    """
)


def test_processes_take_turns_through_the_advisory_writer_lock(tmp_path: Path) -> None:
    db = tmp_path / "sparkq.db"
    queue = open_queue(db)
    queue.create_session("s")
    queue.create_stream("a", "s")
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(db), str(CYCLES * 2)], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    failures = []
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        if worker.returncode != 0:
            failures.append(err[-400:])
    assert failures == []
    assert queue.status_counts()[TaskStatus.SUCCEEDED] == 4 * CYCLES * 2
    assert (tmp_path / "sparkq.db-writer").exists()


HOLDER = textwrap.dedent(
    """
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("held", flush=True)
    time.sleep(120)  # a writer stopped mid-transaction (Ctrl-Z), as far as the others can tell
    """
)


def test_a_writer_that_never_lets_go_costs_the_others_a_busy_error_after_the_timeout_not_a_hang(
    tmp_path: Path,
) -> None:
    db = tmp_path / "sparkq.db"
    queue = open_queue(db)
    queue.create_session("s")
    queue.create_stream("a", "s")
    queue.enqueue("a", "run-bash", {})
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, f"{db}-writer"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        store = SqliteStore(db, busy_timeout_ms=300)
        waiting = Queue(store, SystemClock(), SequentialIds())
        try:
            waiting.claim("a")
        except StorageBusy as exc:
            assert "locked by another process" in exc.message
        else:
            raise AssertionError("the claim went through while another process held the writer lock")
        assert waiting.peek("a") is not None  # reads never queue: the task is still queued
    finally:
        holder.kill()
        holder.wait()
    assert queue.claim("a") is not None  # and once it is gone, writes go on
