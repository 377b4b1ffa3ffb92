"""The whole worker loop (SPEC §7, WORKER_PLAYBOOK.md) with real processes.

A real server started with `run --session` (which starts one `sparkq watch` per stream), and
scripted bash workers that run the playbook's wait command literally:
`touch <tmp>/sparkq-S-done && cat <tmp>/sparkq-S-pipe >/dev/null && sparkq claim --stream S`,
run the payload's script, and report with `sparkq complete ... --stdout-file`. Tasks come from
the CLI and the HTTP API. Everything started is stopped by PID (or process group) at the end.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunSparkq, run_in_process
from tests.integration.conftest import Server, free_port, wait_for

from .worker_support import ROOT, sparkq_env, write_config

WORKER = r"""#!/usr/bin/env bash
# A scripted worker: WORKER_PLAYBOOK.md's loop, literally. Usage: worker.sh NAME STREAM TMP LOG OUT
set -u
name="$1" S="$2" tmp="$3" log="$4" out="$5"
# field TASK_JSON KEY: a key of the task, else of its payload
field() {
    "$PYTHON" -c '
import json, sys
t = json.loads(sys.argv[1])
print(t.get(sys.argv[2]) or t["payload"].get(sys.argv[2], ""))' "$@"
}
while :; do
    task="$(touch "$tmp/sparkq-$S-done" && cat "$tmp/sparkq-$S-pipe" >/dev/null && sparkq claim --stream "$S")" ||
        exit 1
    [ -n "$task" ] || continue  # another worker was faster: wait again
    id="$(field "$task" id)"
    script="$(field "$task" script)"
    echo "$name $S $id" >> "$log"
    if [ "$script" = STOP ]; then
        sparkq complete "$id" --result '{"summary": "Worker told to stop; stopping"}' >/dev/null
        exit 0
    fi
    if bash "$script" "$(field "$task" arg)" > "$out/$id.out" 2> "$out/$id.err"; then
        sparkq complete "$id" --result "{\"summary\": \"Ran $(basename "$script") for $id\"}" \
            --stdout-file "$out/$id.out" --stderr-file "$out/$id.err" >/dev/null
    else
        sparkq fail "$id" --error "the script failed" \
            --stdout-file "$out/$id.out" --stderr-file "$out/$id.err" >/dev/null
    fi
