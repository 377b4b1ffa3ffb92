"""One worker of the PostgreSQL crash audit: tests/integration/crash_worker.py, its library client on PostgreSQL.

Run as a script, as crash_worker.py is (same arguments, same journal):

    python pg_crash_worker.py KIND WORKDIR JOURNAL SEED DEADLINE [PORT]

WORKDIR holds a sparkq.yml whose `database.url` names the PostgreSQL database; the `cli` and `http`
workers use it through the real `sparkq` and `sparkq run` unchanged, and the `lib` worker here opens
its queue from the same file, as a program using the library against PostgreSQL does.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

SQLITE_WORKER = Path(__file__).resolve().parents[1] / "integration" / "crash_worker.py"


def _load_worker() -> Any:
    spec = importlib.util.spec_from_file_location("crash_worker", SQLITE_WORKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _load_worker()


class SettingsLibraryClient(worker.LibraryClient):  # type: ignore[misc]  # a class of a module loaded by path
    """crash_worker's LibraryClient, with the queue of WORKDIR's sparkq.yml (PostgreSQL) instead of sparkq.db."""

    def __init__(self, workdir: str) -> None:  # the queue is opened later, not by LibraryClient's __init__
        self.workdir = Path(workdir)
        self._queue: Any = None

    @property
    def queue(self) -> Any:
        """Opened at the first operation, inside the worker's loop: failing to open (PostgreSQL is down)
        is then journaled as that operation's error, and tried again at the next."""
        if self._queue is None:
            from sparkq_adapters import config
            from sparkq_entry.wiring import queue_from_settings

            self._queue = queue_from_settings(config.load(cwd=self.workdir))
        return self._queue


if __name__ == "__main__":
    worker.LibraryClient = SettingsLibraryClient  # the one client that names its database itself
    sys.exit(worker.main())
