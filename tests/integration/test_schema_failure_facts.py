"""Failure facts in the SQLite file: the forward migration that adds them, and the change feed that reads them.

The migration is tested on a file of the version before it, built by applying the migrations
before it; the feed's kinds are checked against `EventKind`, the one list of them.
"""

from __future__ import annotations

from pathlib import Path

from sparkq_adapters.event_kinds import FAILURE_EVENTS, EventKind
from sparkq_adapters.sqlite.schema import LATEST_VERSION, MIGRATIONS, V_FAILURE_FACTS, task_status_trigger
from sparkq_domain import AUTO_FAIL_MESSAGE, FailureKind, Queue, TaskStatus
from sparkq_entry.wiring import open_queue
from tests.fakes import FakeClock

from .schema_support import TS, file_at_version, rows, task_columns

#: the version a file has just before this migration
BEFORE = MIGRATIONS.index(V_FAILURE_FACTS)
FUTURE = "2099-01-01T00:00:00.000000Z"  # a start "in the future" for the test's clock: never dead

#: failed rows of an older file, by id: the error each holds and the kind the migration gives it
FAILED = {
    "tsk_0000000000a1": (AUTO_FAIL_MESSAGE.format(timeout=600), "auto"),
    "tsk_0000000000a2": (AUTO_FAIL_MESSAGE.format(timeout=1), "auto"),
    "tsk_0000000000e1": ("Auto-failed: gave up, the API is down", "error"),  # a worker's words
    "tsk_0000000000e2": ("auto-failed: task exceeded 2x timeout", "error"),  # LIKE took this one as auto
    "tsk_0000000000e3": ("TestFailure: 3 tests fail", "error"),  # an error_type folded in, as before
}
OTHERS = {"tsk_00000000000q": "queued", "tsk_00000000000r": "running", "tsk_00000000000s": "succeeded"}


def older_file(db: Path) -> None:
    """A file at the version before failure facts, with tasks in every status and failures of each sort."""
    conn = file_at_version(db, BEFORE)
    for seq, task_id in enumerate([*OTHERS, *FAILED], start=1):
        conn.execute(
            "INSERT INTO tasks(id, stream_id, tool_name, task_class, payload, status, timeout, created_at, "
            "updated_at, seq) VALUES (?, 'str_000000000001', 'run-bash', 'FAST_SCRIPT', '{}', 'queued', 600, ?, ?, ?)",
            (task_id, TS, TS, seq),
        )
    conn.execute("UPDATE tasks SET status = 'running', attempts = 1, started_at = ? WHERE id LIKE '%r'", (FUTURE,))
    conn.execute(
        "UPDATE tasks SET status = 'succeeded', attempts = 1, result = '{\"summary\":\"ok\"}', started_at = ?, "
        "finished_at = ? WHERE id LIKE '%s'",
        (TS, TS),
    )
    for task_id, (error, _) in FAILED.items():
        conn.execute(
            "UPDATE tasks SET status = 'failed', attempts = 1, error = ?, started_at = ?, finished_at = ? WHERE id = ?",
            (error, TS, TS, task_id),
        )
    conn.close()


