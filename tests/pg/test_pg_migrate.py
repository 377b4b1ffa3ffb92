"""`sparkq migrate --to URL|PATH`: a SQLite database to PostgreSQL and back, row for row, FIFO kept, targets checked."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sparkq_adapters.clock import RandomIds
from sparkq_adapters.postgres import PostgresStore
from sparkq_adapters.sqlite import SqliteStore
from sparkq_domain import Queue, Store, TaskQuery, TaskStatus
from tests.fakes import FakeClock
from tests.integration.cli_support import ok, refused
from tests.postgres_support import PASSWORD, Cluster

if TYPE_CHECKING:
    from tests.conftest import RunSparkq


@contextmanager
def _queue(store: Store, clock: FakeClock) -> Iterator[Queue]:
    queue = Queue(store, clock, RandomIds())
    queue.ensure_project("demo", "/src/demo", "/src/demo/PRD.md")
    try:
        yield queue
    finally:
        store.close()  # type: ignore[attr-defined]


def _every_kind_of_task(queue: Queue, clock: FakeClock) -> None:
    """Tasks in every status, with lineage, a cancellation, an auto-failure, heartbeats and failure facts."""
    queue.create_session("api-v2", "the second API")
    queue.create_stream("auth", "api-v2", "Add login; done when tests pass")
    queue.create_stream("docs", "api-v2")
    queue.create_session("old")
    queue.create_stream("legacy", "old", "retired")
    queue.enqueue("legacy", "run-bash", {"n": 0})
    queue.end_session("old")  # an ended session and stream; its queued task is cancelled, and stays in history

    done = queue.enqueue("auth", "run-bash", {"script": "a.sh"})
    queue.claim("auth")
    queue.complete(done.id, {"summary": "built", "files": 3}, stdout="out\n", stderr="warn\n")
    failed = queue.enqueue("auth", "run-bash", {"script": "b.sh"}, timeout=45)
    queue.claim("auth")
    queue.fail(failed.id, "tests failed", error_type="TestFailure", stdout="F..", stderr="trace")
    queue.requeue(failed.id)  # lineage: requeued_to on the original, requeued_from on the copy
    dying = queue.enqueue("docs", "run-bash", {"script": "c.sh"}, timeout=5)
    queue.claim("docs")
    clock.advance(11)  # past twice its timeout
    assert [t.id for t in queue.sweep_dead()] == [dying.id]  # auto-failed (failure_kind)
    cancelled = queue.enqueue("docs", "run-bash", {"script": "d.sh"})
    queue.cancel(cancelled.id, "not needed")
    running = queue.enqueue("docs", "run-bash", {"script": "e.sh"}, timeout=600)
    queue.claim("docs")
    clock.advance(1)
    queue.heartbeat(running.id, "half way")
    for n in range(3):
        queue.enqueue("auth", "run-bash", {"queued": n})


def _contents(store: Store) -> dict[str, Any]:
    """Everything the repositories read back: project, sessions, streams, and every task, oldest first."""
    with store.read() as repo:
        return {
            "project": repo.get_project(),
            "sessions": list(repo.list_sessions()),
            "streams": list(repo.list_streams()),
            "tasks": list(repo.list_tasks(TaskQuery(limit=None, newest_first=False))),
        }


def _tasks(db: Path, ids: list[str]) -> list[Any]:
    store = SqliteStore(db)
    try:
        with store.read() as repo:
            return [repo.get_task(i) for i in ids]
    finally:
        store.close()


def _events(conn: Any, table: str = "events") -> int:
    return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


pytestmark = pytest.mark.in_process


def test_sqlite_to_postgresql_and_back_keeps_every_row(sparkq: RunSparkq, pg_url: str, workdir: Path) -> None:
    clock = FakeClock()
    with _queue(SqliteStore(workdir / "sparkq.db"), clock) as queue:
        _every_kind_of_task(queue, clock)
    original = _contents(SqliteStore(workdir / "sparkq.db"))
    statuses = {t.status for t in original["tasks"]}
    assert statuses == set(TaskStatus)
    assert any(t.failure_kind is not None for t in original["tasks"])
    assert any(t.requeued_to is not None for t in original["tasks"])

    there = sparkq("migrate", "--to", pg_url)
    out = ok(there)
    assert "Copied 1 project, 2 sessions, 3 streams, 10 tasks" in out
    statuses = "cancelled 2, failed 2, queued 4, running 1, succeeded 1"
    assert f"Verified: the same rows per table, and tasks per status ({statuses})" in out
    assert PASSWORD not in out + there.stderr

    pg = PostgresStore(pg_url)
    try:
        assert _contents(pg) == original
        with pg.connect() as conn:
            assert _events(conn) == 0  # the change feed is not history: the target starts a fresh one
    finally:
        pg.close()

    back = workdir / "back" / "copy.db"
    back.parent.mkdir()
    ok(sparkq("migrate", "--to", str(back), env={"SPARKQ_DATABASE_URL": pg_url}))
    assert _contents(SqliteStore(back)) == original
    with sqlite3.connect(back) as conn:
        assert _events(conn) == 0


def test_claims_after_the_migration_keep_the_old_fifo_and_new_tasks_come_after(
    sparkq: RunSparkq, pg_url: str, workdir: Path
) -> None:
    clock = FakeClock()
    with _queue(SqliteStore(workdir / "sparkq.db"), clock) as queue:
        queue.create_session("s")
        queue.create_stream("a", "s")
        queue.create_stream("b", "s")
        ours = []
        for n in range(6):  # two streams interleaved: seq is global, each stream's FIFO a part of it
            ours.append(queue.enqueue("a", "run-bash", {"n": n}).id)
            queue.enqueue("b", "run-bash", {"n": n})
        queue.claim("a")
    ok(sparkq("migrate", "--to", pg_url))

    with _queue(PostgresStore(pg_url), clock) as queue:
        newer = queue.enqueue("a", "run-bash", {"n": "new"}).id
        claimed = [c.task.id for c in iter(lambda: queue.claim("a"), None)]
    assert claimed == [*ours[1:], newer]

    back = workdir / "back.db"
    ok(sparkq("migrate", "--to", str(back), env={"SPARKQ_DATABASE_URL": pg_url}))
    with _queue(SqliteStore(back), clock) as queue:
        latest = queue.enqueue("b", "run-bash", {"n": "latest"}).id
        b_claims = [c.task.id for c in iter(lambda: queue.claim("b"), None)]
    assert [t.payload["n"] for t in _tasks(back, b_claims)] == [0, 1, 2, 3, 4, 5, "latest"]
    assert b_claims[-1] == latest


def test_a_target_with_data_is_refused_and_left_as_it_was(sparkq: RunSparkq, pg_url: str, workdir: Path) -> None:
    clock = FakeClock()
    with _queue(SqliteStore(workdir / "sparkq.db"), clock) as queue:
        queue.create_session("ours")
    with _queue(PostgresStore(pg_url), clock) as theirs:
        theirs.create_session("theirs")
        theirs.create_stream("x", "theirs")
    stderr = refused(sparkq("migrate", "--to", pg_url))
    assert "is not empty: it holds 1 session, 1 stream" in stderr
    assert stderr.count("\n") == 1 and PASSWORD not in stderr
    assert [s.name for s in _contents(PostgresStore(pg_url))["sessions"]] == ["theirs"]

    used = workdir / "used.db"
    with _queue(SqliteStore(used), clock) as queue:
        queue.create_session("kept")
    assert "is not empty: it holds 1 session" in refused(sparkq("migrate", "--to", str(used)))
    assert [s.name for s in _contents(SqliteStore(used))["sessions"]] == ["kept"]


def test_a_target_that_was_only_opened_takes_the_source_project(sparkq: RunSparkq, pg_url: str, workdir: Path) -> None:
    clock = FakeClock()
    with _queue(SqliteStore(workdir / "sparkq.db"), clock) as queue:
        queue.create_session("ours")
    ok(sparkq("status", env={"SPARKQ_DATABASE_URL": pg_url}))  # any command makes the schema and a project row
    ok(sparkq("migrate", "--to", pg_url))
    copied = _contents(PostgresStore(pg_url))
    assert copied["project"].name == "demo" and [s.name for s in copied["sessions"]] == ["ours"]


def test_a_failure_midway_leaves_the_target_empty(sparkq: RunSparkq, pg_url: str, workdir: Path) -> None:
    clock = FakeClock()
    with _queue(SqliteStore(workdir / "sparkq.db"), clock) as queue:
        queue.create_session("s")
        queue.create_stream("a", "s")
        ids = [queue.enqueue("a", "run-bash", {"n": n}).id for n in range(20)]
    with sqlite3.connect(workdir / "sparkq.db") as conn:  # text another tool wrote: PostgreSQL refuses NUL
        conn.execute("UPDATE tasks SET stdout = 'a' || char(0) || 'b' WHERE id = ?", (ids[-1],))
    stderr = refused(sparkq("migrate", "--to", pg_url))
    assert "NUL" in stderr and stderr.count("\n") == 1
    pg = PostgresStore(pg_url)
    try:
        assert _contents(pg) == {"project": None, "sessions": [], "streams": [], "tasks": []}
    finally:
        pg.close()
    ok(sparkq("migrate", "--to", str(workdir / "copy.db")))  # SQLite keeps NUL: the same copy works there

    # a task whose stream another tool deleted: the new SQLite file refuses it, and is not left behind
    with sqlite3.connect(workdir / "sparkq.db") as conn:
        conn.execute("UPDATE tasks SET stream_id = 'str_gone' WHERE id = ?", (ids[0],))
    stderr = refused(sparkq("migrate", "--to", str(workdir / "orphan.db")))
    assert stderr.startswith("Error: Copying the tasks of ") and "FOREIGN KEY" in stderr
    assert not list(workdir.glob("orphan.db*"))


def test_bad_targets_are_one_clear_line(sparkq: RunSparkq, pg_cluster: Cluster, pg_url: str, workdir: Path) -> None:
    import socket

    ok(sparkq("session", "create", "s"))

    def one_line(*args: str, env: dict[str, str] | None = None) -> str:
        stderr = refused(sparkq("migrate", *args, env=env))
        assert stderr.count("\n") == 1, stderr
        assert PASSWORD not in stderr and "wrong-secret" not in stderr
        return stderr

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        assert "connection refused" in one_line("--to", pg_cluster.url("x", port=s.getsockname()[1]))
    assert "refused the password" in one_line("--to", pg_url.replace(PASSWORD, "wrong-secret"))
    assert "createdb" in one_line("--to", pg_cluster.url("no_such_database"))
    assert "does not exist" in one_line("--to", str(workdir / "missing" / "q.db"))
    assert "is a folder" in one_line("--to", str(workdir))
    assert "is the configured database itself" in one_line("--to", "./sparkq.db")
    (workdir / "notes.txt").write_text("not a database, and not ours to overwrite\n" * 200)
    assert "is not a SQLite database" in one_line("--to", str(workdir / "notes.txt"))
    assert (workdir / "notes.txt").read_text().startswith("not a database")
    bad_schema = sparkq("migrate", "--to", pg_url, "--schema", 'x"; DROP SCHEMA sparkq; --')
    assert bad_schema.returncode == 2 and "Invalid --schema" in bad_schema.stderr
    ok(sparkq("migrate", "--to", pg_url))
    # PostgreSQL to another schema of the same database: a copy beside it
    env = {"SPARKQ_DATABASE_URL": pg_url}
    assert "(schema backup)" in ok(sparkq("migrate", "--to", pg_url, "--schema", "backup", env=env))
    assert "--schema names a PostgreSQL schema" in refused(
        sparkq("migrate", "--to", str(workdir / "x.db"), "--schema", "backup", env=env), code=2
    )
    # PostgreSQL to itself, by another spelling of the same URL
    same = pg_url.replace(f":{PASSWORD}@", "@") + "?application_name=x"
    assert "is the configured database itself" in one_line(
        "--to", same, env={"SPARKQ_DATABASE_URL": pg_url, "PGPASSWORD": PASSWORD}
    )
    (workdir / "other.yml").write_text("database: {path: none.db}\n")
    assert "There is no database at" in one_line("--to", pg_url, env={"SPARKQ_CONFIG": str(workdir / "other.yml")})
    assert not (workdir / "none.db").exists()


def test_a_running_server_is_warned_about(sparkq: RunSparkq, pg_url: str, workdir: Path) -> None:
    from sparkq_adapters.process import hold_lock

    ok(sparkq("session", "create", "s"))
    held = hold_lock(workdir / "sparkq.lock")  # what a running server holds
    try:
        result = sparkq("migrate", "--to", pg_url)
    finally:
        held.release()
    ok(result)
    assert f"a SparkQ server runs on {workdir / 'sparkq.db'} (PID {os.getpid()})" in result.stderr
    assert "`sparkq stop` first" in result.stderr


def test_the_console_script_migrates_quietly_when_piped(pg_url: str, workdir: Path) -> None:
    from tests.conftest import SPARKQ, _clean_env

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SPARKQ, *args], cwd=workdir, capture_output=True, text=True, env=_clean_env(env), timeout=120
        )

    ok(run("session", "create", "s"))
    ok(run("stream", "create", "a", "--session", "s"))
    ok(run("enqueue", "run-bash", "{}", "--stream", "a"))
    result = run("migrate", "--to", pg_url)
    assert ok(result).startswith("Copied 1 project, 1 session, 1 stream, 1 task from ")
    assert "\x1b" not in result.stdout + result.stderr  # no progress bar on a pipe
    assert PASSWORD not in result.stdout + result.stderr
    claimed = run("claim", "--stream", "a", env={"SPARKQ_DATABASE_URL": pg_url})
    assert '"status":"running"' in ok(claimed).replace(" ", "")


def test_on_a_terminal_the_copy_shows_a_progress_bar(pg_url: str, workdir: Path) -> None:
    import pexpect

    from tests.conftest import SPARKQ, _clean_env

    clock = FakeClock()
    with _queue(SqliteStore(workdir / "sparkq.db"), clock) as queue:
        queue.create_session("s")
        queue.create_stream("a", "s")
        for n in range(3):
            queue.enqueue("a", "run-bash", {"n": n})
    env = _clean_env({"TERM": "xterm-256color", "COLUMNS": "120"})
    child = pexpect.spawn(SPARKQ, ["migrate", "--to", pg_url], cwd=str(workdir), env=env, encoding="utf-8", timeout=60)
    child.setwinsize(40, 120)
    try:
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    screen = child.before or ""
    assert "Copying rows" in screen and "6/6 rows" in screen  # project, session, stream and 3 tasks
    assert "Copied 1 project, 1 session, 1 stream, 3 tasks" in screen
    assert child.exitstatus == 0 and PASSWORD not in screen
