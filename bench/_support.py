"""What the benchmarks share: the real console script, a clean environment, a server they start."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

#: the console script of the interpreter running the benchmark (never a pyenv shim on PATH)
SPARKQ = str(Path(sys.executable).parent / "sparkq")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SPARKQ_")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(folder: Path, env: dict[str, str], timeout: float = 30) -> Iterator[tuple[str, int]]:
    """`sparkq run` on a free loopback port in `folder`; yields (url, port); stops it by PID."""
    port = free_port()
    server = subprocess.Popen(
        [SPARKQ, "run", "--port", str(port)], cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(url + "/health", timeout=0.5).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url, port
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)


def wal_pages_per_cycle(path: Path, cycle: Callable[[int], object], cycles: int = 25) -> float:
    """Pages written to the WAL per call of `cycle`, on the SQLite file `path`.

    Empties the WAL (a TRUNCATE checkpoint), runs `cycle` `cycles` times, then reads how many
    frames the WAL holds (a PASSIVE checkpoint reports it). Few cycles, so that no automatic
    checkpoint (every 1,000 pages by SQLite's default) restarts the WAL in between.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for n in range(cycles):
            cycle(n)
        _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return float(frames) / cycles
    finally:
        conn.close()