def test_the_migration_records_each_old_failure_s_kind_and_leaves_everything_else_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    older_file(db)
    columns = task_columns(db)
    tasks_before = rows(db, f"SELECT {columns} FROM tasks ORDER BY seq")
    events_before = rows(db, "SELECT * FROM events ORDER BY seq")
    # what the old trigger made of them: the lower-case lookalike counted as auto-failed
    old_kinds = dict(rows(db, "SELECT subject_id, kind FROM events WHERE status = 'failed'"))
    assert old_kinds["tsk_0000000000e2"] == "task.auto_failed"

    queue = open_queue(db)

    assert rows(db, "PRAGMA user_version") == [(LATEST_VERSION,)]
    assert rows(db, f"SELECT {columns} FROM tasks ORDER BY seq") == tasks_before  # SPEC §2 columns as they were
    assert rows(db, "SELECT * FROM events ORDER BY seq") == events_before  # the backfill records no events
    facts = {
        task_id: (kind, error_type)
        for task_id, kind, error_type in rows(db, "SELECT id, failure_kind, error_type FROM tasks")
    }
    assert facts == {
        **{task_id: (None, None) for task_id in OTHERS},
        **{task_id: (kind, None) for task_id, (_, kind) in FAILED.items()},
    }
    # read back as facts: only the sweep's own message counts as auto-failed
    auto = {t.id for t in queue.list_tasks(status="failed").tasks if t.auto_failed}
    assert auto == {"tsk_0000000000a1", "tsk_0000000000a2"}
    assert queue.get_task("tsk_0000000000e3").error == "TestFailure: 3 tests fail"  # not split: a guess

    # the migrated file goes on: a report and the sweep each record their kind, and the feed names it
    clock = FakeClock(start=queue.now())
    later = open_queue(db, clock=clock)
    later.fail("tsk_00000000000r", AUTO_FAIL_MESSAGE.format(timeout=600), error_type="Copycat")
    claimed = later.claim("lane")
    assert claimed is not None and claimed.task.id == "tsk_00000000000q"
    clock.advance(2 * 600 + 1)
    (dead,) = later.sweep_dead()
    assert dead.id == "tsk_00000000000q" and dead.failure_kind is FailureKind.AUTO
    newest = max(int(str(row[0])) for row in events_before)
    assert rows(db, "SELECT kind, subject_id FROM events WHERE seq > ? ORDER BY seq", (newest,)) == [
        ("task.failed", "tsk_00000000000r"),
        ("task.claimed", "tsk_00000000000q"),
        ("task.auto_failed", "tsk_00000000000q"),
    ]
    assert rows(db, "SELECT failure_kind, error_type FROM tasks WHERE id = 'tsk_00000000000r'") == [
        ("error", "Copycat")
    ]


def test_the_feed_writes_exactly_the_kinds_of_event_kind_and_a_failure_s_event_follows_its_kind(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    queue: Queue = open_queue(tmp_path / "sparkq.db", clock=clock)
    queue.create_session("s")
    queue.describe_session("s", "changed")
    stream = queue.create_stream("a", "s").id
    queue.instruct_stream("a", "changed")
    done = queue.enqueue(stream, "run-bash", {}, timeout=10).id
    queue.claim_task(done)
    queue.heartbeat(done, "halfway")
    queue.complete(done, {"summary": "ok"})
    reported = queue.enqueue(stream, "run-bash", {}, timeout=10).id
    queue.claim_task(reported)
    queue.fail(reported, AUTO_FAIL_MESSAGE.format(timeout=10))  # the sweep's words, from a worker
    dead = queue.enqueue(stream, "run-bash", {}, timeout=10).id
    queue.claim_task(dead)
    clock.advance(21)
    assert [t.id for t in queue.sweep_dead()] == [dead]
    queue.requeue(dead)
    queue.end_stream("a")
    queue.end_session("s")

    db = tmp_path / "sparkq.db"
    written = {str(kind) for (kind,) in rows(db, "SELECT DISTINCT kind FROM events")}
    assert written == {kind.value for kind in EventKind}
    by_task = dict(rows(db, "SELECT subject_id, kind FROM events WHERE status = ?", (TaskStatus.FAILED.value,)))
    assert by_task == {
        reported: FAILURE_EVENTS[FailureKind.ERROR].value,
        dead: FAILURE_EVENTS[FailureKind.AUTO].value,
    }


def test_a_new_file_s_status_trigger_is_the_one_made_from_event_kinds(tmp_path: Path) -> None:
    """A change to the kinds without a migration that makes the trigger again fails here."""
    db = tmp_path / "sparkq.db"
    open_queue(db)
    (stored,) = rows(db, "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'events_task_status'")
    # SQLite keeps a statement's text without IF NOT EXISTS and its closing semicolon
    made = task_status_trigger().replace(" IF NOT EXISTS", "", 1).strip().removesuffix(";")
    assert stored == (made,)


def test_every_failure_kind_has_an_event_of_its_own_in_the_latest_trigger(tmp_path: Path) -> None:
    """A failure kind added without a migration that makes the trigger again would be recorded as a plain status."""
    db = tmp_path / "sparkq.db"
    open_queue(db)
    (trigger,) = rows(db, "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'events_task_status'")
    for kind in FailureKind:
        assert f"WHEN NEW.failure_kind = '{kind.value}' THEN '{FAILURE_EVENTS[kind].value}'" in str(trigger[0])
    assert "LIKE" not in str(trigger[0]).upper()  # nothing is read out of the error text
