"""One worker of the crash-safety test: enqueue, claim and report in a loop, journaling every step.

Run as a script (the test SIGKILLs it at random moments, so it imports nothing from the tests):

    python crash_worker.py KIND WORKDIR JOURNAL SEED DEADLINE [PORT]

KIND is `lib` (the library, `open_queue`), `cli` (the real `sparkq` console script beside this
interpreter) or `http` (the REST API of the server on PORT). Every operation is journaled twice, as
Jepsen histories are: an `invoke` line before it starts and an `ok` (or `err`) line once it has
returned. A line is one `os.write` to an `O_APPEND` file, so a SIGKILL never leaves half a line
that matters, and the kernel keeps what was written when the process dies.

Journal lines (space-separated):
    invoke enqueue TOKEN STREAM          ok enqueue TOKEN TASK_ID
    invoke claim STREAM                  ok claim TASK_ID | none claim STREAM
    invoke complete TASK_ID TOKEN        ok complete TASK_ID TOKEN
    invoke fail TASK_ID TOKEN            ok fail TASK_ID TOKEN
    err OP ... MESSAGE
The TOKEN of an enqueue is in the task's payload; the TOKEN of a report is in its result summary
or error message, so the checker can tell which call produced what it finds in the database.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STREAMS = ("alpha", "beta")
TIMEOUT = 2  # seconds: tasks left running by a killed worker are auto-failed 4 s later


class Journal:
    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def line(self, *words: object) -> None:
        text = " ".join(str(w).replace("\n", " ") for w in words)
        os.write(self.fd, (text + "\n").encode())


class LibraryClient:
    def __init__(self, workdir: str) -> None:
        from sparkq_entry.wiring import open_queue

        self.queue = open_queue(Path(workdir) / "sparkq.db")

    def enqueue(self, stream: str, payload: dict[str, Any]) -> str:
        return self.queue.enqueue(stream, "run-bash", payload, timeout=TIMEOUT).id

    def claim(self, stream: str) -> str | None:
        claimed = self.queue.claim(stream)
        return claimed.task.id if claimed else None

    def complete(self, task_id: str, summary: str) -> None:
        self.queue.complete(task_id, {"summary": summary}, stdout="out " * 20)

    def fail(self, task_id: str, error: str) -> None:
        self.queue.fail(task_id, error, stderr="err " * 20)


class CliClient:
    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.sparkq = str(Path(sys.executable).parent / "sparkq")

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [self.sparkq, *args], cwd=self.workdir, capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()}")
        return done.stdout.strip()

    def enqueue(self, stream: str, payload: dict[str, Any]) -> str:
        return self.run("enqueue", "run-bash", json.dumps(payload), "--stream", stream, "--timeout", str(TIMEOUT))

    def claim(self, stream: str) -> str | None:
        out = self.run("claim", "--stream", stream)
        return str(json.loads(out)["id"]) if out else None

    def complete(self, task_id: str, summary: str) -> None:
        self.run("complete", task_id, "--result", json.dumps({"summary": summary}), "--stdout", "out")

    def fail(self, task_id: str, error: str) -> None:
        self.run("fail", task_id, "--error", error, "--stderr", "err")


class HttpClient:
    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def call(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = json.dumps(body if body is not None else {}).encode()
            self.conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None  # the server was killed: reconnect next time
            raise
        if response.status >= 400:
            raise RuntimeError(f"HTTP {response.status}: {raw[:200]!r}")
        return response.status, json.loads(raw) if raw else None

    def enqueue(self, stream: str, payload: dict[str, Any]) -> str:
        body = {"stream_id": stream, "tool_name": "run-bash", "payload": payload, "timeout": TIMEOUT}
        return str(self.call("/api/tasks", body)[1]["task"]["id"])

    def claim(self, stream: str) -> str | None:
        status, answer = self.call(f"/api/streams/{stream}/claim")
        return None if status == 204 else str(answer["id"])

    def complete(self, task_id: str, summary: str) -> None:
        self.call(f"/api/tasks/{task_id}/complete", {"result": {"summary": summary}, "stdout": "out"})

    def fail(self, task_id: str, error: str) -> None:
        self.call(f"/api/tasks/{task_id}/fail", {"error_message": error, "stderr": "err"})


def main() -> None:
    kind, workdir, journal_path, seed, deadline = sys.argv[1:6]
    rng = random.Random(int(seed))
    journal = Journal(journal_path)
    client: Any
    if kind == "lib":
        client = LibraryClient(workdir)
    elif kind == "cli":
        client = CliClient(workdir)
    else:
        client = HttpClient(int(sys.argv[6]))
    me = f"{kind}{os.getpid()}"
    count = 0
    end = float(deadline)
    while time.time() < end:  # a safety net: the test kills us long before
        count += 1
        stream = rng.choice(STREAMS)
        token = f"{me}-{count}"
        try:
            if rng.random() < 0.45:
                journal.line("invoke", "enqueue", token, stream)
                task_id = client.enqueue(stream, {"script": "job.sh", "token": token})
                journal.line("ok", "enqueue", token, task_id)
                continue
            journal.line("invoke", "claim", stream)
            claimed = client.claim(stream)
            if claimed is None:
                journal.line("none", "claim", stream)
                continue
            journal.line("ok", "claim", claimed)
            time.sleep(rng.choice((0, 0, 0.05, 0.3)))  # the work: a kill may land while the task runs
            op = "complete" if rng.random() < 0.8 else "fail"
            journal.line("invoke", op, claimed, token)
            if op == "complete":
                client.complete(claimed, f"done by {token}")
            else:
                client.fail(claimed, f"failed by {token}")
            journal.line("ok", op, claimed, token)
        except Exception as exc:  # every error is journaled; the checker decides what it means
            journal.line("err", type(exc).__name__, str(exc)[:300])
            time.sleep(0.05)


if __name__ == "__main__":
    main()
