"""Commits stay visible to other processes however many threads open connections (WAL never orphaned)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from sparkq_entry import open_queue

READ_STATUS = (
    "import sqlite3, sys\n"
    "db = sqlite3.connect(sys.argv[1])\n"
    "print(db.execute('SELECT status FROM tasks WHERE id = ?', (sys.argv[2],)).fetchone()[0])\n"
    "db.close()\n"
)


def status_seen_by_another_process(db: Path, task_id: str) -> str:
    out = subprocess.run([sys.executable, "-c", READ_STATUS, str(db), task_id], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def in_new_thread(fn):  # type: ignore[no-untyped-def]
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(fn()))
    thread.start()
    thread.join()
    return result[0]


def test_commits_from_a_thread_stay_visible_after_other_threads_and_processes_open_the_file(tmp_path: Path) -> None:
    db = tmp_path / "sparkq.db"
    queue = open_queue(db)  # this thread's connection
    queue.create_session("s")
    queue.create_stream("st", "s")
    task = queue.enqueue("st", "run-bash", {})

    # another thread of this process opens its own connection (as server worker threads do) ...
    in_new_thread(lambda: queue.peek("st"))
    # ... and another process opens and closes the file, which deletes the WAL if it believes
    # it is the last user: it must not, because this process still has connections open.
    assert status_seen_by_another_process(db, task.id) == "queued"

    in_new_thread(lambda: queue.claim("st"))
    assert status_seen_by_another_process(db, task.id) == "running"
    queue.complete(task.id, {"summary": "done"})
    assert status_seen_by_another_process(db, task.id) == "succeeded"
