"""Crash safety: SIGKILL workers (CLI, library, HTTP) and the server at random moments, then audit.

Four worker processes (tests/integration/crash_worker.py) enqueue, claim, complete and fail tasks
on one database, through the library (two of them), the real `sparkq` console script and the REST
API of a real `sparkq run`. Each round kills a random subset of them, and sometimes the server,
with SIGKILL, and starts them again. Afterwards the database is audited against the workers'
journals with Jepsen's categories:

- lost: an operation that returned success whose effect is not in the database;
- duplicated: a task claimed twice, or one enqueue that produced two tasks;
- unexpected: an effect in the database that no operation was ever invoked for.

All three must be zero; an operation that was cut off (invoked, never returned) may have happened
or not: both are fine. Then running tasks whose worker died are auto-failed at 2x their timeout
and can be requeued. `SPARKQ_CRASH_ROUNDS` raises the number of rounds (default 50).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.conftest import RunSparkq, _clean_env
from tests.integration.conftest import Server, free_port, wait_for

WORKER = Path(__file__).with_name("crash_worker.py")
ROUNDS = int(os.environ.get("SPARKQ_CRASH_ROUNDS", "50"))
KINDS = ("cli", "lib", "http", "lib")
TIMEOUT = 2  # crash_worker.TIMEOUT

pytestmark = pytest.mark.slow


@attrs.define
class History:
    """What the workers' journals say was invoked and what returned success."""

    enqueue_invoked: set[str] = attrs.Factory(set)
    enqueue_ok: dict[str, str] = attrs.Factory(dict)  # token -> task id
    claims_ok: list[str] = attrs.Factory(list)
    report_invoked: dict[tuple[str, str], str] = attrs.Factory(dict)  # (task id, token) -> op
    report_ok: dict[str, tuple[str, str]] = attrs.Factory(dict)  # task id -> (op, token)
    errors: Counter[str] = attrs.Factory(Counter)
    error_samples: dict[str, str] = attrs.Factory(dict)


def read_history(journals: list[Path]) -> History:
    h = History()
    for path in journals:
        for line in path.read_text().splitlines():
            words = line.split(" ")
            match words:
                case ["invoke", "enqueue", token, _stream]:
                    h.enqueue_invoked.add(token)
                case ["ok", "enqueue", token, task_id]:
                    h.enqueue_ok[token] = task_id
                case ["ok", "claim", task_id]:
                    h.claims_ok.append(task_id)
                case ["invoke", ("complete" | "fail") as op, task_id, token]:
                    h.report_invoked[(task_id, token)] = op
                case ["ok", ("complete" | "fail") as op, task_id, token]:
                    assert task_id not in h.report_ok, f"two successful reports for {task_id}"
                    h.report_ok[task_id] = (op, token)
                case ["err", kind, *message]:
                    h.errors[kind] += 1
                    h.error_samples.setdefault(kind, " ".join(message)[:160])
    return h


