"""A throwaway PostgreSQL cluster for the tests: Debian's binaries, a temporary folder, a loopback port.

One cluster per test session (per pytest-xdist worker), started on first use and stopped by its
postmaster's PID at the end. Running as root, it belongs to the `postgres` user (PostgreSQL refuses
to run as root). Made for tests only: `fsync=off` and a small `shared_buffers`, since the machine is
shared and nothing in it must survive a crash of the machine.

A test process that is SIGKILLed cannot stop its cluster. Each cluster's folder therefore holds an
`owner` file (the creating process's PID and its start time); a new cluster first reaps the clusters
whose owner is gone (`reap_leftovers`): their postmaster, found by the `postmaster.pid` of that folder
and checked to be serving that very data folder, is stopped, and the folder removed. A folder without
that file, or whose owner still runs, is never touched.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: the test cluster's superuser and its password (TCP connections authenticate with it; see `pg_hba`)
USER = "postgres"
PASSWORD = "sparkq-test-secret"
INSTALL = "apt-get install postgresql"


def binaries() -> Path:
    """The folder of Debian's PostgreSQL server binaries (the newest version installed)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise RuntimeError(f"The PostgreSQL tests need Debian's postgresql package: {INSTALL} (as root)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: the prefix of every cluster folder in the temporary folder, and the file naming the process that made it
PREFIX = "sparkq-pg-"
OWNER = "owner"


def _started(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, from /proc); None: no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name


def _alive(pid: int, started: str) -> bool:
    """Whether process `pid` is the one that started at `started` (not a later one given the same PID)."""
    return _started(pid) == started


