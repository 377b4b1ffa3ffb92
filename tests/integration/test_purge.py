"""Purge on a real SQLite file: batches, other writers getting in between them, the change feed trimmed."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sparkq_adapters.clock import format_time
from sparkq_adapters.sqlite.changes import KEEP_EVENTS, ChangeFeed
from sparkq_adapters.sqlite.repository import DELETE_FINISHED, STREAM_PAGE
from sparkq_entry import open_queue
from tests.conftest import RunSparkq

WRITER = Path(__file__).with_name("purge_writer.py")
OLD = 30_000  # six purge batches of 5,000
INSERT = (
    "INSERT INTO tasks(id, stream_id, tool_name, task_class, payload, status, timeout, attempts, result, error, "
    "stdout, created_at, updated_at, started_at, finished_at, seq) "
    "VALUES (?, ?, 'run-bash', 'MEDIUM_SCRIPT', '{}', ?, 300, 1, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def fill_old(db: Path, count: int, now: datetime) -> None:
    """`count` tasks that finished two to ten days before `now`, over two streams, in one transaction."""
    conn = sqlite3.connect(db, isolation_level=None)
    lanes = [row[0] for row in conn.execute("SELECT id FROM streams ORDER BY name")]
    top = conn.execute("SELECT IFNULL(MAX(seq), 0) FROM tasks").fetchone()[0]
    step = timedelta(days=8) / count
    rows = []
    for n in range(count):
        done = now - timedelta(days=10) + step * n
        failed = n % 5 == 0
        rows.append(
            (
                f"tsk_old{n:09d}", lanes[n % 2], "failed" if failed else "succeeded",
                None if failed else '{"summary":"ok"}', "broke" if failed else None, "x" * 200,
                format_time(done - timedelta(seconds=30)), format_time(done), format_time(done - timedelta(seconds=20)),
                format_time(done), top + n + 1,
            )
        )  # fmt: skip
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(INSERT, rows)
    conn.execute("COMMIT")
    conn.close()


def project(workdir: Path) -> tuple[Path, dict[str, str]]:
    """sparkq.db in `workdir` with streams `lane-a`, `lane-b` (the old tasks) and `work` (the writer's)."""
    db = workdir / "sparkq.db"
    queue = open_queue(db)
    queue.create_session("s")
    ids = {name: queue.create_stream(name, "s").id for name in ("lane-a", "lane-b", "work")}
    return db, ids


def test_purge_runs_in_batches_that_let_another_process_write_in_between(sparkq: RunSparkq, workdir: Path) -> None:
    db, ids = project(workdir)
    queue = open_queue(db)
    queued = queue.enqueue("lane-a", "run-bash", {"waits": True}).id
    queue.enqueue("lane-b", "run-bash", {"runs": True}, timeout=3600)
    running = queue.claim("lane-b")
    assert running is not None
    queue.enqueue("lane-b", "run-bash", {"recent": True})
    recent = queue.claim("lane-b")
    assert recent is not None
    queue.complete(recent.task.id, {"summary": "just now"})
    now = datetime.now(UTC)
    fill_old(db, OLD, now)
    keep = {queued, running.task.id, recent.task.id}

    files = {name: workdir / f"writer-{name}" for name in ("ready", "stop", "out")}
    cutoff = format_time(now - timedelta(days=1))
    writer = subprocess.Popen([sys.executable, str(WRITER), str(db), "work", cutoff, *(str(p) for p in files.values())])
    try:
        deadline = time.monotonic() + 60
        while not files["ready"].exists():
            assert writer.poll() is None and time.monotonic() < deadline, "the writer did not start"
            time.sleep(0.02)
        done = sparkq("purge", "--older-than", "1d", timeout=120)
    finally:
        files["stop"].touch()
        writer.wait(timeout=60)
    assert writer.returncode == 0
    report = json.loads(files["out"].read_text())

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Deleted {OLD} finished task(s) older than 1d\n"
    # the other process never saw an error ("database is locked"), and it wrote while the purge was half-way
    assert report["errors"] == []
    assert report["cycles"] > 0
    assert any(0 < n < OLD for n in report["old_counts"]), report["old_counts"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM tasks WHERE id LIKE 'tsk_old%'").fetchone()[0] == 0
        left = {row[0] for row in conn.execute("SELECT id FROM tasks")}
        writers = conn.execute("SELECT COUNT(*) FROM tasks WHERE stream_id = ?", (ids["work"],)).fetchone()[0]
        assert writers == report["cycles"]  # each cycle's task is there, finished just now
    assert keep <= left
    conn.close()


def test_purge_also_trims_the_change_feed_to_the_newest_events_in_batches(workdir: Path) -> None:
    db, ids = project(workdir)
    conn = sqlite3.connect(db, isolation_level=None)
    before = conn.execute("SELECT MAX(seq) FROM events").fetchone()[0]
    extra = KEEP_EVENTS + 2_500 - before
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO events(kind, subject_id, stream_id, status) VALUES ('task.enqueued', ?, ?, 'queued')",
        ((f"tsk_{n:012x}", ids["work"]) for n in range(extra)),
    )
    conn.execute("COMMIT")
    last = conn.execute("SELECT MAX(seq) FROM events").fetchone()[0]

    assert open_queue(db).purge(timedelta(days=1), batch_size=100, pause=0) == 0

    assert conn.execute("SELECT COUNT(*), MIN(seq), MAX(seq) FROM events").fetchone() == (
        KEEP_EVENTS,
        last - KEEP_EVENTS + 1,
        last,
    )
    conn.close()


def test_the_servers_feed_prune_keeps_the_newest_events_deleting_a_batch_at_a_time(workdir: Path) -> None:
    db, _ = project(workdir)
    queue = open_queue(db)
    for n in range(30):
        queue.enqueue("work", "run-bash", {"n": n})
    conn = sqlite3.connect(db, isolation_level=None)
    total, last = conn.execute("SELECT COUNT(*), MAX(seq) FROM events").fetchone()
    feed = ChangeFeed(db)
    try:
        assert feed.prune(keep=10, batch=7, pause=0) == total - 10
        assert feed.prune(keep=10, batch=7, pause=0) == 0
    finally:
        feed.close()
    assert conn.execute("SELECT COUNT(*), MIN(seq) FROM events").fetchone() == (10, last - 9)
    conn.close()


def test_a_streams_page_and_a_purge_batch_use_their_indexes_rather_than_sorting(workdir: Path) -> None:
    db, ids = project(workdir)
    conn = sqlite3.connect(db)
    cutoff = "2026-01-01T00:00:00.000000Z"
    plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + DELETE_FINISHED, (cutoff, 2000)))
    assert "TEMP B-TREE" not in plan, plan
    # A stream's page walks the stream's queued and finished tasks in index order; what it sorts is only
    # the stream's running tasks (a few) and the page's own rows, never the stream's history.
    rows = list(conn.execute("EXPLAIN QUERY PLAN " + STREAM_PAGE[True], (ids["work"], 50, 0)))
    details = {node: detail for node, _, _, detail in rows}
    for _, parent, _, detail in rows:
        if "TEMP B-TREE" in detail:
            siblings = [d for _, p, _, d in rows if p == parent and d != detail]
            assert parent == 0 or siblings == ["SCAN tasks USING INDEX idx_tasks_running"], (details.get(parent), rows)
    plan = " | ".join(details.values())
    assert "SEARCH tasks USING INDEX idx_tasks_queued (stream_id=?)" in plan
    # succeeded, failed and cancelled: a seek each
    assert plan.count("SEARCH tasks USING COVERING INDEX idx_tasks_finished_status (status=? AND stream_id=?)") == 3
    assert "SCAN tasks " not in plan.replace("SCAN tasks USING INDEX idx_tasks_running", "")
    conn.close()
