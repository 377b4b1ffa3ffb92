"""Schema v6: the forward migration from a v5 file with tasks in every status, and what v6 changes."""

from __future__ import annotations

from pathlib import Path

from sparkq_adapters.sqlite.schema import LATEST_VERSION
from sparkq_domain import TaskStatus
from sparkq_entry.wiring import open_queue

from .schema_support import TS, file_at_version, rows, task_columns

TASK = (
    "INSERT INTO tasks(id, stream_id, tool_name, task_class, payload, status, timeout, attempts, result, error, "
    "created_at, updated_at, started_at, finished_at, seq) "
    "VALUES (?, 'str_000000000001', 'run-bash', 'FAST_SCRIPT', '{\"k\":1}', 'queued', 600, 0, NULL, NULL, ?, ?, NULL, "
    "NULL, ?)"
)


def v5_file(db: Path) -> None:
    """A schema-v5 database as SparkQ 5 left it: tasks in every status, events with gaps (a trim)."""
    conn = file_at_version(db, 5)
    for n, task_id in enumerate(("tsk_00000000000q", "tsk_00000000000r", "tsk_00000000000s", "tsk_00000000000f")):
        conn.execute(TASK, (task_id, TS, TS, n + 1))
    now = "2099-01-01T00:00:00.000000Z"  # started "in the future" for this test's clock: never dead
    conn.execute("UPDATE tasks SET status = 'running', attempts = 1, started_at = ? WHERE id LIKE '%r'", (now,))
    conn.execute(
        "UPDATE tasks SET status = 'succeeded', attempts = 1, result = '{\"summary\":\"ok\"}', started_at = ?, "
        "finished_at = ? WHERE id LIKE '%s'",
        (TS, TS),
    )
    conn.execute(
        "UPDATE tasks SET status = 'failed', attempts = 1, error = 'broke', started_at = ?, finished_at = ? "
        "WHERE id LIKE '%f'",
        (TS, TS),
    )
    conn.execute("DELETE FROM events WHERE seq <= 2")  # a trimmed feed
    conn.close()


def test_a_v5_database_with_tasks_in_every_status_migrates_to_v6_keeping_every_row(tmp_path: Path) -> None:
    db = tmp_path / "v5.db"
    v5_file(db)
    v5_columns = task_columns(db)
    tasks_before = rows(db, f"SELECT {v5_columns} FROM tasks ORDER BY seq")
    events_before = rows(db, "SELECT seq, kind, subject_id, stream_id, status, at FROM events ORDER BY seq")
    assert {row[5] for row in tasks_before} == {"queued", "running", "succeeded", "failed"}
    assert rows(db, "SELECT name FROM sqlite_sequence") == [("events",)]

    queue = open_queue(db)

    # later versions (7: failure facts) run on too, and keep every v5 column's value
    assert LATEST_VERSION >= 6 and rows(db, "PRAGMA user_version") == [(LATEST_VERSION,)]
    assert rows(db, f"SELECT {v5_columns} FROM tasks ORDER BY seq") == tasks_before
    assert rows(db, "SELECT seq, kind, subject_id, stream_id, status, at FROM events ORDER BY seq") == events_before
    (events_sql,) = rows(db, "SELECT sql FROM sqlite_master WHERE name = 'events'")[0]
    assert "AUTOINCREMENT" not in str(events_sql).upper()
    assert rows(db, "SELECT name FROM sqlite_sequence") == []
    indexes = {name for (name,) in rows(db, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert not indexes & {
        "idx_tasks_started_at",
        "idx_tasks_created_at",
        "idx_tasks_stream_status_seq",
        "idx_tasks_status_seq",
    }
    assert {"idx_tasks_queued", "idx_tasks_finished_status"} <= indexes
    triggers = {name for (name,) in rows(db, "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    # version 6's six, and the heartbeat's of a later version
    assert len(triggers) == 7 and "events_task_heartbeat" in triggers

    # the migrated file works: the queued task is claimed, the running one completes, and the
    # feed goes on after the newest event it had, recording both
    claimed = queue.claim("lane")
    assert claimed is not None and claimed.task.id == "tsk_00000000000q" and claimed.task.attempts == 1
    done = queue.complete("tsk_00000000000r", {"summary": "finished after the upgrade"})
    assert done.status is TaskStatus.SUCCEEDED
    newest = max(row[0] for row in events_before)
    after = rows(db, f"SELECT seq, kind, subject_id FROM events WHERE seq > {newest} ORDER BY seq")
    assert [(kind, subject) for _, kind, subject in after] == [
        ("task.claimed", "tsk_00000000000q"),
        ("task.completed", "tsk_00000000000r"),
    ]
    assert [seq for seq, _, _ in after] == [newest + 1, newest + 2]


def test_pruning_the_feed_always_keeps_the_newest_event_so_seqs_only_grow(tmp_path: Path) -> None:
    from sparkq_adapters.sqlite.changes import ChangeFeed

    db = tmp_path / "sparkq.db"
    queue = open_queue(db)
    queue.create_session("s")
    queue.create_stream("a", "s")
    queue.enqueue("a", "run-bash", {})
    newest = rows(db, "SELECT MAX(seq) FROM events")[0][0]
    feed = ChangeFeed(db)
    try:
        feed.prune(keep=0, batch=10, pause=0)  # without AUTOINCREMENT, an empty table would start again at 1
    finally:
        feed.close()
    assert rows(db, "SELECT seq FROM events") == [(newest,)]
    queue.enqueue("a", "run-bash", {})
    assert rows(db, "SELECT MAX(seq) FROM events") == [(newest + 1,)]
