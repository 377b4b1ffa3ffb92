"""Disk full, I/O errors, locked and damaged databases (issue 7, items 3 and 4).

Real files on a real small file system (a 2 MiB tmpfs; RLIMIT_FSIZE where we may not mount), the
real console script and a real `sparkq run` as subprocesses. The test process never opens a
database file nor keeps a connection: builders, damagers and hashes run in other processes
(`storage_support`).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sparkq_domain import StorageCorrupt
from sparkq_entry.wiring import open_queue
from tests.integration.conftest import Server, free_port, wait_for

from .cli_support import ok, refused
from .http_support import local_api, server_log
from .storage_support import (
    SmallDisk,
    build_db,
    commit_in_wal_and_crash,
    copy_page_one_from_wal,
    db_facts,
    overwrite_root_pages,
    python_script,
    read_only,
    run_sparkq,
    small_disk,
    snapshot,
    write_lock_held,
)

BIG_OUTPUT = "z" * 300_000  # far more than a full disk has room for
PAGE = 4096


def configure(workdir: Path, db: Path, *, busy_timeout_ms: int | None = None) -> None:
    """A sparkq.yml in `workdir` that puts the database at `db`."""
    lines = ["database:", f"  path: {json.dumps(str(db))}"]
    if busy_timeout_ms is not None:
        lines.append(f"  busy_timeout_ms: {busy_timeout_ms}")
    (workdir / "sparkq.yml").write_text("\n".join(lines) + "\n")


def assert_api_error(response: httpx.Response, status: int, code: str, *fragments: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (status, code)
    for fragment in fragments:
        assert fragment in error["message"], error["message"]
    return str(error["message"])


def start_server(workdir: Path) -> subprocess.CompletedProcess[str]:
    """`sparkq run`, which must exit by itself (refusing to start); a server that serves fails the test."""
    try:
        return run_sparkq("run", "--port", str(free_port()), cwd=workdir, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("sparkq run started serving: it must refuse to start on a damaged database")


def running_task(tasks: list[dict[str, Any]]) -> str:
    return next(t["id"] for t in tasks if t["status"] == "running")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with small_disk(tmp_path) as small:
        yield small


# -- item 3: disk full -----------------------------------------------------------------------------


def test_a_full_disk_refuses_cli_writes_cleanly_keeps_reads_and_takes_writes_again_once_freed(
    disk: SmallDisk, workdir: Path, tmp_path: Path
) -> None:
    db = disk.folder / "sparkq.db"
    build_db(db, 3, claim=1, keep_wal=True)
    configure(workdir, db)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_sparkq(*args, cwd=workdir, preexec=disk.preexec())

    running = running_task(json.loads(ok(cli("tasks", "--json"))))
    big = tmp_path / "stdout.log"
    big.write_text(BIG_OUTPUT)
    before = db_facts(db)
    disk.fill()

    message = refused(cli("enqueue", "run-bash", '{"n": 99}', "--stream", "auth"))
    assert disk.full_words in message and str(db) in message
    assert "nothing was written" in message and "try again" in message
    for report in (("complete", running, "--result", '{"summary": "done"}'), ("fail", running, "--error", "boom")):
        message = refused(cli(*report, "--stdout-file", str(big)))
        assert disk.full_words in message and str(db) in message
    # nothing partial: no task row, no event row, the running task still running, the file sound
    assert db_facts(db) == before and before["integrity"] == "ok"

    # reads go on while the disk is full
    listed = json.loads(ok(cli("tasks", "--json")))
    assert len(listed) == 3
    assert json.loads(ok(cli("peek", "--stream", "auth")))["status"] == "queued"
    assert json.loads(ok(cli("task", running, "--json")))["status"] == "running"

    disk.free()
    assert ok(cli("enqueue", "run-bash", '{"n": 99}', "--stream", "auth")).startswith("tsk_")
    ok(cli("complete", running, "--result", '{"summary": "done"}', "--stdout-file", str(big)))
    after = db_facts(db)
    assert after["tasks"] == 4 and after["statuses"] == {"queued": 3, "succeeded": 1}
    assert after["integrity"] == "ok"


def test_a_full_disk_answers_507_with_retry_after_and_the_same_server_takes_writes_once_freed(
    disk: SmallDisk, workdir: Path
) -> None:
    db = disk.folder / "sparkq.db"
    build_db(db, 3, claim=1, keep_wal=True)
    configure(workdir, db)
    server = Server(workdir, free_port())
    try:
        disk.limit_process(server.proc.pid)
        with server.client() as api:
            running = running_task(api.get("/api/tasks").json()["tasks"])
            new_task = {"stream_id": "auth", "tool_name": "run-bash", "payload": {"n": 99}}
            done = {"result": {"summary": "done"}, "stdout": BIG_OUTPUT}
            before = db_facts(db)
            disk.fill()

            refused_enqueue = api.post("/api/tasks", json=new_task)
            assert_api_error(refused_enqueue, 507, "disk_full", disk.full_words, str(db), "nothing was written")
            assert refused_enqueue.headers["retry-after"].isdigit()
            refused_complete = api.post(f"/api/tasks/{running}/complete", json=done)
            assert_api_error(refused_complete, 507, "disk_full", disk.full_words)
            assert "retry-after" in refused_complete.headers

            listed = api.get("/api/tasks")
            assert listed.status_code == 200 and listed.json()["total"] == 3
            assert api.get(f"/api/tasks/{running}").json()["task"]["status"] == "running"
            assert api.get("/api/streams/auth/peek").status_code == 200
            assert db_facts(db) == before

            disk.free()
            assert api.post("/api/tasks", json=new_task).status_code == 201
            completed = api.post(f"/api/tasks/{running}/complete", json=done)
            assert completed.status_code == 200 and completed.json()["task"]["status"] == "succeeded"
        assert server.proc.poll() is None, "the server must not have restarted or died"
        assert db_facts(db)["statuses"] == {"queued": 3, "succeeded": 1}
    finally:
        server.stop()
    assert "Traceback" not in server.output()


def test_a_write_past_the_file_size_limit_names_the_limit_not_a_generic_storage_error(workdir: Path) -> None:
    # EFBIG (RLIMIT_FSIZE) reaches SQLite as SQLITE_IOERR_WRITE ("disk I/O error"), not SQLITE_FULL
    db = workdir / "sparkq.db"
    build_db(db, 3, keep_wal=True)
    limit = (db.parent / "sparkq.db-wal").stat().st_size

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    message = refused(run_sparkq("enqueue", "run-bash", "{}", "--stream", "auth", cwd=workdir, preexec=limited))
    assert f"file-size limit ({limit} bytes, `ulimit -f`)" in message and str(db) in message
    assert "ulimit -f unlimited" in message and "Database error" not in message
    assert db_facts(db)["tasks"] == 3
    assert ok(run_sparkq("enqueue", "run-bash", "{}", "--stream", "auth", cwd=workdir)).startswith("tsk_")


# -- item 4: a lock held past the busy timeout --------------------------------------------------------


def test_a_write_lock_held_by_another_process_is_a_bounded_clear_cli_error(workdir: Path) -> None:
    db = workdir / "sparkq.db"
    build_db(db, 2)
    configure(workdir, db, busy_timeout_ms=300)
    with write_lock_held(db):
        for args in (
            ("enqueue", "run-bash", "{}", "--stream", "auth"),
            ("claim", "--stream", "auth"),
            ("claim", "--stream", "auth", "--wait", "2"),
        ):
            # the generous timeout only catches a hang; the busy timeout (300 ms) bounds the wait
            message = refused(run_sparkq(*args, cwd=workdir, timeout=30))
            assert f"The database {db} is locked by another process (waited 300 ms)" in message
            assert "try again" in message and "busy_timeout_ms" in message
        assert len(json.loads(ok(run_sparkq("tasks", "--json", cwd=workdir, timeout=30)))) == 2
    assert ok(run_sparkq("enqueue", "run-bash", "{}", "--stream", "auth", cwd=workdir)).startswith("tsk_")
    assert db_facts(db)["tasks"] == 3


def test_a_write_lock_held_by_another_process_is_503_with_retry_after_never_a_hang(workdir: Path) -> None:
    db = workdir / "sparkq.db"
    build_db(db, 2)
    configure(workdir, db, busy_timeout_ms=300)
    server = Server(workdir, free_port())
    try:
        with server.client() as api, write_lock_held(db):
            new_task = {"stream_id": "auth", "tool_name": "run-bash", "payload": {}}
            for response in (
                api.post("/api/tasks", json=new_task),
                api.post("/api/streams/auth/claim"),
                api.post("/api/streams/auth/claim", params={"wait": 2}),
            ):
                assert_api_error(response, 503, "database_busy", str(db), "locked by another process")
                assert response.headers["retry-after"].isdigit()
            assert api.get("/api/tasks").json()["total"] == 2
        with server.client() as api:
            assert api.post("/api/tasks", json=new_task).status_code == 201
    finally:
        server.stop()


# -- issue 12, item 10: a read-only file --------------------------------------------------------------


def test_a_read_only_database_is_503_without_retry_after_and_one_purge_line_in_the_log(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = workdir / "sparkq.db"
    build_db(db, 3)
    new_task = {"stream_id": "auth", "tool_name": "run-bash", "payload": {}}
    with read_only(db), server_log(caplog), local_api(workdir) as api:
        # it stays read-only until someone changes it: asking clients to retry would only add load
        for response in (api.post("/api/tasks", json=new_task), api.post("/api/sessions", json={"name": "s2"})):
            assert_api_error(response, 503, "storage_error", f"The database {db} is read-only", "permissions")
            assert "retry-after" not in response.headers
        assert api.get("/api/tasks").json()["total"] == 3  # reads go on
        # the purge at start could not write either: one line saying why, not a traceback
        assert wait_for(lambda: any("purge" in r.getMessage() for r in caplog.records), timeout=15)
    [purge] = [r for r in caplog.records if "purge" in r.getMessage()]
    assert purge.levelno == logging.WARNING and "is read-only" in purge.getMessage()
    assert not [r for r in caplog.records if r.exc_info], "no traceback for a storage problem"
    assert "Traceback" not in caplog.text


# -- item 4: damaged files ----------------------------------------------------------------------------


def _not_a_database(db: Path) -> None:
    db.write_text("my shopping list, not a database\n" * 50)


def _truncated_to_half(db: Path) -> None:
    build_db(db, 300)
    os.truncate(db, db.stat().st_size // 2 // PAGE * PAGE)


def _truncated_mid_page(db: Path) -> None:
    build_db(db, 300)
    os.truncate(db, db.stat().st_size - 1000)


def _truncated_behind_its_wal(db: Path) -> None:
    # SQLite checks its page count against the WAL here, not against the file
    build_db(db, 300)
    commit_in_wal_and_crash(db, 40)
    os.truncate(db, db.stat().st_size // 2 // PAGE * PAGE)


def _emptied_with_wal(db: Path) -> None:
    build_db(db, 100)
    commit_in_wal_and_crash(db, 20)
    os.truncate(db, 0)


def _wal_deleted_after_a_crash(db: Path) -> None:
    build_db(db, 100)
    commit_in_wal_and_crash(db, 30)
    (db.parent / "sparkq.db-wal").unlink()


def _of_another_program(db: Path) -> None:
    python_script(
        """
        import sqlite3, sys
        conn = sqlite3.connect(sys.argv[1])
        conn.execute("CREATE TABLE notes(x)")
        conn.commit()
        conn.close()
        """,
        str(db),
    )


DAMAGE = {
    # kind: (make it, what the message says, what it advises)
    "not-a-database": (_not_a_database, "is not a SQLite database", "move it away"),
    "truncated-to-half": (_truncated_to_half, "is damaged (database disk image is malformed)", "restore it from a"),
    "truncated-mid-page": (_truncated_mid_page, "not a whole number of its 4096-byte pages", "restore it from a"),
    "truncated-behind-its-wal": (_truncated_behind_its_wal, "are not in its write-ahead log", "restore it from a"),
    "emptied-with-its-wal": (_emptied_with_wal, "is empty but its write-ahead log", "restore sparkq.db from a"),
    "wal-deleted-after-a-crash": (_wal_deleted_after_a_crash, "has lost its write-ahead log", "delete "),
    "of-another-program": (_of_another_program, "the SQLite database of another program", "point database.path"),
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_database_is_refused_at_every_entry_point_and_never_written(workdir: Path, kind: str) -> None:
    damage, problem, advice = DAMAGE[kind]
    db = workdir / "sparkq.db"
    damage(db)
    before = snapshot(db)

    results = {
        "run": start_server(workdir),
        "tasks": run_sparkq("tasks", cwd=workdir),
        "enqueue": run_sparkq("enqueue", "run-bash", "{}", "--stream", "auth", cwd=workdir),
        "peek": run_sparkq("peek", "--stream", "auth", cwd=workdir),  # the fast path: no Cyclopts
    }
    for command, result in results.items():
        message = refused(result)  # exit 1, one `Error: …`, no traceback
        assert problem in message and advice in message, f"{command}: {message}"
        assert str(db) in message, f"{command} must name the file: {message}"
    assert "running at" not in results["run"].stdout, "the server must refuse to start, not serve errors"
    with pytest.raises(StorageCorrupt, match="SparkQ will not") as refusal:
        open_queue(db)
    assert str(db) in refusal.value.message

    after = snapshot(db)
    assert after["sparkq.db"] == before["sparkq.db"], "the database file was written"
    assert sorted(after) == sorted(before), "-wal / -shm files were left behind or removed"
    if "sparkq.db-wal" in before:
        assert after["sparkq.db-wal"] == before["sparkq.db-wal"], "the WAL was written"
    if kind == "wal-deleted-after-a-crash":
        # refused before any connection: the -shm, the only record of the lost WAL, is untouched
        assert after["sparkq.db-shm"] == before["sparkq.db-shm"]
    assert not (workdir / "sparkq.lock").exists()


def test_damage_found_while_serving_is_503_database_damaged_without_retry_after(workdir: Path) -> None:
    db = workdir / "sparkq.db"
    build_db(db, 300)
    server = Server(workdir, free_port())
    try:
        os.truncate(db, db.stat().st_size // 2 // PAGE * PAGE)  # under the running server
        with server.client() as api:
            for response in (
                api.get("/api/tasks", params={"limit": 1000, "full": True}),
                api.post("/api/tasks", json={"stream_id": "auth", "tool_name": "run-bash", "payload": {}}),
            ):
                assert_api_error(response, 503, "database_damaged", str(db), "restore it from a backup")
                assert "retry-after" not in response.headers  # retrying cannot help
    finally:
        server.stop()


# -- issue 12, item 14: damage anywhere in the file -------------------------------------------------------

SESSIONS_TABLE = "type = 'table' AND name = 'sessions'"  # page 4 of today's schema
TASKS_INDEXES = "type = 'index' AND tbl_name = 'tasks'"  # every insert into tasks goes through each


@pytest.mark.parametrize("where", [SESSIONS_TABLE, TASKS_INDEXES], ids=["a-table-page", "index-pages"])
def test_random_bytes_over_a_page_are_found_before_the_server_serves_and_never_written(
    workdir: Path, where: str
) -> None:
    db = workdir / "sparkq.db"
    build_db(db, 300)
    overwrite_root_pages(db, where)  # size, header and page count stay right: the open checks pass
    before = snapshot(db)

    result = start_server(workdir)
    message = refused(result)  # exit 1, one `Error: …`, no traceback
    assert f"The database {db} is damaged" in message and "restore it from a backup" in message, message
    assert "sqlite3 shell's `.recover`" in message
    assert f"Checking the database {db} (about a second per GB) …" in result.stdout
    assert "running at" not in result.stdout, "the server must refuse to start, not serve errors"
    assert snapshot(db) == before, "the database was written, or -wal / -shm files were left behind"
    assert not (workdir / "sparkq.lock").exists()


def test_damage_met_while_serving_refuses_every_later_write_with_the_recovery_advice(workdir: Path) -> None:
    db = workdir / "sparkq.db"
    build_db(db, 300)
    new_task = {"stream_id": "auth", "tool_name": "run-bash", "payload": {}}
    with local_api(workdir) as api:  # the file was sound at start
        overwrite_root_pages(db, TASKS_INDEXES)  # then damaged under the running server
        before = snapshot(db)
        # SQLite meets the damaged index (SQLITE_CORRUPT) while adding the task
        damaged = api.post("/api/tasks", json=new_task)
        message = assert_api_error(damaged, 503, "database_damaged", f"The database {db} is damaged")
        assert "restore it from a backup" in message and "retry-after" not in damaged.headers
        # from then on nothing is written into the file, not even what would not touch a damaged page
        for response in (api.post("/api/sessions", json={"name": "s2"}), api.put("/api/streams/auth/end")):
            assert_api_error(response, 503, "database_damaged", "restore it from a backup")
            assert response.json()["error"]["message"] == message and "retry-after" not in response.headers
        assert api.get("/api/sessions").json()["sessions"][0]["name"] == "s"  # what can be read still is
        after = snapshot(db)
    assert after["sparkq.db"] == before["sparkq.db"], "a write reached the damaged file"
    assert after.get("sparkq.db-wal") == before.get("sparkq.db-wal"), "a write reached its write-ahead log"


def test_deleting_the_shm_as_advised_opens_the_database_as_its_main_file_has_it(workdir: Path) -> None:
    db = workdir / "sparkq.db"
    build_db(db, 100)
    commit_in_wal_and_crash(db, 30)
    (workdir / "sparkq.db-wal").unlink()
    message = refused(run_sparkq("tasks", cwd=workdir))
    assert f"delete {workdir / 'sparkq.db-shm'}" in message

    (workdir / "sparkq.db-shm").unlink()
    assert ok(run_sparkq("enqueue", "run-bash", "{}", "--stream", "auth", cwd=workdir)).startswith("tsk_")
    facts = db_facts(db)
    assert facts["tasks"] == 101 and facts["integrity"] == "ok"  # the 30 in the lost WAL are gone


# -- healthy files with a WAL: no false alarms ----------------------------------------------------------


def _grown_in_its_wal(db: Path) -> int:
    build_db(db, 50)
    commit_in_wal_and_crash(db, 150)  # the new pages are in the WAL only: the file is shorter than the database
    return 200


def _checkpoint_under_way(db: Path) -> int:
    build_db(db, 50)
    commit_in_wal_and_crash(db, 150)
    pages = copy_page_one_from_wal(db)
    assert pages * PAGE > db.stat().st_size  # the file's own header now counts pages only the WAL holds
    return 200


def _wal_deleted_after_a_checkpoint(db: Path) -> int:
    build_db(db, 50)
    commit_in_wal_and_crash(db, 30, checkpointed=True)
    (db.parent / "sparkq.db-wal").unlink()  # everything was copied back: nothing is lost
    return 80


HEALTHY = {
    "grown-in-its-wal": _grown_in_its_wal,
    "checkpoint-under-way": _checkpoint_under_way,
    "wal-deleted-after-a-checkpoint": _wal_deleted_after_a_checkpoint,
}


@pytest.mark.parametrize("kind", HEALTHY)
def test_a_healthy_database_with_a_wal_opens_with_everything_in_it(workdir: Path, kind: str) -> None:
    db = workdir / "sparkq.db"
    expected = HEALTHY[kind](db)
    listed = ok(run_sparkq("tasks", "--limit", "1", cwd=workdir))
    assert f"of {expected} tasks" in listed
    assert ok(run_sparkq("enqueue", "run-bash", "{}", "--stream", "auth", cwd=workdir)).startswith("tsk_")
    facts = db_facts(db)
    assert facts["tasks"] == expected + 1 and facts["integrity"] == "ok"
