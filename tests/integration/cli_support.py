"""Helpers for the CLI tests: arrange state through the library (fast, in-process), assert on the CLI."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sparkq_adapters.clock import SystemClock
from sparkq_domain import Queue
from sparkq_entry.wiring import open_queue
from tests.conftest import SPARKQ, _clean_env

TASK_ID = re.compile(r"tsk_[0-9a-f]{12}")


class ShiftedClock(SystemClock):
    """The real time, moved by a fixed offset: lets a test claim a task 'ten minutes ago'."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def enqueued_elsewhere(workdir: Path, stream: str, payload: str = "{}") -> str:
    """Queue a task in `stream` from another process (the real `sparkq enqueue`, in `workdir`); its id."""
    enqueued = subprocess.run(
        [SPARKQ, "enqueue", "run-bash", payload, "--stream", stream],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=60,
    )
    assert enqueued.returncode == 0, enqueued.stderr
    return enqueued.stdout.strip()


def library_queue(workdir: Path, *, ago: timedelta = timedelta(0)) -> Queue:
    """The queue on the CLI's database in `workdir`, with a clock `ago` in the past."""
    return open_queue(workdir / "sparkq.db", project=workdir.name, clock=ShiftedClock(-ago))


def make_stream(workdir: Path, stream: str = "auth", session: str = "api-v2", instructions: str | None = None) -> Queue:
    queue = library_queue(workdir)
    if not any(s.name == session for s in queue.list_sessions()):
        queue.create_session(session)
    queue.create_stream(stream, session, instructions)
    return queue


def running_task(workdir: Path) -> tuple[Queue, str]:
    """Claim a new task in stream `auth` of `make_stream(workdir)`; return the queue and the task's id."""
    queue = make_stream(workdir)
    task_id = queue.enqueue("auth", "run-bash", {}).id
    queue.claim_task(task_id)
    return queue, task_id


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The stdout of a command that must have succeeded."""
    assert result.returncode == 0, f"exit {result.returncode}; stderr: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    out = ok(result)
    assert out.count("\n") == 1, f"expected one line of JSON, got: {out!r}"
    return json.loads(out)


def refused(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The stderr of a command that must have failed cleanly with `code`."""
    assert result.returncode == code, f"exit {result.returncode} (wanted {code}); stderr: {result.stderr}"
    assert result.stderr.startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr
