"""SparkQ against the peer queues a user would otherwise pick: one harness, one run, one machine.

Run by hand (not a test):  .venv/bin/python bench/peers.py [--quick] [--rounds N]
Peers come from the bench extra:  .venv/bin/pip install -e '.[bench]'

Queues: SparkQ as a library (`open_queue`), through its CLI (the real console script, one
process per call, so only a few calls), and over HTTP (a real `sparkq run` on a loopback port,
one keep-alive connection per client process); huey's task API on `SqliteHuey` (enqueue by
calling a task, claim with `huey.dequeue()`, ack by `huey.execute(task)`, which stores the
task's return value) and huey's raw `SqliteStorage` (enqueue/dequeue of bytes, no ack);
litequeue (`put` / `pop` / `done`); persist-queue (`SQLiteAckQueue` `put` / `get` / `ack`).
Every queue runs in WAL mode with synchronous=NORMAL (SparkQ's default); where a peer has no
option for it, the PRAGMA is set on its connection, and the setting each one really ran with
is read back from that connection and printed.

(a) ops/s of enqueue, claim, ack and a full cycle (enqueue + claim + ack), by 1 process and by
    4 processes on the same queue (4 interpreters spawned once and reused; a barrier before
    each phase; a phase's rate is all its ops over the time from the first start to the last
    end). Claims stay running until the ack phase. Rounds interleave the queues (a different
    one first each round); the median round is reported.
(b) duplicates: N tasks queued, 4 processes claim until the queue is empty; items claimed more
    than once (duplicated) and items never claimed (lost).
(c) claim ops/s with 1,000 and with 100,000 tasks queued (claims timed, acks not; up to 200
    claims or 1 s a round, then the backlog is filled back up).
(d) WAL pages written per full cycle by one process (the WAL emptied, 25 cycles, its frames counted).
Targets (issue 13): SparkQ library cycle >= 0.7 x huey task API and >= 0.45 x litequeue, by 1 and
by 4 processes (median of paired rounds); zero duplicates for SparkQ; claim rate at 100k >= 0.8 x
at 1k; <= 12 WAL pages per SparkQ cycle.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import queue as stdlib_queue
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _support import SPARKQ, clean_env, running_server, wal_pages_per_cycle

SPARKQ_LIB = "SparkQ library"
SPARKQ_HTTP = "SparkQ HTTP"
SPARKQ_CLI = "SparkQ CLI"
HUEY_TASK = "huey task API"
HUEY_RAW = "huey SqliteStorage (raw)"
LITEQUEUE = "litequeue"
PERSIST = "persist-queue"
KINDS = (SPARKQ_LIB, SPARKQ_HTTP, SPARKQ_CLI, HUEY_TASK, HUEY_RAW, LITEQUEUE, PERSIST)
DUPLICATE_KINDS = (SPARKQ_LIB, SPARKQ_HTTP, HUEY_TASK, LITEQUEUE, PERSIST)
BACKLOG_KINDS = (SPARKQ_LIB, HUEY_TASK, LITEQUEUE, PERSIST)
PHASES = ("enqueue", "claim", "ack", "cycle")
PROCS = (1, 4)
SYNC_NAMES = {0: "off", 1: "normal", 2: "full", 3: "extra"}
RESULT = {"summary": "done"}
TARGET_BACKLOG = 0.8
TARGET_WAL_PAGES = 12
#: issue 13: the library's cycle against each peer's, as a share of theirs
TARGET_CYCLE = {HUEY_TASK: 0.7, LITEQUEUE: 0.45}
TIMEOUT = 600.0  # no phase of a default run comes near it; a hung worker must not hang the run


def payload(n: int) -> dict[str, Any]:
    return {"script": "bench.sh", "n": n}


def read_pragmas(conn: sqlite3.Connection) -> str:
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    return f"{journal}/{SYNC_NAMES.get(sync, sync)}"


class Busy(Exception):
    """The queue answered 'database is locked' (or busy) to its caller; the op is retried."""


def is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, Busy) or "locked" in text or "busy" in text


# -- what a worker process opens ------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where one measured queue lives; picklable, so spawned workers can open it themselves."""

    kind: str
    path: str
    stream: str = "bench"
    port: int = 0


