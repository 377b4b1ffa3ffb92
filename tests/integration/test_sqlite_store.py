"""The SQLite store on real files: reopening, migrations, refusing foreign files, WAL, racing processes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sparkq_adapters.sqlite import SqliteStore
from sparkq_adapters.sqlite.schema import LATEST_VERSION, V1_CANONICAL
from sparkq_domain import StorageBusy, StorageCorrupt, StorageError, TaskQuery, TaskStatus
from sparkq_domain.errors import Duplicate
from sparkq_entry.wiring import open_queue

from .schema_support import TS, add_project_and_session


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def journal_mode(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        conn.close()


def test_reopening_the_file_shows_everything_written_before(tmp_path: Path) -> None:
    db = tmp_path / "sparkq.db"
    first = open_queue(db, project="demo")
    first.create_session("api-v2")
    first.create_stream("auth", "api-v2", instructions="Add login")
    queued = first.enqueue("auth", "run-bash", {"script": "a.sh", "note": "ünïcode ✓"})
    running = first.enqueue("auth", "run-bash", {"script": "b.sh"})
    assert first.claim("auth") is not None
    first._store.close()

    again = open_queue(db, project="other-name")
    assert again.project() is not None and again.project().name == "demo"
    assert again.get_task(queued.id).status is TaskStatus.RUNNING
    assert again.get_task(running.id).status is TaskStatus.QUEUED
    assert again.get_task(queued.id).payload == {"script": "a.sh", "note": "ünïcode ✓"}
    assert again.get_stream("auth").instructions == "Add login"
    claimed = again.claim("auth")
    assert claimed is not None and claimed.task.id == running.id


def test_an_empty_file_is_migrated_to_the_latest_schema(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    queue = open_queue(db)
    queue.create_session("s")
    queue.create_stream("st", "s")
    queue.enqueue("st", "run-bash", {})
    assert user_version(db) == LATEST_VERSION
    assert journal_mode(db) == "wal"


def test_a_version_1_database_is_migrated_keeping_fifo_order_of_tied_timestamps(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    conn = sqlite3.connect(db)
    conn.executescript(V1_CANONICAL)
    conn.execute("PRAGMA user_version = 1")
    add_project_and_session(conn)
    conn.execute(
        "INSERT INTO streams(id, session_id, name, instructions, status, created_at, updated_at) "
        "VALUES ('str_000000000001', 'ses_000000000001', 'lane', 'old rules', 'active', ?, ?)",
        (TS, TS),
    )
    # all tied on created_at, ids deliberately out of order: only insertion order tells them apart
    legacy_order = ["tsk_00000000000c", "tsk_00000000000a", "tsk_00000000000d", "tsk_00000000000b"]
    for task_id in legacy_order:
        conn.execute(
            "INSERT INTO tasks(id, stream_id, tool_name, task_class, payload, status, timeout, attempts, "
            "created_at, updated_at) VALUES (?, 'str_000000000001', 'run-bash', 'FAST_SCRIPT', '{\"k\": 1}', "
            "'queued', 30, 0, ?, ?)",
            (task_id, TS, TS),
        )
    conn.commit()
    conn.close()

    queue = open_queue(db)
    newcomer = queue.enqueue("lane", "run-bash", {"new": True})
    claimed = []
    while (c := queue.claim("lane")) is not None:
        claimed.append(c.task.id)
    assert claimed == [*legacy_order, newcomer.id]
    assert user_version(db) == LATEST_VERSION
    with sqlite3.connect(db) as raw:
        seqs = [row[0] for row in raw.execute("SELECT id FROM tasks ORDER BY seq")]
    assert seqs == [*legacy_order, newcomer.id]


def test_a_database_from_a_newer_sparkq_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE future(x)")
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    before = db.read_bytes()
    store = SqliteStore(db)
    expected = rf"newer SparkQ \(schema {LATEST_VERSION + 1}, this one knows {LATEST_VERSION}\).*upgrade SparkQ"
    with pytest.raises(StorageError, match=expected):
        with store.read() as repo:
            repo.get_project()
    assert db.read_bytes() == before
    assert user_version(db) == LATEST_VERSION + 1


@pytest.mark.parametrize(
    "content",
    [b"this is my shopping list, not a database\n" * 20, b"\x00" * 4096, b"SQLite format 2\x00" + b"x" * 200],
)
def test_a_file_that_is_not_sqlite_raises_storage_corrupt_and_stays_byte_identical(
    tmp_path: Path, content: bytes
) -> None:
    db = tmp_path / "notes.db"
    db.write_bytes(content)
    with pytest.raises(StorageCorrupt, match="is not a SQLite database"):
        open_queue(db)
    with pytest.raises(StorageCorrupt), SqliteStore(db).write() as repo:
        repo.get_project()
    assert db.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]  # no -wal / -shm left behind


def test_the_database_runs_in_wal_mode_with_foreign_keys_on(tmp_path: Path) -> None:
    db = tmp_path / "sparkq.db"
    store = SqliteStore(db)
    with store.read() as repo:
        assert repo.get_project() is None
    assert journal_mode(db) == "wal"
    conn = store.connection()
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


# -- several processes on one file ------------------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import json, sys, time, traceback
    from pathlib import Path
    from sparkq_entry.wiring import open_queue

    db, go, mode, ready = sys.argv[1], Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    claimed, errors = [], []
    try:
        queue = open_queue(db) if mode == "claim" else None
        ready.touch()
        while not go.exists():
            time.sleep(0.001)
        if queue is not None:
            while True:
                try:
                    got = queue.claim("race")
                except Exception:
                    errors.append(traceback.format_exc())
                    if len(errors) > 20:
                        break
                    continue
                if got is None:
                    break
                claimed.append(got.task.id)
                queue.complete(got.task.id, {"summary": "done by " + str(len(claimed))})
        else:
            queue = open_queue(db)
            claimed.append(queue.ensure_project("race").id)
            queue.status_counts()
    except Exception:
        errors.append(traceback.format_exc())
    print(json.dumps({"claimed": claimed, "errors": errors}))
    """
)