def serves(pid: int, data: Path) -> bool:
    """Whether process `pid` is a postmaster of the data directory `data` (not a later process given its PID)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(data).encode() in command


def reap_leftovers(base: Path | None = None) -> list[Path]:
    """Stop and remove the clusters in `base` (the temporary folder) whose creating process is gone.

    Only a folder named `PREFIX…` holding an `owner` file this module wrote counts, and only the
    postmaster whose command line names that folder's data directory is signalled. The folders removed.
    """
    reaped = []
    for folder in sorted(Path(base or tempfile.gettempdir()).glob(PREFIX + "*")):
        try:
            pid_text, started = (folder / OWNER).read_text().split()
            owner = int(pid_text)
        except (OSError, ValueError):
            continue  # not ours, or being written this very moment
        if _alive(owner, started):
            continue
        _stop_postmaster(folder / "data")
        shutil.rmtree(folder, ignore_errors=True)
        reaped.append(folder)
    return reaped


def _stop_postmaster(data: Path) -> None:
    """Stop the postmaster serving `data` (immediate shutdown), if one still does."""
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return  # never started, or already gone
    if not serves(pid, data):
        return  # that PID is another process now
    try:
        os.kill(pid, signal.SIGQUIT)  # PostgreSQL's immediate shutdown: it ends its own children
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and serves(pid, data):
            time.sleep(0.05)
        if serves(pid, data):  # still that postmaster, never a process given its PID since
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Cluster:
    """A cluster in a temporary folder, listening on 127.0.0.1:`port` and a Unix socket in the folder."""

    def __init__(self, *, durable_commits: bool = False, settings: dict[str, str] | None = None) -> None:
        """`durable_commits`: a commit is in the WAL before it is acknowledged (`synchronous_commit`), so
        it survives PostgreSQL being killed (an immediate shutdown); a crash of the machine still loses
        it (`fsync` stays off). Without it, the last commits before such a kill are lost. `settings`:
        more of postgresql.conf (e.g. `track_commit_timestamp`)."""
        self.bin = binaries()
        self._durable = durable_commits
        self._extra = dict(settings or {})
        reap_leftovers()
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.folder / OWNER).write_text(f"{os.getpid()} {_started(os.getpid())}\n")
        self.data = self.folder / "data"
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        self.pid: int | None = None
        self._shared: str | None = None
        if self._as_postgres:
            entry = pwd.getpwnam(USER)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self._start()

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [*(["runuser", "-u", USER, "--"] if self._as_postgres else []), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True, cwd=self.folder)

    def _start(self) -> None:
        pwfile = self.folder / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._as_postgres:
            shutil.chown(pwfile, USER)
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.folder}'",
            # tests only: the cluster is thrown away, and the machine is shared by many test runs
            "fsync": "off",
            "synchronous_commit": "on" if self._durable else "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            "max_connections": "200",
            "logging_collector": "off",
            **self._extra,
        }
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._pg_ctl_start()

    def _pg_ctl_start(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "start")
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server (`pg_ctl stop -m fast|immediate`), keeping its data: `start_server` brings it back."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
        self.pid = None

    def start_server(self) -> None:
        """Start the stopped server again, on the same port and data."""
        self._pg_ctl_start()

    def url(self, database: str, *, password: str | None = PASSWORD, port: int | None = None) -> str:
        """A URL of `database` over TCP, with `password` in it (None: none)."""
        auth = USER if password is None else f"{USER}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{port or self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run `sql` as the superuser over the Unix socket (outside a transaction)."""
        import psycopg

        with psycopg.connect(host=str(self.folder), port=self.port, user=USER, dbname="postgres", autocommit=True) as c:
            c.execute(sql)

    def new_database(self) -> str:
        """A new empty database (a copy of template0); its name."""
        with self._lock:
            name = f"sparkq_test_{os.getpid()}_{next(self._names)}"
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def shared_url(self) -> str:
        """The URL of one database this process's tests share, each in a schema of its own (`new_schema`)."""
        with self._lock:
            if self._shared is None:
                self._shared = f"sparkq_shared_{os.getpid()}"
                self.admin(f'CREATE DATABASE "{self._shared}" TEMPLATE template0')
        return self.url(self._shared)

    def new_schema(self) -> str:
        """A schema name no test of this process used yet (schemas are much quicker to make than databases)."""
        with self._lock:
            return f"t{next(self._names)}"

    def drop_schema(self, schema: str) -> None:
        import psycopg

        with psycopg.connect(self.shared_url(), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def stop(self) -> None:
        """Stop the postmaster (by its PID: a fast shutdown) and remove the folder."""
        pid, self.pid = self.pid, None
        # signalled only while it is still this cluster's postmaster: once it has exited, its PID may be another
        # process's (a test server of another worker was once SIGKILLed so)
        if pid is not None and serves(pid, self.data):
            try:
                os.kill(pid, signal.SIGINT)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and serves(pid, self.data):
                    time.sleep(0.05)
                if serves(pid, self.data):
                    os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.folder, ignore_errors=True)


_cluster: Cluster | None = None
_cluster_lock = threading.Lock()


def cluster() -> Cluster:
    """This process's test cluster, started on first use and stopped when the process ends."""
    global _cluster
    with _cluster_lock:
        if _cluster is None:
            _cluster = Cluster()
            atexit.register(_cluster.stop)
        return _cluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """The session's PostgreSQL cluster."""
    found = cluster()
    yield found
    found.stop()


def store(cluster: Cluster) -> Any:
    """A `PostgresStore` on a fresh schema of the shared database; `close_store` drops it again."""
    from sparkq_adapters.postgres import PostgresStore

    return PostgresStore(cluster.shared_url(), schema=cluster.new_schema(), pool_size=2)


def emptied(store: Any) -> Any:
    """`store` with every table of its schema emptied (quicker than a new schema for each Hypothesis example)."""
    store.pool()  # the schema made and migrated on first use
    with store.connect() as conn:
        conn.execute("TRUNCATE projects, sessions, streams, tasks, events RESTART IDENTITY CASCADE")
    return store


def close_store(cluster: Cluster, store: Any) -> None:
    store.close()
    cluster.drop_schema(store.schema)


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """The URL (with its password) of a new empty database, dropped after the test."""
    name = pg_cluster.new_database()
    yield pg_cluster.url(name)
    pg_cluster.drop_database(name)
