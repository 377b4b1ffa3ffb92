"""A real uvicorn serving the app in a thread of the test, for tests that talk to it over raw sockets."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn


class ThreadedUvicorn:
    """Run a uvicorn server in a daemon thread on a loopback port; `stop` ends it."""

    def __init__(
        self, server: uvicorn.Server, port: int, *, bound: float, sockets: list[socket.socket] | None = None
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server = server
        self.bound = bound
        self.thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + bound
        while not server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        """Ask the server to exit and wait (at most `bound` seconds) for its thread."""
        self.server.should_exit = True
        self.thread.join(self.bound)