@dataclass
class Claim:
    key: Any  # what ack needs
    n: int  # the payload's number, to count duplicates


class Handle:
    """One process's connection to a queue, behind the same four calls for every library."""

    has_ack = True
    default_sync = ""  # the synchronous setting the library leaves on its connection, if we changed it

    def enqueue(self, n: int) -> None:
        raise NotImplementedError

    def claim(self) -> Claim | None:
        raise NotImplementedError

    def ack(self, claim: Claim) -> None:
        raise NotImplementedError

    def pragmas(self) -> str:
        raise NotImplementedError

    def fast_fill(self, count: int) -> None:
        """Queue `count` tasks in one transaction, by the fastest path the library offers."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class SparkLib(Handle):
    def __init__(self, target: Target) -> None:
        from sparkq_entry.wiring import open_queue

        self.path = Path(target.path)
        self.stream = target.stream
        self.queue = open_queue(self.path, synchronous="normal", project="bench")

    def enqueue(self, n: int) -> None:
        self.queue.enqueue(self.stream, "run-bash", payload(n))

    def claim(self) -> Claim | None:
        claimed = self.queue.claim(self.stream)
        return None if claimed is None else Claim(claimed.task.id, claimed.task.payload["n"])

    def ack(self, claim: Claim) -> None:
        self.queue.complete(claim.key, RESULT)

    def pragmas(self) -> str:
        # the store's own connection for this thread (bench-only introspection of a private attribute)
        return read_pragmas(self.queue._store.connection())

    def fast_fill(self, count: int) -> None:
        # The library has no bulk enqueue: the fill (never timed) inserts rows of the same schema
        # directly, in one transaction, as bench/queue_cycle.py does.
        from queue_cycle import prefill

        prefill(self.path, count)


class SparkHttp(Handle):
    def __init__(self, target: Target) -> None:
        self.stream = target.stream
        self.conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=60)
        self.conn.connect()
        assert self.conn.sock is not None
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        self.conn.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        response = self.conn.getresponse()
        data = response.read()
        if response.status == 503:
            raise Busy(data.decode())
        if response.status >= 400:
            raise RuntimeError(f"POST {path}: {response.status} {data.decode()}")
        return response.status, json.loads(data) if data else None

    def enqueue(self, n: int) -> None:
        self._post("/api/tasks", {"stream_id": self.stream, "tool_name": "run-bash", "payload": payload(n)})

    def claim(self) -> Claim | None:
        status, task = self._post(f"/api/streams/{self.stream}/claim", {})
        return None if status == 204 else Claim(task["id"], task["payload"]["n"])

    def ack(self, claim: Claim) -> None:
        self._post(f"/api/tasks/{claim.key}/complete", {"result": RESULT})

    def pragmas(self) -> str:
        return "wal/normal (config default)"

    def close(self) -> None:
        self.conn.close()


class SparkCli(Handle):
    def __init__(self, target: Target) -> None:
        self.folder = target.path
        self.stream = target.stream
        self.env = clean_env()

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            [SPARKQ, *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if done.returncode != 0:
            if is_busy(Exception(done.stderr)):
                raise Busy(done.stderr)
            raise RuntimeError(f"sparkq {' '.join(args)}: exit {done.returncode}: {done.stderr}")
        return done.stdout

    def enqueue(self, n: int) -> None:
        self._run("enqueue", "run-bash", json.dumps(payload(n)), "--stream", self.stream)

    def claim(self) -> Claim | None:
        out = self._run("claim", "--stream", self.stream)
        if not out.strip():
            return None
        task = json.loads(out)
        return Claim(task["id"], task["payload"]["n"])

    def ack(self, claim: Claim) -> None:
        self._run("complete", claim.key, "--result", json.dumps(RESULT))

    def pragmas(self) -> str:
        return "wal/normal (config default)"


def bench_work(item: dict[str, Any]) -> dict[str, Any]:
    return {"summary": "done", "n": item["n"]}


# huey names a task class after its function's module; spawned workers import this file as
# `__mp_main__`, the parent as `__main__`: one fixed name lets both sides read each other's tasks.
bench_work.__module__ = "sparkq_bench_peers"


class HueyTask(Handle):
    def __init__(self, target: Target) -> None:
        from huey import SqliteHuey

        self.huey = SqliteHuey(name="bench", filename=target.path)
        conn = self.huey.storage.conn
        self.default_sync = SYNC_NAMES[conn.execute("PRAGMA synchronous").fetchone()[0]]
        # SqliteStorage's only knob is fsync=True/False (FULL/OFF); NORMAL is set on its connection.
        conn.execute("PRAGMA synchronous = NORMAL")
        self.work = self.huey.task()(bench_work)

    def enqueue(self, n: int) -> None:
        self.work(payload(n))

    def claim(self) -> Claim | None:
        task = self.huey.dequeue()
        return None if task is None else Claim(task, task.args[0]["n"])

    def ack(self, claim: Claim) -> None:
        self.huey.execute(claim.key)

    def pragmas(self) -> str:
        return read_pragmas(self.huey.storage.conn)

    def fast_fill(self, count: int) -> None:
        # no bulk enqueue in huey: its own serialized messages, inserted in one transaction
        rows = [(self.huey.storage.name, self.huey.serialize_task(self.work.s(payload(n)))) for n in range(count)]
        conn = self.huey.storage.conn
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO task (queue, data, priority) VALUES (?, ?, 0)", rows)
        conn.execute("COMMIT")

    def close(self) -> None:
        self.huey.storage.close()


class HueyRaw(Handle):
    has_ack = False

    def __init__(self, target: Target) -> None:
        from huey.storage import SqliteStorage

        self.storage = SqliteStorage(name="bench", filename=target.path)
        conn = self.storage.conn
        self.default_sync = SYNC_NAMES[conn.execute("PRAGMA synchronous").fetchone()[0]]
        conn.execute("PRAGMA synchronous = NORMAL")

    def enqueue(self, n: int) -> None:
        self.storage.enqueue(json.dumps(payload(n)).encode())

    def claim(self) -> Claim | None:
        data = self.storage.dequeue()
        return None if data is None else Claim(None, json.loads(bytes(data))["n"])

    def ack(self, claim: Claim) -> None:
        pass  # dequeue deleted the task: there is nothing to ack

    def pragmas(self) -> str:
        return read_pragmas(self.storage.conn)

    def close(self) -> None:
        self.storage.close()


class Lite(Handle):
    def __init__(self, target: Target) -> None:
        from litequeue import LiteQueue

        self.queue = LiteQueue(target.path)  # sets WAL and synchronous=NORMAL itself

    def enqueue(self, n: int) -> None:
        self.queue.put(json.dumps(payload(n)))

    def claim(self) -> Claim | None:
        message = self.queue.pop()
        return None if message is None else Claim(message.message_id, json.loads(message.data)["n"])

    def ack(self, claim: Claim) -> None:
        self.queue.done(claim.key)

    def pragmas(self) -> str:
        return read_pragmas(self.queue.conn)

    def fast_fill(self, count: int) -> None:
        with self.queue.transaction("IMMEDIATE"):
            for n in range(count):
                self.queue.put(json.dumps(payload(n)))

    def close(self) -> None:
        self.queue.close()


class Persist(Handle):
    def __init__(self, target: Target) -> None:
        from persistqueue import SQLiteAckQueue

        # auto_resume=False: with the default, every process that opens the queue puts every
        # unacked item (those other processes are working on) back to ready.
        self.queue = SQLiteAckQueue(target.path, auto_resume=False)
        conn = self.queue._putter  # the one connection (multithreading=False): _getter is the same
        self.default_sync = SYNC_NAMES[conn.execute("PRAGMA synchronous").fetchone()[0]]
        conn.execute("PRAGMA synchronous = NORMAL")

    def enqueue(self, n: int) -> None:
        self.queue.put(payload(n))

    def claim(self) -> Claim | None:
        from persistqueue import Empty

        try:
            item = self.queue.get(block=False, raw=True)
        except Empty:
            return None
        return Claim(item["pqid"], item["data"]["n"])

    def ack(self, claim: Claim) -> None:
        self.queue.ack(id=claim.key)

    def pragmas(self) -> str:
        return read_pragmas(self.queue._putter)

    def fast_fill(self, count: int) -> None:
        # put() commits each item: the fill inserts its serialized rows in one transaction
        dumps = self.queue._serializer.dumps
        now = time.time()
        conn = self.queue._putter
        with conn:
            conn.executemany(
                f"INSERT INTO {self.queue._table_name} (data, timestamp, status) VALUES (?, ?, 0)",
                ((dumps(payload(n)), now) for n in range(count)),
            )

    def close(self) -> None:
        self.queue.close()


HANDLES: dict[str, Callable[[Target], Handle]] = {
    SPARKQ_LIB: SparkLib,
    SPARKQ_HTTP: SparkHttp,
    SPARKQ_CLI: SparkCli,
    HUEY_TASK: HueyTask,
    HUEY_RAW: HueyRaw,
    LITEQUEUE: Lite,
    PERSIST: Persist,
}


def open_handle(target: Target) -> Handle:
    return HANDLES[target.kind](target)


class Retrying:
    """Calls a queue op again when it reports 'locked'/'busy', and counts how often that reached us."""

    def __init__(self) -> None:
        self.busy = 0
        self.first = ""  # the first such message, to show what reached the caller

    def __call__(self, op: Callable[[], Any]) -> Any:
        for _ in range(1000):
            try:
                return op()
            except Exception as exc:
                if not is_busy(exc):
                    raise
                self.busy += 1
                self.first = self.first or f"{type(exc).__name__}: {exc}"[:200]
        return op()


# -- the places each measurement starts from ------------------------------------------------------


@dataclass
class Places:
    """Fresh files for each measurement; the HTTP server and CLI folders live for the whole run."""

    root: Path
    http_port: int = 0
    cli_folder: Path | None = None
    count: int = 0

    def target(self, kind: str) -> Target:
        self.count += 1
        name = f"m{self.count}"
        if kind == SPARKQ_LIB:
            from queue_cycle import new_queue

            path = self.root / f"{name}.db"
            new_queue(path)  # creates the schema, session and stream "bench"
            return Target(kind, str(path))
        if kind == SPARKQ_HTTP:
            conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=30)
            body = json.dumps({"name": name, "session_id": "bench"}).encode()
            conn.request("POST", "/api/streams", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            if response.status >= 300:
                raise RuntimeError(f"creating stream {name}: {response.status} {response.read().decode()}")
            conn.close()
            return Target(kind, "", stream=name, port=self.http_port)
        if kind == SPARKQ_CLI:
            assert self.cli_folder is not None
            sparkq(self.cli_folder, "stream", "create", name, "--session", "bench")
            return Target(kind, str(self.cli_folder), stream=name)
        target = Target(kind, str(self.root / (name if kind == PERSIST else f"{name}.db")))  # persist-queue: a folder
        open_handle(target).close()  # creates the tables and switches the file to WAL, once
        return target


def sparkq(folder: Path, *args: str) -> str:
    return subprocess.run(
        [SPARKQ, *args], cwd=folder, env=clean_env(), capture_output=True, text=True, check=True
    ).stdout


@contextmanager
def sparkq_places(root: Path) -> Iterator[Places]:
    http_folder = root / "http"
    cli_folder = root / "cli"
    for folder in (http_folder, cli_folder):
        folder.mkdir()
        sparkq(folder, "session", "create", "bench")
    with running_server(http_folder, clean_env()) as (_url, port):
        yield Places(root, http_port=port, cli_folder=cli_folder)


# -- workers (spawned once, reused by every measurement) ------------------------------------------


Wait = Callable[[float], Any]


def throughput_worker(target: Target, ops: int, index: int, wait: Wait) -> dict[str, Any]:
    """Run the four phases with `ops` operations each; report (start, end, ops) per phase."""
    handle = open_handle(target)
    retry = Retrying()
    report: dict[str, Any] = {"pragmas": handle.pragmas(), "default_sync": handle.default_sync, "phases": {}}
    base = index * 1_000_000
    claimed: list[Claim] = []
    empty = 0
    for phase in PHASES:
        wait(TIMEOUT)
        if phase == "ack" and not handle.has_ack:
            report["phases"][phase] = None
            continue
        start = time.perf_counter()
        done = 0
        if phase == "enqueue":
            for k in range(ops):
                retry(lambda k=k: handle.enqueue(base + k))
            done = ops
        elif phase == "claim":
            for _ in range(ops):
                claim = retry(handle.claim)
                if claim is None:
                    empty += 1
                    break
                claimed.append(claim)
            done = len(claimed)
        elif phase == "ack":
            for claim in claimed:
                retry(lambda claim=claim: handle.ack(claim))
            done = len(claimed)
        else:
            for k in range(ops):
                retry(lambda k=k: handle.enqueue(base + 500_000 + k))
                claim = retry(handle.claim)
                if claim is None:
                    empty += 1
                    continue
                retry(lambda claim=claim: handle.ack(claim))
                done += 1
        report["phases"][phase] = (start, time.perf_counter(), done)
    report["busy"] = retry.busy
    report["first_busy"] = retry.first
    report["empty"] = empty
    handle.close()
    return report


def claim_all_worker(target: Target, wait: Wait) -> dict[str, Any]:
    """Claim until the queue is empty; report the payload numbers claimed."""
    handle = open_handle(target)
    retry = Retrying()
    seen: list[int] = []
    wait(TIMEOUT)
    while (claim := retry(handle.claim)) is not None:
        seen.append(claim.n)
    handle.close()
    return {"seen": seen, "busy": retry.busy, "first_busy": retry.first}


WORKER_FUNCTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "throughput": throughput_worker,
    "claim_all": claim_all_worker,
}


def serve(jobs: Any, out: Any, barrier: Any) -> None:
    """A worker process: run jobs until told to stop; `barrier` lines up the 4 workers of a 4-process job."""
    while (job := jobs.get()) is not None:
        name, args, procs = job
        wait: Wait = barrier.wait if procs == barrier.parties else (lambda _timeout: None)
        try:
            out.put(WORKER_FUNCTIONS[name](*args, wait))
        except BaseException:
            if procs == barrier.parties:
                barrier.abort()
            out.put({"error": traceback.format_exc()})


class Workers:
    """Four spawned interpreters (sys.executable), started once, so no measurement pays for start-up."""

    def __init__(self, count: int = max(PROCS)) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.out = ctx.Queue()
        self.jobs = [ctx.Queue() for _ in range(count)]
        self.barrier = ctx.Barrier(count)  # kept referenced: its semaphores go when it does
        self.children = [
            ctx.Process(target=serve, args=(jobs, self.out, self.barrier), daemon=True) for jobs in self.jobs
        ]
        for child in self.children:
            child.start()

    def run(self, name: str, args_for: Callable[[int], tuple[Any, ...]], procs: int) -> list[dict[str, Any]]:
        for i in range(procs):
            self.jobs[i].put((name, args_for(i), procs))
        reports: list[dict[str, Any]] = []
        deadline = time.monotonic() + TIMEOUT
        while len(reports) < procs:
            try:
                reports.append(self.out.get(timeout=1.0))
            except stdlib_queue.Empty:
                if time.monotonic() > deadline or not all(c.is_alive() for c in self.children):
                    raise RuntimeError(f"{procs - len(reports)} worker(s) died or hung without a report") from None
        for report in reports:
            if "error" in report:
                raise RuntimeError("a worker failed:\n" + report["error"])
        return reports

    def close(self) -> None:
        for jobs in self.jobs:
            jobs.put(None)
        for child in self.children:
            child.join(10)
            if child.is_alive():
                child.kill()  # only our own children, by their Process handle (PID)
                child.join(5)


@contextmanager
def workers() -> Iterator[Workers]:
    pool = Workers()
    try:
        yield pool
    finally:
        pool.close()


# -- (a) throughput -------------------------------------------------------------------------------


@dataclass
class Measure:
    rates: dict[str, float | None]
    pragmas: str
    default_sync: str
    busy: int
    first_busy: str
    empty: int


def measure(pool: Workers, places: Places, kind: str, procs: int, ops: int) -> Measure:
    target = places.target(kind)
    share = ops // procs
    reports = pool.run("throughput", lambda i: (target, share, i), procs)
    rates: dict[str, float | None] = {}
    for phase in PHASES:
        spans = [r["phases"][phase] for r in reports]
        if any(s is None for s in spans):
            rates[phase] = None
            continue
        elapsed = max(s[1] for s in spans) - min(s[0] for s in spans)
        rates[phase] = sum(s[2] for s in spans) / elapsed
    first = reports[0]
    return Measure(
        rates,
        first["pragmas"],
        first["default_sync"],
        sum(r["busy"] for r in reports),
        next((r["first_busy"] for r in reports if r["first_busy"]), ""),
        sum(r["empty"] for r in reports),
    )


# -- (b) duplicates -------------------------------------------------------------------------------


@dataclass
class Duplicates:
    tasks: int
    claims: int
    duplicated: int
    lost: int
    busy: int
    first_busy: str
    per_process: list[int]


def duplicates(pool: Workers, places: Places, kind: str, tasks: int) -> Duplicates:
    target = places.target(kind)
    handle = open_handle(target)
    for n in range(tasks):
        handle.enqueue(n)
    handle.close()
    reports = pool.run("claim_all", lambda i: (target,), 4)
    counts = Counter(n for r in reports for n in r["seen"])
    return Duplicates(
        tasks=tasks,
        claims=sum(counts.values()),
        duplicated=sum(1 for c in counts.values() if c > 1),
        lost=sum(1 for n in range(tasks) if n not in counts),
        busy=sum(r["busy"] for r in reports),
        first_busy=next((r["first_busy"] for r in reports if r["first_busy"]), ""),
        per_process=[len(r["seen"]) for r in reports],
    )


# -- (c) claim rate against the backlog -----------------------------------------------------------


def claim_rate(handle: Handle, claims: int, budget: float = 1.0) -> float:
    """Claims per second (claims timed, acks not): `claims` of them, or fewer once `budget` seconds are spent."""
    spent = 0.0
    done = 0
    while done < claims and (done < 20 or spent < budget):
        start = time.perf_counter()
        claim = handle.claim()
        spent += time.perf_counter() - start
        assert claim is not None
        done += 1
        handle.ack(claim)  # keep the in-flight set small, untimed
    handle.fast_fill(done)  # put the backlog back where it was
    return done / spent


def backlog(places: Places, kind: str, rounds: int, claims: int, small: int, large: int) -> tuple[float, float, float]:
    """Median claim rate with each backlog, and the median ratio large/small of paired rounds."""
    handles = {}
    for size in (small, large):
        handle = open_handle(places.target(kind))
        handle.fast_fill(size)
        claim_rate(handle, claims // 2)  # warm up
        handles[size] = handle
    rates: dict[int, list[float]] = {small: [], large: []}
    for r in range(rounds):
        for size in (small, large) if r % 2 == 0 else (large, small):
            rates[size].append(claim_rate(handles[size], claims))
    for handle in handles.values():
        handle.close()
    paired = [b / s for b, s in zip(rates[large], rates[small], strict=True)]
    return statistics.median(rates[small]), statistics.median(rates[large]), statistics.median(paired)


# -- (d) WAL pages per cycle ---------------------------------------------------------------------

WAL_KINDS = (SPARKQ_LIB, HUEY_TASK, HUEY_RAW, LITEQUEUE, PERSIST)


def database_file(target: Target) -> Path:
    path = Path(target.path)
    if path.is_dir():  # persist-queue keeps its database inside a folder
        (found,) = path.glob("*.db")
        return found
    return path


def wal_pages(places: Places, kind: str) -> float:
    """WAL pages written per full cycle (enqueue + claim + ack) by one process."""
    target = places.target(kind)
    handle = open_handle(target)

    def cycle(n: int) -> None:
        handle.enqueue(n)
        claim = handle.claim()
        assert claim is not None
        handle.ack(claim)

    try:
        for n in range(10):  # warm up: tables and indexes past their first pages
            cycle(n)
        return wal_pages_per_cycle(database_file(target), cycle)
    finally:
        handle.close()


# -- report ---------------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def fmt_ratio(value: float | None, base: float | None) -> str:
    return "—" if value is None or not base else f"{value / base:.2f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{h:<{widths[0]}}" if i == 0 else f"{h:>{widths[i]}}" for i, h in enumerate(header))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(f"{c:<{widths[0]}}" if i == 0 else f"{c:>{widths[i]}}" for i, c in enumerate(row)))


def versions() -> str:
    from importlib.metadata import version

    names = ("huey", "litequeue", "persist-queue")
    return ", ".join(f"{name} {version(name)}" for name in names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run with tiny numbers (not meaningful)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds of (a) (default 3; quick 1)")
    args = parser.parse_args()
    quick = args.quick
    rounds = args.rounds or (1 if quick else 3)
    ops = {SPARKQ_CLI: 4 if quick else 8, SPARKQ_HTTP: 20 if quick else 400}
    lib_ops = 40 if quick else 1000
    dup_tasks = 200 if quick else 2000
    small, large = (100, 2_000) if quick else (1_000, 100_000)
    backlog_claims = 30 if quick else 200
    backlog_rounds = 1 if quick else 2 * rounds + 1

    began = time.monotonic()
    load = os.getloadavg()
    print(
        f"SparkQ against peer queues  (python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, {versions()})"
    )
    import sparkq_domain

    print(f"SparkQ from {Path(sparkq_domain.__file__).parent.parent}")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs; rounds={rounds}", end="")
    print("  [quick: numbers are not meaningful]" if quick else "")

    results: dict[tuple[str, int], list[Measure]] = {(k, p): [] for k in KINDS for p in PROCS}
    dups: dict[str, Duplicates] = {}
    flat: dict[str, tuple[float, float, float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="sparkq-peers-") as folder,
        sparkq_places(Path(folder)) as places,
        workers() as pool,
    ):
        for r in range(rounds):
            order = KINDS[r % len(KINDS) :] + KINDS[: r % len(KINDS)]  # a different queue goes first each round
            for kind in order:
                for procs in PROCS:
                    results[(kind, procs)].append(measure(pool, places, kind, procs, ops.get(kind, lib_ops)))
            print(f"  round {r + 1}/{rounds} done at {time.monotonic() - began:.0f} s", file=sys.stderr)
        for kind in DUPLICATE_KINDS:
            dups[kind] = duplicates(pool, places, kind, dup_tasks)
        print(f"  duplicates done at {time.monotonic() - began:.0f} s", file=sys.stderr)
        for kind in BACKLOG_KINDS:
            flat[kind] = backlog(places, kind, backlog_rounds, backlog_claims, small, large)
        print(f"  backlog done at {time.monotonic() - began:.0f} s", file=sys.stderr)
        pages = {kind: wal_pages(places, kind) for kind in WAL_KINDS}

    def median_rate(kind: str, procs: int, phase: str) -> float | None:
        values = [m.rates[phase] for m in results[(kind, procs)]]
        return None if any(v is None for v in values) else statistics.median(v for v in values if v is not None)

    columns = [(procs, phase) for procs in PROCS for phase in PHASES]
    header = ["queue", *(f"{phase} x{procs}" for procs, phase in columns)]
    print()
    print("(a) ops/s; xN = N processes on the same queue; median of the rounds")
    rows, ratio_rows = [], []
    base = {c: median_rate(SPARKQ_LIB, c[0], c[1]) for c in columns}
    for kind in KINDS:
        values = {c: median_rate(kind, c[0], c[1]) for c in columns}
        rows.append([kind, *(fmt(values[c]) for c in columns)])
        ratio_rows.append([kind, *(fmt_ratio(values[c], base[c]) for c in columns)])
    print_table(header, rows)
    print()
    print("ratio to SparkQ library (same column; > 1 means faster than SparkQ library)")
    print_table(header, ratio_rows)
    print()
    print("settings each queue ran with (journal_mode/synchronous, read back from its own connection; SparkQ CLI")
    print("and HTTP connect in other processes, so theirs is the config default, not read back):")
    for kind in KINDS:
        first = results[(kind, 1)][0]
        busy = sum(m.busy for p in PROCS for m in results[(kind, p)])
        empty = sum(m.empty for p in PROCS for m in results[(kind, p)])
        note = f"; library default synchronous={first.default_sync}, set to normal by the bench" * bool(
            first.default_sync
        )
        print(f"  {kind:<26} {first.pragmas}{note}; 'locked' errors retried: {busy}; empty claims: {empty}")
        shown = next((m.first_busy for p in PROCS for m in results[(kind, p)] if m.first_busy), "")
        if shown:
            print(f"  {'':<26} first 'locked' error: {shown}")
    print(f"  - {SPARKQ_CLI}: {ops[SPARKQ_CLI]} ops per phase (one process per call, ~100 ms each); few on purpose.")
    print(f"  - {SPARKQ_HTTP}: {ops[SPARKQ_HTTP]} ops per phase; {lib_ops} for the libraries.")
    print(f"  - {HUEY_TASK}: ack = huey.execute(task), which runs the task and stores its return value.")
    print(f"  - {HUEY_RAW}: dequeue deletes the row, so there is no ack; its cycle is enqueue + dequeue.")
    print(f"  - {PERSIST}: opened with auto_resume=False in every process (its docs promise threads, not processes).")

    print()
    print(f"(b) duplicate claims: {dup_tasks:,} tasks queued, 4 processes claim until empty")
    dup_rows = [
        [
            kind,
            f"{d.tasks:,}",
            f"{d.claims:,}",
            f"{d.duplicated:,}",
            f"{d.lost:,}",
            f"{d.busy:,}",
            "/".join(str(n) for n in d.per_process),
        ]
        for kind, d in dups.items()
    ]
    print_table(["queue", "tasks", "claims", "duplicated", "lost", "'locked' retried", "claims per process"], dup_rows)
    for kind, d in dups.items():
        if d.first_busy:
            print(f"  - {kind}: first 'locked' error: {d.first_busy}")

    print()
    print(
        f"(c) claim ops/s with {small:,} vs {large:,} queued (up to {backlog_claims} claims or 1 s a round, "
        f"{backlog_rounds} rounds; acks untimed; median)"
    )
    flat_rows = [[kind, fmt(s), fmt(b), f"{ratio:.2f}"] for kind, (s, b, ratio) in flat.items()]
    print_table(["queue", f"@{small:,}", f"@{large:,}", "ratio"], flat_rows)
    print(f"  - {SPARKQ_LIB}: the backlog is filled by direct INSERTs into its schema (no bulk enqueue in the API).")
    print(f"  - {HUEY_TASK} and {PERSIST}: filled by inserting their own serialized items in one transaction.")
    print(f"  - {LITEQUEUE}: filled by put() inside one of its transactions.")

    print()
    print("(d) WAL pages written per cycle (enqueue + claim + ack), one process; fewer pages, less I/O per cycle")
    print_table(["queue", "pages/cycle"], [[kind, f"{n:.1f}"] for kind, n in pages.items()])

    def paired(kind: str, procs: int) -> float:
        pairs = zip(results[(SPARKQ_LIB, procs)], results[(kind, procs)], strict=True)
        return statistics.median(
            (ours.rates["cycle"] or 0.0) / (theirs.rates["cycle"] or 1.0) for ours, theirs in pairs
        )

    print()
    print("ratios below are SparkQ library / peer, the median of paired rounds")
    for kind in (HUEY_TASK, LITEQUEUE):
        one, four = paired(kind, 1), paired(kind, 4)
        goal = TARGET_CYCLE[kind]
        print(
            f"target: SparkQ library cycle >= {goal} x {kind}, 1 and 4 processes: {one:.2f} {verdict(one >= goal)}, "
            f"{four:.2f} {verdict(four >= goal)}"
        )
    spark_dups = dups[SPARKQ_LIB].duplicated + dups[SPARKQ_HTTP].duplicated
    print(f"target: zero duplicates for SparkQ: {verdict(spark_dups == 0)}")
    ratio = flat[SPARKQ_LIB][2]
    print(f"target: claim flat 1k->100k (>= {TARGET_BACKLOG}): {ratio:.2f} {verdict(ratio >= TARGET_BACKLOG)}")
    spark_pages = pages[SPARKQ_LIB]
    pages_ok = verdict(spark_pages <= TARGET_WAL_PAGES)
    print(f"target: WAL pages per SparkQ cycle <= {TARGET_WAL_PAGES}: {spark_pages:.1f} {pages_ok}")
    end = os.getloadavg()
    print(f"load average at the end {end[0]:.2f} {end[1]:.2f} {end[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
