"""The `sparkq` CLI on PostgreSQL, in this process: the worker cycle, status, and the errors of a bad URL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.integration.cli_support import TASK_ID, ok, ok_json, refused
from tests.postgres_support import PASSWORD, Cluster

if TYPE_CHECKING:
    from tests.conftest import RunSparkq

pytestmark = pytest.mark.in_process


def test_enqueue_claim_complete_through_the_cli_on_postgresql(sparkq: RunSparkq, pg_url: str) -> None:
    env = {"SPARKQ_DATABASE_URL": pg_url}
    ok(sparkq("session", "create", "api-v2", env=env))
    ok(sparkq("stream", "create", "auth", "--session", "api-v2", "--instructions", "Do it well", env=env))
    first = ok(sparkq("enqueue", "run-bash", '{"script": "a.sh"}', "--stream", "auth", env=env)).strip()
    second = ok(sparkq("enqueue", "run-bash", '{"script": "b.sh"}', "--stream", "auth", env=env)).strip()
    assert TASK_ID.fullmatch(first) and TASK_ID.fullmatch(second)

    claimed = ok_json(sparkq("claim", "--stream", "auth", env=env))
    assert claimed["id"] == first  # FIFO
    assert claimed["stream"]["instructions"] == "Do it well"
    assert (claimed["status"], claimed["attempts"]) == ("running", 1)
    ok(sparkq("complete", first, "--result", '{"summary": "done"}', env=env))

    task = ok_json(sparkq("task", first, "--json", env=env))
    assert (task["status"], task["result"]) == ("succeeded", {"summary": "done"})
    assert ok_json(sparkq("claim", "--stream", "auth", env=env))["id"] == second
    assert ok(sparkq("claim", "--stream", "auth", env=env)) == ""  # nothing queued: an empty answer
    assert "Cannot complete" in refused(sparkq("complete", first, "--result", '{"summary": "again"}', env=env))


def test_status_names_the_database_by_its_url_without_the_password(sparkq: RunSparkq, pg_url: str) -> None:
    env = {"SPARKQ_DATABASE_URL": pg_url}
    report = ok_json(sparkq("status", "--json", env=env))
    assert report["database"] == pg_url.replace(f":{PASSWORD}@", ":***@")
    text = ok(sparkq("status", env=env))
    assert PASSWORD not in text
    assert pg_url.replace(f":{PASSWORD}@", ":***@") in text


def test_the_url_in_sparkq_yml_selects_postgresql(sparkq: RunSparkq, pg_url: str, workdir: Path) -> None:
    (workdir / "sparkq.yml").write_text(f"database: {{url: '{pg_url}', schema: team_a}}\n")
    ok(sparkq("session", "create", "s1"))
    assert [s["name"] for s in ok_json(sparkq("session", "list", "--json"))] == ["s1"]
    assert not (workdir / "sparkq.db").exists()


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    stderr = refused(result)
    assert stderr.count("\n") == 1, stderr
    assert PASSWORD not in stderr and "wrong-secret" not in stderr
    return stderr


def test_a_server_that_is_down_is_one_clear_line(sparkq: RunSparkq, pg_cluster: Cluster) -> None:
    import socket

    with socket.socket() as s:  # a port on which nothing listens
        s.bind(("127.0.0.1", 0))
        url = pg_cluster.url("anything", port=s.getsockname()[1])
        stderr = _one_line(sparkq("session", "list", env={"SPARKQ_DATABASE_URL": url}))
    assert "connection refused" in stderr
    assert "check that the server runs" in stderr.lower()
    assert "postgres:***@127.0.0.1" in stderr


def test_a_wrong_password_is_one_clear_line(sparkq: RunSparkq, pg_cluster: Cluster, pg_url: str) -> None:
    url = pg_url.replace(PASSWORD, "wrong-secret")
    stderr = _one_line(sparkq("session", "list", env={"SPARKQ_DATABASE_URL": url}))
    assert "refused the password" in stderr and "~/.pgpass" in stderr


def test_a_missing_database_is_one_clear_line(sparkq: RunSparkq, pg_cluster: Cluster) -> None:
    url = pg_cluster.url("no_such_database")
    stderr = _one_line(sparkq("session", "list", env={"SPARKQ_DATABASE_URL": url}))
    assert "does not exist" in stderr and "createdb" in stderr


def test_the_password_may_come_from_pgpassword(sparkq: RunSparkq, pg_cluster: Cluster, pg_url: str) -> None:
    url = pg_url.replace(f":{PASSWORD}@", "@")
    env = {"SPARKQ_DATABASE_URL": url, "PGPASSWORD": PASSWORD}
    ok(sparkq("session", "create", "s1", env=env))
    assert "refused the password" in _one_line(sparkq("session", "list", env={"SPARKQ_DATABASE_URL": url}))


def test_the_password_may_come_from_a_pgpass_file(sparkq: RunSparkq, pg_url: str, tmp_path: Path) -> None:
    url = pg_url.replace(f":{PASSWORD}@", "@")
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:*:*:postgres:{PASSWORD}\n")
    pgpass.chmod(0o600)  # libpq ignores a password file that others can read
    ok(sparkq("session", "create", "s1", env={"SPARKQ_DATABASE_URL": url, "PGPASSFILE": str(pgpass)}))


def test_a_postgresql_url_without_the_driver_names_the_extra(tmp_path: Path, workdir: Path) -> None:
    # a child whose imports cannot find psycopg: what an installation without the extra has
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'psycopg':\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, _Hide())\n"
    )
    code = "import sys\nfrom sparkq_entry.cli import main\nsys.exit(main(['session', 'list']))\n"
    env = {"SPARKQ_DATABASE_URL": "postgresql://me:hunter2@127.0.0.1:1/db", "PYTHONPATH": str(hide), "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "pip install 'sparkq[postgres]'" in result.stderr
    assert "hunter2" not in result.stderr


def test_claim_wait_wakes_on_an_enqueue_by_another_connection(sparkq: RunSparkq, pg_url: str, workdir: Path) -> None:
    from sparkq_adapters.clock import RandomIds, SystemClock
    from sparkq_adapters.postgres import PostgresStore
    from sparkq_domain import Queue

    store = PostgresStore(pg_url)
    queue = Queue(store, SystemClock(), RandomIds())
    queue.ensure_project("demo")
    queue.create_session("s")
    queue.create_stream("auth", "s")
    results: list[subprocess.CompletedProcess[str]] = []
    waiter = threading.Thread(
        target=lambda: results.append(
            sparkq("claim", "--stream", "auth", "--wait", "60", env={"SPARKQ_DATABASE_URL": pg_url})
        )
    )
    waiter.start()
    task = queue.enqueue("auth", "run-bash", {"n": 1})
    waiter.join(timeout=120)
    store.close()
    assert ok_json(results[0])["id"] == task.id
    assert not (workdir / "sparkq.db").exists()  # it waited on PostgreSQL's feed, not on a SQLite file


# -- the CLI's paths beyond the queue: setup, watchers, the server's lockfile ----------------------


def test_setup_on_postgresql_makes_the_schema_and_names_the_url(sparkq: RunSparkq, pg_url: str, workdir: Path) -> None:
    from sparkq_adapters.postgres import PostgresStore

    out = ok(sparkq("setup", "--defaults", "--project-name", "demo", env={"SPARKQ_DATABASE_URL": pg_url}))
    assert f"Database ready: {pg_url.replace(f':{PASSWORD}@', ':***@')} (project demo)" in out
    assert PASSWORD not in out and not (workdir / "sparkq.db").exists()
    store = PostgresStore(pg_url)
    try:
        with store.read() as repo:
            project = repo.get_project()
    finally:
        store.close()
    assert project is not None and project.name == "demo"


def _pg_project(folder: Path, url: str, watchers: Path, schema: str = "sparkq") -> Path:
    """A project folder whose sparkq.yml names the PostgreSQL database `url` and the watcher folder `watchers`."""
    from tests.integration.worker_support import write_config

    folder.mkdir(exist_ok=True)
    config = write_config(folder, watchers)
    with config.open("a") as f:
        f.write(f"database: {{url: '{url}', schema: {schema}}}\n")
    return folder


def test_a_watcher_on_postgresql_records_the_database_and_wakes_its_worker(
    sparkq: RunSparkq, pg_url: str, tmp_path: Path
) -> None:
    import json
    import os
    import signal

    from sparkq_adapters.database_id import postgres_id
    from tests.integration.conftest import wait_for
    from tests.integration.worker_support import start_watch, stop

    watchers = tmp_path / "watchers"
    here = _pg_project(tmp_path / "here", pg_url, watchers)
    # another folder (another checkout, say) on the same database: the same streams, the same watchers
    there = _pg_project(tmp_path / "there", pg_url.replace(f":{PASSWORD}@", "@"), watchers)
    ok(sparkq("session", "create", "s", cwd=here))
    ok(sparkq("stream", "create", "a", "--session", "s", cwd=here))
    proc = start_watch(here, "a")
    worker = None
    try:
        lock = watchers / "sparkq-a.lock"
        assert wait_for(lambda: lock.exists() and lock.read_text().strip() == str(proc.pid), timeout=20)
        record = (watchers / "sparkq-a.database").read_text()
        assert record == postgres_id(pg_url, "sparkq") + "\n"
        assert PASSWORD not in record and record.startswith("postgresql://postgres@127.0.0.1:")
        wait = f"touch {watchers}/sparkq-a-done && cat {watchers}/sparkq-a-pipe"
        worker = subprocess.Popen(["bash", "-c", wait], stdout=subprocess.PIPE, start_new_session=True)
        assert wait_for(lambda: (watchers / "sparkq-a-done").exists())
        env = {"PGPASSWORD": PASSWORD}
        task = ok(sparkq("enqueue", "run-bash", "{}", "--stream", "a", cwd=there, env=env)).strip()
        assert worker.communicate(timeout=30)[0] == b"wake\n"  # woken by a commit made through another config
        assert json.loads(ok(sparkq("claim", "--stream", "a", cwd=here)))["id"] == task

        # the same database from the other folder: its `stop` finds this watcher (and no server)
        stopped = ok(sparkq("stop", cwd=there, env=env))
        assert stopped == f"Watcher for stream a stopped (PID {proc.pid})\nSparkQ server was not running\n"
        assert proc.wait(timeout=15) == 0
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)  # bash and its `cat`, both ours
            worker.wait()
        stop(proc)
    assert not (here / "sparkq.db").exists() and not (there / "sparkq.db").exists()

    # another schema (another team's queue) with a stream of the same name, in the same watcher folder
    other = _pg_project(tmp_path / "other", pg_url, watchers, schema="team_b")
    ok(sparkq("session", "create", "s", cwd=other))
    ok(sparkq("stream", "create", "a", "--session", "s", cwd=other))
    stderr = refused(sparkq("watch", "a", cwd=other))
    assert "belong to another database, postgresql://postgres@127.0.0.1:" in stderr and "?schema=sparkq" in stderr
    assert "watcher.tmp_dir" in stderr and PASSWORD not in stderr


def test_the_server_on_postgresql_keeps_its_lockfile_beside_the_config(
    sparkq: RunSparkq, pg_url: str, tmp_path: Path
) -> None:
    from tests.integration.conftest import Server, free_port, wait_for

    watchers = tmp_path / "watchers"
    here = _pg_project(tmp_path / "here", pg_url, watchers)
    ok(sparkq("session", "create", "s", cwd=here))
    ok(sparkq("stream", "create", "a", "--session", "s", cwd=here))
    server = Server(here, free_port(), ("--session", "s"))
    try:
        lock = here / "sparkq.lock"  # one per machine and project: beside sparkq.yml, there being no database file
        assert lock.read_text().strip() == str(server.proc.pid)
        assert wait_for(lambda: (watchers / "sparkq-a.lock").exists(), timeout=20), server.output()
        status = ok(sparkq("status", cwd=here))
        assert status.startswith(f"SparkQ server: running (PID {server.proc.pid}, {server.url})")
        second = sparkq("run", "--port", str(free_port()), cwd=here)
        assert second.returncode == 1 and f"PID {server.proc.pid}" in second.stderr

        # a reload that names another database: the server says it keeps serving its own
        config = here / "sparkq.yml"
        good = config.read_text()
        config.write_text(good.replace("schema: sparkq", "schema: team_b"))
        reloaded = sparkq("reload", cwd=here)
        shown = pg_url.replace(f":{PASSWORD}@", ":***@")
        assert f"names the database {shown} (schema team_b); this server serves {shown} (schema sparkq)" in (
            reloaded.stderr
        ), reloaded.stderr

        # a broken sparkq.yml: the server is still found, and stopped, beside it
        config.write_text(good + "server: [\n")
        broken = sparkq("status", cwd=here)
        assert broken.returncode == 1 and broken.stdout.startswith(f"SparkQ server: running (PID {server.proc.pid}")
        assert PASSWORD not in broken.stdout + broken.stderr
        stopped = sparkq("stop", cwd=here)
        assert stopped.returncode == 0 and "SparkQ server stopped" in stopped.stdout, stopped.stderr
        assert server.proc.wait(timeout=15) == 0
        assert wait_for(lambda: not (watchers / "sparkq-a.lock").exists())  # the server stops its watchers
    finally:
        server.stop()
    assert not (here / "sparkq.db").exists()
    assert not lock.exists()


def test_teardown_stops_and_removes_the_watchers_of_its_postgresql_database_only(
    sparkq: RunSparkq, pg_url: str, tmp_path: Path
) -> None:
    import shutil

    from tests.integration.conftest import wait_for
    from tests.integration.worker_support import start_watch, stop

    repo = Path(__file__).resolve().parents[2]
    watchers = tmp_path / "watchers"
    here = _pg_project(tmp_path / "here", pg_url, watchers)
    shutil.copy(repo / "teardown.sh", here / "teardown.sh")
    (here / "src").symlink_to(repo / "src")  # a checkout: teardown reads the database's identity from src/
    ok(sparkq("session", "create", "s", cwd=here))
    ok(sparkq("stream", "create", "a", "--session", "s", cwd=here))
    # another schema's watcher files in the same folder: another database's, left alone
    foreign = [watchers / f"sparkq-b{suffix}" for suffix in (".lock", "-done", ".database")]
    proc = start_watch(here, "a")
    try:
        assert wait_for(lambda: (watchers / "sparkq-a.lock").exists(), timeout=20)
        for path in foreign:
            path.write_text(pg_url.replace(f":{PASSWORD}@", "@") + "?schema=team_b\n")
        result = subprocess.run(
            ["bash", str(here / "teardown.sh"), "-y"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("SPARKQ_")},
        )
        assert result.returncode == 0, result.stderr
        assert f"Stopping the watcher, PID {proc.pid}" in result.stdout
        assert proc.wait(timeout=15) == 0
    finally:
        stop(proc)
    assert sorted(p.name for p in watchers.iterdir()) == sorted(p.name for p in foreign)
    assert PASSWORD not in result.stdout + result.stderr
