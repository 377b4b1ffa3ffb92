"""A real worker heartbeats through a task longer than twice its timeout while a real `sparkq run` sweeps.

Processes only: the server's own sweep (every 2 s) is what must leave a task alone while its worker
heartbeats, and fail a silent one. The worker is a shell loop over the console script, as an agent runs it.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from sparkq_entry.wiring import open_queue
from tests.conftest import SPARKQ, _clean_env

from .conftest import Server, wait_for

#: claims its task, heartbeats with a note until released (and at least 3x its 2 s timeout has passed:
#: past twice the timeout, a silent task is dead), then completes; bounded to 60 s
WORKER = r"""
set -eu
task=$("$SPARKQ" claim --stream long | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
echo "claimed $task (timeout 2 s)"
start=$SECONDS
step=0
while [ $((SECONDS - start)) -lt 6 ] || [ ! -e release ]; do
    step=$((step + 1))
    "$SPARKQ" heartbeat "$task" --note "step $step"
    echo "t+$((SECONDS - start))s heartbeat: step $step"
    [ $((SECONDS - start)) -lt 60 ] || { echo "never released"; exit 1; }
    sleep 0.3
done
"$SPARKQ" complete "$task" --result "{\"summary\": \"done after $step heartbeats in $((SECONDS - start)) s\"}"
"$SPARKQ" task "$task" | grep -E "Summary|heartbeat|Progress" -A1
"""


def test_a_worker_that_heartbeats_outlives_twice_its_timeout_while_the_server_sweeps(
    server: Server, tmp_path: Path
) -> None:
    queue = open_queue(server.folder / "sparkq.db")
    queue.create_session("s")
    queue.create_stream("long", "s")
    queue.create_stream("quiet", "s")
    beating = queue.enqueue("long", "run-bash", {"script": "long.sh"}, timeout=2).id
    silent = queue.enqueue("quiet", "run-bash", {"script": "hangs.sh"}, timeout=1).id
    assert queue.claim("quiet") is not None  # its worker never reports nor heartbeats

    def status(task_id: str) -> str:
        # read the file directly: reading through the library would itself sweep
        with sqlite3.connect(server.folder / "sparkq.db") as db:
            return str(db.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()[0])

    log = tmp_path / "worker.log"
    env = {**_clean_env(), "SPARKQ": SPARKQ}
    with open(log, "wb") as out:
        worker = subprocess.Popen(["bash", "-c", WORKER], cwd=server.folder, env=env, stdout=out, stderr=out)
    try:
        # the server's sweep fails the silent task while the beating one, started as early, keeps running
        assert wait_for(lambda: status(silent) == "failed", timeout=30), log.read_text()
        assert status(beating) == "running", log.read_text()
        (server.folder / "release").touch()
        assert worker.wait(timeout=90) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
    print(log.read_text())  # the worker's session, as the closing note shows it
    done = queue.get_task(beating)
    assert done.status == "succeeded" and done.failure_kind is None, done
    assert done.started_at is not None and done.finished_at is not None
    assert (done.finished_at - done.started_at).total_seconds() > 2 * done.timeout
    assert done.progress is not None and done.progress.startswith("step ")
    assert queue.get_task(silent).failure_kind == "auto"
    # the server's log has no error; the feed recorded the heartbeats
    with sqlite3.connect(server.folder / "sparkq.db") as db:
        beats = db.execute(
            "SELECT COUNT(*) FROM events WHERE kind = 'task.heartbeat' AND subject_id = ?", (beating,)
        ).fetchone()[0]
    assert beats >= 3
    assert "Traceback" not in server.output()