def run_workers(db: Path, go: Path, modes: list[str], timeout: float = 60) -> list[dict[str, list[str]]]:
    """Start one process per mode, release them together once all are ready, and return their JSON reports."""
    ready = [go.with_name(f"ready-{n}") for n in range(len(modes))]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(db), str(go), mode, str(flag)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode, flag in zip(modes, ready, strict=True)
    ]
    reports = []
    try:
        deadline = time.monotonic() + timeout
        # every interpreter started (and has its connection, when claiming), so the race really is a race
        while not all(flag.exists() for flag in ready):
            assert time.monotonic() < deadline, "the workers did not start"
            if any(proc.poll() is not None for proc in procs):
                break  # a worker gave up while starting: its report says why
            time.sleep(0.01)
        go.touch()
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, err
            reports.append(json.loads(out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return reports


@pytest.mark.slow
def test_four_processes_claim_two_thousand_tasks_each_exactly_once_without_busy_errors(tmp_path: Path) -> None:
    db = tmp_path / "race.db"
    queue = open_queue(db)
    queue.create_session("s")
    queue.create_stream("race", "s")
    enqueued = [queue.enqueue("race", "run-bash-fast", {"n": n}).id for n in range(2000)]

    reports = run_workers(db, tmp_path / "go", ["claim"] * 4)

    errors = [e for r in reports for e in r["errors"]]
    assert errors == [], errors[0] if errors else ""
    claimed = [task_id for r in reports for task_id in r["claimed"]]
    assert len(claimed) == len(set(claimed)), "a task was claimed twice"
    assert set(claimed) == set(enqueued), "a task was lost"
    assert sum(1 for r in reports if r["claimed"]) >= 2, "the workers did not overlap at all"
    for r in reports:  # each worker saw its own claims in FIFO order
        assert r["claimed"] == sorted(r["claimed"], key=enqueued.index)
    page = queue.list_tasks(status=TaskStatus.SUCCEEDED, limit=None)
    assert page.total == 2000
    with queue._store.read() as repo:
        assert all(t.attempts == 1 for t in repo.list_tasks(TaskQuery(limit=None)))


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_six_processes_opening_a_fresh_database_at_once_all_succeed(tmp_path: Path, attempt: int) -> None:
    db = tmp_path / "fresh.db"
    db.touch()  # a 0-byte file: every worker tries to switch it to WAL and migrate it at the same moment
    reports = run_workers(db, tmp_path / "go", ["open"] * 6)
    assert [e for r in reports for e in r["errors"]] == []
    assert len({r["claimed"][0] for r in reports}) == 1, "every process must see the one project row"
    assert user_version(db) == LATEST_VERSION
    assert journal_mode(db) == "wal"


def test_the_sweep_inside_a_claim_reads_candidates_through_indexes_not_every_running_task(tmp_path: Path) -> None:
    from sparkq_adapters.sqlite.repository import SELECT_SWEEP_CANDIDATES

    queue = open_queue(tmp_path / "sparkq.db")
    queue.create_session("s")
    queue.create_stream("a", "s")
    for _ in range(50):
        queue.enqueue("a", "run-bash", {"script": "x.sh"}, timeout=3600)
        assert queue.claim("a") is not None  # 50 running tasks, none near their deadline
    conn = sqlite3.connect(tmp_path / "sparkq.db")
    try:
        plan = " ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + SELECT_SWEEP_CANDIDATES, (TS,)))
        # range seeks per timeout on the last sign of life (an expression of start and heartbeat): the dead
        # (last alive long enough ago) and those last alive after now
        for seek in ("(timeout=? AND <expr><?)", "(timeout=? AND <expr>>?)"):
            assert f"USING INDEX idx_tasks_running {seek}" in plan, plan
        assert "SCAN tasks" not in plan, plan
    finally:
        conn.close()


def test_a_write_lock_held_by_another_connection_is_reported_as_busy_naming_the_wait(tmp_path: Path) -> None:
    db = tmp_path / "sparkq.db"
    open_queue(db)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program's write transaction: SQLite's lock, not our queue's
    store = SqliteStore(db, busy_timeout_ms=50)
    try:
        with pytest.raises(StorageBusy, match=rf"{db} is locked by another process \(waited 50 ms\)"):
            with store.write() as repo:
                repo.get_project()
        with store.read() as repo:  # readers go on beside the writer
            assert repo.get_project() is not None
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        store.close()


def test_a_constraint_that_only_mentions_unique_is_not_taken_for_a_duplicate(tmp_path: Path) -> None:
    from sparkq_adapters.sqlite.repository import SqliteRepository

    conn = sqlite3.connect(tmp_path / "other.db", isolation_level=None)
    conn.execute("CREATE TABLE t (id TEXT PRIMARY KEY, note TEXT CONSTRAINT \"UNIQUE note\" CHECK (note != 'taken'))")
    repo = SqliteRepository(conn)
    try:
        repo._insert("INSERT INTO t VALUES (?, ?)", ("a", "x"), "Row a")
        with pytest.raises(Duplicate, match="Row a already exists"):
            repo._insert("INSERT INTO t VALUES (?, ?)", ("a", "y"), "Row a")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed: UNIQUE note"):
            repo._insert("INSERT INTO t VALUES (?, ?)", ("b", "taken"), "Row b")
    finally:
        conn.close()


def test_a_folder_named_as_the_database_is_refused_as_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    with pytest.raises(StorageError) as refused, SqliteStore(folder).read() as repo:
        repo.get_project()
    assert refused.value.message == (
        f"The database path {folder} is a folder, not a file; set database.path in sparkq.yml to a file, "
        f"e.g. {folder / 'sparkq.db'}"
    )
    assert list(folder.iterdir()) == []


def test_a_database_sqlite_cannot_open_is_named_with_what_to_check(tmp_path: Path) -> None:
    link = tmp_path / "sparkq.db"
    link.symlink_to(tmp_path / "gone" / "sparkq.db")  # SQLite follows it into a folder that is not there
    with pytest.raises(StorageError) as refused, SqliteStore(link).read() as repo:
        repo.get_project()
    assert refused.value.message == (f"Cannot open the database {link}; check that its folder exists and is writable")
