"""The worker-protocol-v2 migration: heartbeats, cancelled tasks, lineage both ways, on a file of the version before."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sparkq_adapters.clock import format_time
from sparkq_adapters.sqlite.schema import FINISHED_SQL, LAST_ALIVE, LATEST_VERSION, MIGRATIONS, V_WORKER_V2
from sparkq_domain import STREAM_ENDED_REASON, FailureKind, TaskStatus
from sparkq_entry.wiring import open_queue

from .schema_support import TS, file_at_version, rows, task_columns

BEFORE = MIGRATIONS.index(V_WORKER_V2)
TASK = (
    "INSERT INTO tasks(id, stream_id, tool_name, task_class, payload, status, timeout, attempts, result, error, "
    "created_at, updated_at, started_at, finished_at, seq, requeued_from, failure_kind) "
    "VALUES (?, ?, 'run-bash', 'FAST_SCRIPT', '{\"k\":1}', ?, 600, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
OPEN, ENDED = "str_000000000001", "str_000000000002"
#: id, stream, status, requeued_from: every status, in an active and an ended stream, with copies
TASKS = (
    ("tsk_00000000000q", OPEN, "queued", None),
    ("tsk_0000000000qe", ENDED, "queued", None),  # stayed queued forever when its stream ended
    ("tsk_00000000000r", OPEN, "running", None),
    ("tsk_00000000000s", OPEN, "succeeded", None),
    ("tsk_00000000000f", OPEN, "failed", None),
    ("tsk_0000000000f1", OPEN, "queued", "tsk_00000000000f"),  # a first copy of the failed task
    ("tsk_0000000000f2", OPEN, "failed", "tsk_00000000000f"),  # a second copy (then allowed), failed too
    ("tsk_0000000000fe", ENDED, "failed", None),
)


def previous_file(db: Path) -> None:
    """A database as the version before this migration left it, with tasks in every status."""
    conn = file_at_version(db, BEFORE, ((OPEN, "lane", "active"), (ENDED, "closed", "ended")))
    now = format_time(datetime.now(UTC))
    for seq, (task_id, stream_id, status, origin) in enumerate(TASKS, start=1):
        result = '{"summary":"ok"}' if status == "succeeded" else None
        error = "broke" if status == "failed" else None
        # the running task started a moment ago: alive when the migrated file is used
        started = None if status == "queued" else now if status == "running" else TS
        finished = TS if status in ("succeeded", "failed") else None
        kind = "error" if status == "failed" else None
        attempts = 0 if status == "queued" else 1
        conn.execute(
            TASK,
            (task_id, stream_id, status, attempts, result, error, TS, TS, started, finished, seq, origin, kind),
        )
    conn.close()


def test_a_file_of_the_previous_version_migrates_keeping_every_row_with_lineage_and_cancelled_tasks(
    tmp_path: Path,
) -> None:
    db = tmp_path / "previous.db"
    previous_file(db)
    columns = task_columns(db)
    before = {r[0]: r for r in rows(db, f"SELECT {columns} FROM tasks ORDER BY seq")}
    events_before = rows(db, "SELECT COUNT(*) FROM events")[0][0]

    queue = open_queue(db)

    assert rows(db, "PRAGMA user_version") == [(LATEST_VERSION,)] and LATEST_VERSION > BEFORE
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    after = {r[0]: r for r in rows(db, f"SELECT {columns} FROM tasks ORDER BY seq")}
    # every row keeps what it had, but the queued task of the ended stream: cancelled, as ending does now
    changed = {task_id for task_id in before if after[task_id] != before[task_id]}
    assert changed == {"tsk_0000000000qe"}
    stranded = queue.get_task("tsk_0000000000qe")
    assert (stranded.status, stranded.failure_kind, stranded.error) == (
        TaskStatus.CANCELLED,
        FailureKind.CANCELLED,
        STREAM_ENDED_REASON,
    )
    assert stranded.finished_at is not None and stranded.finished_at > stranded.created_at
    assert rows(db, "SELECT kind, subject_id FROM events WHERE seq > 0 ORDER BY seq")[events_before:] == [
        ("task.cancelled", "tsk_0000000000qe")
    ]
    # lineage both ways: an original learns its latest copy
    assert queue.get_task("tsk_00000000000f").requeued_to == "tsk_0000000000f2"
    assert {t.id for t in queue.list_tasks(limit=None).tasks if t.requeued_to} == {"tsk_00000000000f"}
    assert all(t.heartbeat_at is None and t.progress is None for t in queue.list_tasks(limit=None).tasks)
    # the indexes of this version
    indexes = dict(rows(db, "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
    assert LAST_ALIVE in str(indexes["idx_tasks_running"])
    assert FINISHED_SQL in str(indexes["idx_tasks_finished_status"])
    assert FINISHED_SQL in str(indexes["idx_tasks_finished"])

    # the migrated file works: counts see the cancelled task, a heartbeat is recorded, bulk requeue copies
    # the failed tasks without a copy (the ended stream's is skipped), purge deletes the cancelled one
    assert queue.status_counts()[TaskStatus.CANCELLED] == 1
    running = queue.heartbeat("tsk_00000000000r", "still here")
    assert running.progress == "still here"
    assert rows(db, "SELECT kind FROM events ORDER BY seq DESC LIMIT 1") == [("task.heartbeat",)]
    done = queue.requeue_failed()
    assert [t.id for t in done.originals] == ["tsk_0000000000f2"]
    assert [t.id for t in done.skipped] == ["tsk_0000000000fe"]
    assert queue.purge(timedelta(0), pause=0) == 5  # the succeeded, the 3 failed, the cancelled
    assert {t.status for t in queue.list_tasks(limit=None).tasks} == {TaskStatus.QUEUED, TaskStatus.RUNNING}


def test_no_write_of_the_worker_cycle_builds_an_ephemeral_table_for_an_index_condition(tmp_path: Path) -> None:
    # A partial index's WHERE runs on every insert and update of `tasks`; `status IN (three values)` there
    # was coded as a lookup table built at each run (version 9): enqueue, claim and report each paid for it.
    from sparkq_adapters.sqlite.repository import APPLY_CHANGE, CLAIM_NEXT, INSERT_TASK

    open_queue(tmp_path / "sparkq.db")
    conn = sqlite3.connect(tmp_path / "sparkq.db")
    try:

        def ephemeral(sql: str) -> int:
            ops = [row[1] for row in conn.execute("EXPLAIN " + sql, [None] * sql.count("?"))]
            return ops.count("OpenEphemeral")

        assert ephemeral(INSERT_TASK) == 0
        # an UPDATE … RETURNING holds its returned rows in one ephemeral table: that one only
        assert ephemeral(CLAIM_NEXT.format(set="status = ?, started_at = ?", status="queued")) == 1
        assert ephemeral(APPLY_CHANGE.format(set="status = ?, finished_at = ?", status="running")) == 1
    finally:
        conn.close()