def read_tasks(db: Path) -> dict[str, dict[str, Any]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return {row["id"]: dict(row) for row in conn.execute("SELECT * FROM tasks ORDER BY seq")}
    finally:
        conn.close()


def claim_events(db: Path) -> Counter[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT subject_id FROM events WHERE kind = 'task.claimed'")
        return Counter(task_id for (task_id,) in rows)
    finally:
        conn.close()


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def report_token(task: dict[str, Any]) -> str | None:
    """The token of the report that finished a task, from its result summary or error message."""
    if task["status"] == "succeeded":
        return str(json.loads(task["result"])["summary"]).removeprefix("done by ")
    if task["status"] == "failed" and not (task["error"] or "").startswith("Auto-failed: "):
        return str(task["error"]).removeprefix("failed by ")
    return None


def audit(history: History, tasks: dict[str, dict[str, Any]], claimed: Counter[str]) -> dict[str, list[str]]:
    """Jepsen's three categories; each entry says what is wrong and where."""
    found: dict[str, list[str]] = {"lost": [], "duplicated": [], "unexpected": []}
    tokens: defaultdict[str, list[str]] = defaultdict(list)
    for task in tasks.values():
        tokens[json.loads(task["payload"])["token"]].append(task["id"])

    for token, task_id in history.enqueue_ok.items():
        if tokens.get(token) != [task_id]:
            found["lost"].append(f"enqueue {token} answered {task_id}, the database has {tokens.get(token)}")
    for task_id, (op, token) in history.report_ok.items():
        task = tasks.get(task_id)
        want = "succeeded" if op == "complete" else "failed"
        if task is None or task["status"] != want or report_token(task) != token:
            found["lost"].append(f"{op} of {task_id} by {token} answered ok, the task is {task and task['status']}")

    for task_id, n in Counter(history.claims_ok).items():
        if n > 1:
            found["duplicated"].append(f"{task_id} was handed to {n} claimers")
    for task_id, n in claimed.items():
        if n > 1:
            found["duplicated"].append(f"{task_id} was claimed {n} times in the event log")
    for token, ids in tokens.items():
        if len(ids) > 1:
            found["duplicated"].append(f"one enqueue ({token}) made {len(ids)} tasks: {ids}")
    for task in tasks.values():
        if task["attempts"] > 1:
            found["duplicated"].append(f"{task['id']} has {task['attempts']} attempts")

    for token, ids in tokens.items():
        if token not in history.enqueue_invoked:
            found["unexpected"].append(f"tasks {ids} carry token {token} that no enqueue was invoked with")
    for task in tasks.values():
        token = report_token(task)
        if token is not None and (task["id"], token) not in history.report_invoked:
            found["unexpected"].append(f"{task['id']} was finished by {token}, which never reported it")
    return found


def consistent_state(task: dict[str, Any]) -> bool:
    """Each status carries exactly the fields it should: no task is half in one state, half in another."""
    status, started, finished = task["status"], task["started_at"], task["finished_at"]
    return {
        "queued": started is None and finished is None and task["attempts"] == 0,
        "running": started is not None and finished is None and task["attempts"] == 1,
        "succeeded": finished is not None and task["result"] is not None and task["error"] is None,
        "failed": finished is not None and bool(task["error"]) and task["result"] is None,
    }[status]


class Crowd:
    """The worker processes and the server, each in a process group of its own (so a CLI worker's
    `sparkq` child dies with it). Only processes started here are ever signalled."""

    def __init__(self, workdir: Path, port: int, deadline: float) -> None:
        self.workdir, self.port, self.deadline = workdir, port, deadline
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.journals: list[Path] = []
        self.server: Server | None = None
        self.starts = 0

    def start_worker(self, slot: int) -> None:
        self.starts += 1
        journal = self.workdir / f"journal-{slot}-{self.starts}.log"
        journal.touch()  # a worker killed while starting up leaves an empty journal
        self.journals.append(journal)
        args = [sys.executable, str(WORKER), KINDS[slot], str(self.workdir), str(journal)]
        args += [str(self.starts), str(self.deadline), str(self.port)]
        self.workers[slot] = subprocess.Popen(
            args, cwd=self.workdir, env=_clean_env(), start_new_session=True, stderr=subprocess.DEVNULL
        )

    def start_server(self) -> None:
        self.server = Server(self.workdir, self.port)

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def kill_server(self) -> None:
        assert self.server is not None
        self.server.proc.kill()  # SIGKILL, by PID: `sparkq run` is one process
        self.server.proc.wait(timeout=10)
        self.server = None

    def stop_all(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        if self.server is not None:
            self.server.stop()


def test_sigkill_at_random_moments_loses_duplicates_and_invents_nothing(workdir: Path, sparkq: RunSparkq) -> None:
    assert sparkq("session", "create", "crash").returncode == 0
    for stream in ("alpha", "beta"):
        assert sparkq("stream", "create", stream, "--session", "crash").returncode == 0
    db = workdir / "sparkq.db"
    rng = random.Random(7)
    crowd = Crowd(workdir, free_port(), deadline=time.time() + 30 + ROUNDS * 8)
    kills = Counter[str]()
    try:
        crowd.start_server()
        for slot in range(len(KINDS)):
            crowd.start_worker(slot)
        for _ in range(ROUNDS):
            time.sleep(rng.uniform(0.2, 0.9))
            victims = [slot for slot in range(len(KINDS)) if rng.random() < 0.5] or [rng.randrange(len(KINDS))]
            for slot in victims:
                crowd.kill(crowd.workers[slot])
                kills[KINDS[slot]] += 1
            if rng.random() < 0.25:
                crowd.kill_server()
                kills["server"] += 1
                crowd.start_server()
            for slot in victims:
                crowd.start_worker(slot)
    finally:
        crowd.stop_all()

    history = read_history(crowd.journals)
    tasks = read_tasks(db)
    assert integrity(db) == "ok"
    assert all(consistent_state(t) for t in tasks.values()), [t for t in tasks.values() if not consistent_state(t)]

    found = audit(history, tasks, claim_events(db))
    counts = {category: len(items) for category, items in found.items()}
    print(
        f"\n{ROUNDS} rounds, kills {dict(kills)}; {len(tasks)} tasks, {len(history.enqueue_ok)} enqueues and "
        f"{len(history.report_ok)} reports acknowledged, {len(history.claims_ok)} claims; errors seen by workers "
        f"{dict(history.errors)}, e.g. {history.error_samples}; audit {counts}"
    )
    assert counts == {"lost": 0, "duplicated": 0, "unexpected": 0}, found
    # the run did real work through every path, not just start-ups and kills
    assert kills["server"] >= 3 and all(kills[k] >= 5 for k in ("cli", "lib", "http")), kills
    assert len(history.enqueue_ok) >= 100 and len(history.report_ok) >= 50, (len(history.enqueue_ok), history.errors)

    # tasks left running by killed workers: auto-failed once 2x their timeout has passed, by the server during
    # the run (a slow run's server may have swept them all) or after it, then requeued
    orphans = [t["id"] for t in tasks.values() if t["status"] == "running" or t["failure_kind"] == "auto"]
    assert orphans, "some task should have been running when its worker was killed"
    time.sleep(2 * TIMEOUT + 0.5)
    listed = sparkq("tasks", "--status", "running", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stdout
    after = read_tasks(db)
    for task_id in orphans:
        assert after[task_id]["status"] == "failed" and after[task_id]["failure_kind"] == "auto"
        assert after[task_id]["error"].startswith(f"Auto-failed: task exceeded 2x timeout ({TIMEOUT}s)")
    requeued = sparkq("requeue", orphans[0], "--json")
    assert requeued.returncode == 0, requeued.stderr
    clone = json.loads(requeued.stdout)
    assert clone["status"] == "queued" and clone["requeued_from"] == orphans[0]
    assert wait_for(lambda: integrity(db) == "ok", timeout=5)