done
"""

GREET = 'echo "hello $1"\n'
# hangs on its first run only (the marker says it ran), like a task that killed its worker
HANG_ONCE = (
    'mark="$(dirname "$0")/hang-once.mark"\n[ -e "$mark" ] || { touch "$mark"; sleep 60; }\necho "recovered $1"\n'
)


class Loop:
    """The folder, the server (with its watchers) and the workers of one test."""

    def __init__(self, workdir: Path, tmp_path: Path, sparkq: RunSparkq, streams: tuple[str, ...]) -> None:
        self.workdir = workdir
        self.sparkq = sparkq
        self.tmp = tmp_path / "watchers"
        self.out = tmp_path / "out"
        self.out.mkdir()
        self.log = tmp_path / "claims.log"
        self.log.touch()
        write_config(workdir, self.tmp, idle=1, busy=2)
        self.worker_sh = tmp_path / "worker.sh"
        self.worker_sh.write_text(WORKER)
        # inside the project folder: a payload's script is a path relative to it (docs/decisions.md)
        self.scripts = workdir / "scripts"
        self.scripts.mkdir()
        (self.scripts / "greet.sh").write_text(GREET)
        (self.scripts / "hang-once.sh").write_text(HANG_ONCE)
        assert sparkq("session", "create", "s1").returncode == 0
        for name in streams:
            assert (
                sparkq("stream", "create", name, "--session", "s1", "-i", f"Run the scripts of {name}").returncode == 0
            )
        self.server = Server(workdir, free_port(), ("--session", "s1"))
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        for name in streams:
            assert wait_for(lambda n=name: (self.tmp / f"sparkq-{n}.lock").exists(), timeout=15), self.server.output()

    def start_worker(self, name: str, stream: str) -> subprocess.Popen[bytes]:
        env = sparkq_env({"PYTHON": sys.executable})
        args = ["bash", str(self.worker_sh), name, stream, str(self.tmp), str(self.log), str(self.out)]
        # a session of its own, so that killing the worker kills the script it runs too
        proc = subprocess.Popen(args, cwd=self.workdir, env=env, start_new_session=True)
        self.workers[name] = proc
        return proc

    def enqueue_cli(self, stream: str, payload: dict[str, Any], *extra: str) -> str:
        result = self.sparkq("enqueue", "run-bash", json.dumps(payload), "--stream", stream, *extra)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def enqueue_api(self, stream: str, payload: dict[str, Any]) -> str:
        with self.server.client() as client:
            response = client.post(
                "/api/tasks", json={"stream_id": stream, "tool_name": "run-bash", "payload": payload}
            )
        assert response.status_code in (200, 201), response.text
        return str(response.json()["task"]["id"])

    def task(self, task_id: str) -> dict[str, Any]:
        # `sparkq task --json` run in this process: the tests poll it every 0.2 s while the workers run
        result = run_in_process(("task", task_id, "--json"), cwd=self.workdir)
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    def claims(self) -> list[tuple[str, str, str]]:
        return [tuple(line.split()) for line in self.log.read_text().splitlines()]  # type: ignore[misc]

    def close(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.server.stop()


@pytest.fixture
def make_loop(workdir: Path, tmp_path: Path, sparkq: RunSparkq) -> Iterator[Any]:
    loops: list[Loop] = []

    def make(*streams: str) -> Loop:
        loop = Loop(workdir, tmp_path, sparkq, streams)
        loops.append(loop)
        return loop

    try:
        yield make
    finally:
        for loop in loops:
            loop.close()
        leftovers = list((tmp_path / "watchers").glob("*.lock"))
        assert not leftovers, "the watchers did not remove their lockfiles"


@pytest.mark.slow
def test_two_workers_drain_two_streams_in_order_each_task_claimed_once(make_loop: Any) -> None:
    loop: Loop = make_loop("a", "b")
    for name, stream in (("wa", "a"), ("wb", "b")):
        loop.start_worker(name, stream)
    greet = "scripts/greet.sh"
    queued: dict[str, list[str]] = {"a": [], "b": []}
    args: dict[str, int] = {}
    for i in range(12):
        stream = "ab"[i % 2]
        enqueue = loop.enqueue_cli if i % 3 else loop.enqueue_api
        task_id = enqueue(stream, {"script": greet, "arg": str(i)})
        queued[stream].append(task_id)
        args[task_id] = i

    def finished() -> bool:
        done = {line[2] for line in loop.claims()}
        return all(t in done for ids in queued.values() for t in ids) and all(
            loop.task(ids[-1])["status"] == "succeeded" for ids in queued.values()
        )

    assert wait_for(finished, timeout=40, step=0.2), loop.claims()
    stops = {stream: loop.enqueue_api(stream, {"script": "STOP"}) for stream in queued}
    for proc in loop.workers.values():
        assert proc.wait(timeout=20) == 0

    claims = loop.claims()
    for stream, ids in queued.items():
        order = [task_id for _, s, task_id in claims if s == stream]
        assert order == [*ids, stops[stream]]  # FIFO per stream, each claimed exactly once
        assert {worker for worker, s, _ in claims if s == stream} == {f"w{stream}"}
        for n, task_id in enumerate(ids):
            task = loop.task(task_id)
            assert task["status"] == "succeeded" and task["attempts"] == 1
            assert task["result"]["summary"] == f"Ran greet.sh for {task_id}"
            assert task["stdout"] == f"hello {args[task_id]}\n"
            assert n == 0 or task["started_at"] >= loop.task(ids[n - 1])["started_at"]


@pytest.mark.slow
def test_a_killed_worker_s_task_is_auto_failed_requeued_and_finished_by_the_survivor(make_loop: Any) -> None:
    loop: Loop = make_loop("a")
    hang = "scripts/hang-once.sh"
    loop.start_worker("w1", "a")
    loop.start_worker("w2", "a")  # two workers share the stream's watcher, FIFO and done-flag
    task_id = loop.enqueue_cli("a", {"script": hang, "arg": "x"}, "--timeout", "1")
    assert wait_for(lambda: (loop.scripts / "hang-once.mark").exists(), timeout=15)  # it is running
    victim = next(worker for worker, _, claimed in loop.claims() if claimed == task_id)
    survivor = "w2" if victim == "w1" else "w1"
    os.killpg(loop.workers[victim].pid, signal.SIGKILL)  # it dies mid-task, with the script it ran
    loop.workers[victim].wait(timeout=10)

    # the server's sweep fails it once it has run for twice its timeout
    assert wait_for(lambda: loop.task(task_id)["status"] == "failed", timeout=20, step=0.25)
    failed = loop.task(task_id)
    assert failed["error"].startswith("Auto-failed: task exceeded 2x timeout")
    assert failed["attempts"] == 1

    requeued = loop.sparkq("requeue", task_id)
    assert requeued.returncode == 0, requeued.stderr
    clone_id = requeued.stdout.strip()
    assert clone_id != task_id
    assert wait_for(lambda: loop.task(clone_id)["status"] == "succeeded", timeout=20, step=0.2), (
        loop.claims(),
        loop.task(clone_id),
        sorted(p.name for p in loop.out.iterdir()),
    )
    clone = loop.task(clone_id)
    assert clone["stdout"] == "recovered x\n" and clone["attempts"] == 1
    assert (survivor, "a", clone_id) in loop.claims()
    assert loop.task(task_id)["status"] == "failed"  # the original stays untouched in history

    stop_id = loop.enqueue_cli("a", {"script": "STOP"})
    assert loop.workers[survivor].wait(timeout=20) == 0
    assert loop.claims()[-1] == (survivor, "a", stop_id)


def playbook_poll_loop(stream: str) -> str:
    """WORKER_PLAYBOOK.md's polling loop (for when the watcher is dead), for `stream`, as the playbook has it."""
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "WORKER_PLAYBOOK.md").read_text(), re.DOTALL)
    loop = next(block for block in blocks if "sleep 30" in block)
    return loop.replace("--stream S", f"--stream {shlex.quote(stream)}")


def test_the_playbook_poll_loop_stops_at_an_ended_stream_instead_of_polling_forever(
    workdir: Path, sparkq: RunSparkq
) -> None:
    for args in (("session", "create", "s1"), ("stream", "create", "a", "--session", "s1")):
        assert sparkq(*args).returncode == 0
    assert sparkq("stream", "create", "b", "--session", "s1").returncode == 0
    assert sparkq("enqueue", "run-bash", '{"script": "x"}', "--stream", "b").returncode == 0
    assert sparkq("stream", "end", "a").returncode == 0

    def run(script: str) -> subprocess.CompletedProcess[str]:
        # the timeout only catches a loop that polls on (every 30 s): the ended stream must end it at once
        return subprocess.run(
            ["bash", "-c", script], cwd=workdir, env=sparkq_env(), capture_output=True, text=True, timeout=20
        )

    ended = run(playbook_poll_loop("a"))
    assert ended.stdout == "\n"  # no task
    assert ended.stderr.startswith("Error: Stream 'a' has ended (or its session has)"), ended.stderr
    claimed = run(playbook_poll_loop("b"))  # the same loop still hands over work
    assert json.loads(claimed.stdout)["stream"]["name"] == "b" and claimed.stderr == ""
