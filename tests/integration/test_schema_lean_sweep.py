"""The lean-sweep migration: one index of running tasks for the sweep, stream pages without an index of their own."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sparkq_adapters.clock import format_time
from sparkq_adapters.sqlite.schema import LATEST_VERSION, MIGRATIONS, V_LEAN_SWEEP
from sparkq_domain import TaskStatus
from sparkq_entry.wiring import open_queue

from .schema_support import TS, file_at_version, rows, task_columns

BEFORE = MIGRATIONS.index(V_LEAN_SWEEP)
FUTURE = "2099-01-01T00:00:00.000000Z"  # a start the clock went back past
TASK = (
    "INSERT INTO tasks(id, stream_id, tool_name, task_class, payload, status, timeout, attempts, result, error, "
    "created_at, updated_at, started_at, finished_at, seq) "
    "VALUES (?, 'str_000000000001', 'run-bash', 'FAST_SCRIPT', '{\"k\":1}', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: id, status, timeout, started_at, finished_at: every status, and running tasks dead, alive and "in the future"
TASKS = (
    ("tsk_00000000000q", "queued", 600, None, None),
    ("tsk_0000000000rd", "running", 30, TS, None),
    ("tsk_0000000000ra", "running", 600, None, None),  # started now: set when the file is made
    ("tsk_0000000000rf", "running", 900, FUTURE, None),
    ("tsk_00000000000s", "succeeded", 600, TS, TS),
    ("tsk_00000000000f", "failed", 600, TS, TS),
)


def previous_file(db: Path) -> None:
    """A database as the version before this migration left it, with tasks in every status."""
    conn = file_at_version(db, BEFORE)
    now = format_time(datetime.now(UTC))
    for seq, (task_id, status, timeout, started, finished) in enumerate(TASKS, start=1):
        if task_id.endswith("ra"):
            started = now
        result = '{"summary":"ok"}' if status == "succeeded" else None
        error = "broke" if status == "failed" else None
        attempts = 0 if status == "queued" else 1
        conn.execute(TASK, (task_id, status, timeout, attempts, result, error, TS, TS, started, finished, seq))
    conn.close()


def test_a_file_with_tasks_in_every_status_migrates_keeping_every_row_and_the_sweep_finds_the_same(
    tmp_path: Path,
) -> None:
    db = tmp_path / "previous.db"
    previous_file(db)
    tasks_before = rows(db, "SELECT * FROM tasks ORDER BY seq")
    columns_before = task_columns(db)
    indexes_before = {name for (name,) in rows(db, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"idx_tasks_running_deadline", "idx_tasks_running_started", "idx_tasks_stream_seq"} <= indexes_before

    queue = open_queue(db)

    assert rows(db, "PRAGMA user_version") == [(LATEST_VERSION,)] and LATEST_VERSION > BEFORE
    # every row keeps every value it had (later versions add columns)
    assert rows(db, f"SELECT {columns_before} FROM tasks ORDER BY seq") == tasks_before
    indexes = {name for (name,) in rows(db, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert not indexes & {"idx_tasks_running_deadline", "idx_tasks_running_started", "idx_tasks_stream_seq"}
    assert "idx_tasks_running" in indexes
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]

    # the migrated file works: the sweep fails the dead task and counts the one started "in the future"
    # afresh; the stream's page holds every task, newest first; the queued task is claimed
    failed = queue.sweep_dead()
    assert [t.id for t in failed] == ["tsk_0000000000rd"]
    page = queue.list_tasks(stream="lane", limit=None)
    assert [t.id for t in page.tasks] == [task_id for task_id, *_ in TASKS][::-1] and page.total == len(TASKS)
    recounted = queue.get_task("tsk_0000000000rf")
    assert recounted.status is TaskStatus.RUNNING and recounted.started_at is not None
    assert recounted.started_at < datetime(2099, 1, 1, tzinfo=UTC)
    assert queue.get_task("tsk_0000000000ra").status is TaskStatus.RUNNING
    claimed = queue.claim("lane")
    assert claimed is not None and claimed.task.id == "tsk_00000000000q"


def wal_pages_per_cycle(db: Path, cycle: Callable[[int], None], cycles: int) -> float:
    """Pages written to the WAL per call of `cycle`: the WAL emptied first, its frames counted after."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for n in range(cycles):
            cycle(n)
        _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return float(frames) / cycles
    finally:
        conn.close()


def test_a_queue_cycle_writes_at_most_fourteen_and_a_half_wal_pages(tmp_path: Path) -> None:
    """enqueue + claim + complete: the task's page and a change-feed page per transaction (6), the new
    task's id and seq entries (2), the queued index in and out (2), the running index in and out (2),
    the two finished indexes (2): 14, and a little for the pages that split as the indexes grow."""
    db = tmp_path / "sparkq.db"
    queue = open_queue(db, project="wal")
    queue.create_session("s")
    queue.create_stream("a", "s")

    def cycle(n: int) -> None:
        queue.enqueue("a", "run-bash", {"n": n})
        claimed = queue.claim("a")
        assert claimed is not None
        queue.complete(claimed.task.id, {"summary": "ok"})

    cycle(0)  # the first cycle creates the pages every later one rewrites
    assert wal_pages_per_cycle(db, cycle, cycles=40) <= 14.5
