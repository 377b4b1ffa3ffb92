"""Fixtures for tests that need a real SparkQ server (`sparkq run` on a free loopback port)."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SPARKQ, _clean_env

#: Every client in these tests speaks plain HTTP to a loopback server, yet httpx builds a TLS context
#: for each client it makes, loading the whole CA bundle (~80 ms of CPU for each `httpx.get`, each
#: poll of a starting server, each `Server.client()`): they pass this one (`verify=TLS`) instead.
TLS = ssl.create_default_context()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A `sparkq run` process we started; stopped (by its PID) when the test ends."""

    def __init__(self, folder: Path, port: int, extra_args: tuple[str, ...] = ()) -> None:
        self.folder = folder
        # tests run in parallel workers: between `free_port()` and the server's bind, another
        # worker's server may take the same port; then this one exits saying so, and we try another
        for attempt in range(3):
            self._start(port, extra_args)
            if self.wait_ready(retry_if_taken=attempt < 2):
                return
            port = free_port()

    def _start(self, port: int, extra_args: tuple[str, ...]) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = self.folder / f"server-{port}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [SPARKQ, "run", "--port", str(port), *extra_args],
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_clean_env(),
            )

    def wait_ready(self, timeout: float = 20, *, retry_if_taken: bool = False) -> bool:
        """Wait until this server (not another one on the same port) answers; False: the port was taken."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if retry_if_taken and "already in use" in self.output():
                    return False
                raise AssertionError(f"sparkq run exited with {self.proc.returncode}: {self.output()}")
            try:
                answer = httpx.get(self.url + "/api/status", timeout=2, verify=TLS)
                if answer.status_code == 200 and answer.json()["server"]["pid"] == self.proc.pid:
                    return True
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"sparkq run did not answer within {timeout}s: {self.output()}")

    @property
    def pid(self) -> int:
        """The serving process's PID, which `/api/status` reports."""
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"content-type": "application/json"}, timeout=10, verify=TLS)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode


@pytest.fixture
def server(workdir: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """A real server on a free port, over the database in `workdir`.

    Under the `in_process` mark, the app that server would serve, in this process (`AppServer`).
    """
    if request.node.get_closest_marker("in_process") is not None:
        from tests.integration.http_support import AppServer  # the web stack, only for tests that use it

        srv: Server | AppServer = AppServer(workdir, free_port())
    else:
        srv = Server(workdir, free_port())
    try:
        yield srv  # type: ignore[misc]
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for a whole test module (for read-mostly API tests)."""
    folder = tmp_path_factory.mktemp("shared-server")
    srv = Server(folder, free_port())
    try:
        yield srv
    finally:
        srv.stop()


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, step: float = 0.05) -> bool:
    """Poll `predicate` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
