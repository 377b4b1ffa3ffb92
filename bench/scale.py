"""SparkQ with a million tasks (issue 7 item 8): listing, claiming and purging at scale.

Run by hand (not a test):  .venv/bin/python bench/scale.py [--tasks 1000000] [--quick]
                                 [--batch-size N --pause S]

Generates N tasks (default 1,000,000; --quick 20,000) in one transaction: eight streams in two
sessions, 90 % finished two to thirty-two days ago with a result and a few hundred bytes of
stdout, the rest recent (finished within the day, 16 running, 2 % queued), and one change event
per task. A database of 1,000 tasks with the same mix is the baseline. Then, all in this run:

1. `sparkq tasks --limit 50` (the real console script, each a fresh process) on both databases,
   next to `python -c "import sqlite3"` by the same interpreter; the same page in-process.
2. claims per second at N tasks against 1,000: paired rounds of enqueue, timed claim, complete, in a
   stream of its own (what the size of the history costs: the target) and in a stream with its share
   of the queued tasks (2,500 at 1M against 2: the backlog's depth, and colder pages, cost too). The
   target uses each round's median claim, robust to the other programs on a shared machine.
3. a real `sparkq run` started while another process enqueues, claims and completes without a
   pause: the longest write of that process while the server trims a million change events;
   then the task list API (first page and filtered pages) and the dashboard's requests, median of
   15 on one keep-alive connection, against `GET /api/health`.
4. `sparkq purge --older-than 1d` (90 % of the tasks) while that other process writes again: the
   purge's wall time and the longest enqueue / claim / complete during it; nothing may reach the
   writer as an error. With --batch-size/--pause the purge runs through the library with those
   settings instead (to compare them).

Targets (issue 7): list requests < 100 ms, the CLI page < 100 ms more than with 1,000 tasks,
claims/s at N >= 0.8 x at 1,000, no write blocked >= 1 s during the purge, no error.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
from _support import SPARKQ, clean_env, running_server
from ui_scale import Client, median_ms

from sparkq_adapters.clock import RandomIds, SystemClock
from sparkq_adapters.event_kinds import STATUS_EVENTS, EventKind
from sparkq_adapters.sqlite import SqliteStore
from sparkq_domain import FailureKind, Queue, SparkQError, TaskStatus
from sparkq_entry import open_queue

TARGET_MS = 100.0
TARGET_CLAIM_RATIO = 0.8
TARGET_BLOCK_S = 1.0
BASELINE_TASKS = 1_000
#: the stream the writer process uses, with its share of the queued tasks; and one the claim rounds create
LANE = "api"
OWN_STREAM = "claims"

SESSIONS = {"web": ("frontend", "api", "docs", "release"), "data": ("etl", "reports", "models", "backfill")}
TOOLS = ("run-bash", "run-python", "llm-haiku", "llm-sonnet", "run-bash-fast")
#: finished long ago (what `purge --older-than 1d` deletes), queued: shares of the tasks
OLD_SHARE = 0.9
QUEUED_SHARE = 0.02
#: running tasks are the workers busy right now: a handful, whatever the history
RUNNING = 16

INSERT_TASK = (
    "INSERT INTO tasks(id, stream_id, tool_name, task_class, payload, status, timeout, attempts, result, error, "
    "stdout, stderr, created_at, updated_at, started_at, finished_at, seq, failure_kind) "
    "VALUES (?, ?, ?, 'MEDIUM_SCRIPT', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_EVENT = "INSERT INTO events(kind, subject_id, stream_id, status, at) VALUES (?, ?, ?, ?, ?)"
#: the event each task's last change recorded (a failed task here is a reported failure)
EVENT_KIND = {TaskStatus.QUEUED: EventKind.TASK_ENQUEUED, **STATUS_EVENTS}
STDOUT = (  # + the job number + ")\n"
    "collecting ... collected 214 items\n"
    "tests/test_api.py ........................................ [ 18%]\n"
    "tests/test_models.py ..................................... [ 36%]\n"
    "tests/test_views.py ...................................... [ 54%]\n"
    "tests/test_utils.py ...................................... [100%]\n"
    "214 passed in 12.31s (job "
)
STDERR = (
    'Traceback (most recent call last):\n  File "scripts/job.py", line 12, in <module>\nRuntimeError: job {n} broke\n'
)


@attrs.frozen(kw_only=True)
class Mix:
    """What `generate` wrote."""

    tasks: int
    old: int
    recent: int
    running: int
    queued: int
    streams: dict[str, str]  # name -> id


class Stamps:
    """SparkQ's timestamps (`2026-11-23T06:47:03.123456Z`) for microseconds after `epoch`, formatted fast.

    `datetime.isoformat` costs microseconds, and a million tasks need three million timestamps: the
    date-and-minute part is formatted once per minute.
    """

    def __init__(self, epoch: datetime) -> None:
        self.epoch = epoch.replace(second=0, microsecond=0)
        self._minutes: dict[int, str] = {}

    def __call__(self, micros: int) -> str:
        minute, rest = divmod(micros, 60_000_000)
        prefix = self._minutes.get(minute)
        if prefix is None:
            prefix = self._minutes[minute] = (self.epoch + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:")
        second, micro = divmod(rest, 1_000_000)
        return f"{prefix}{second:02d}.{micro:06d}Z"


def generate(db: Path, count: int) -> Mix:
    """Write `count` tasks (and one change event each, as the triggers would) in one transaction.

    90 % finished two to thirty-two days ago, the rest recent: finished within the last day,
    16 running (started ten minutes ago, far from their timeout) and 2 % queued, the newest.
    Eight streams in two sessions; finished tasks carry a result and a few hundred bytes of stdout.
    """
    store = SqliteStore(db)
    queue = Queue(store, SystemClock(), RandomIds())
    queue.ensure_project("scale")
    streams: dict[str, str] = {}
    for session, names in SESSIONS.items():
        queue.create_session(session)
        for name in names:
            streams[name] = queue.create_stream(name, session, instructions=f"Work on {name}.").id
    store.close()  # the bulk load below turns the journal off, which needs the file to itself
    lanes = list(streams.values())
    running = min(RUNNING, count // 10)
    queued = max(1, int(count * QUEUED_SHARE))
    old = int(count * OLD_SHARE)
    recent = count - old - running - queued
    stamp = Stamps(datetime.now(UTC) - timedelta(days=33))
    now = (datetime.now(UTC) - stamp.epoch) // timedelta(microseconds=1)
    day, hour, minute = 86_400_000_000, 3_600_000_000, 60_000_000
    # (first created_at, spacing, what) per slice of the history, oldest first, in microseconds after the epoch
    plan = [
        (now - 32 * day, 30 * day // max(old, 1), "old"),
        (now - 20 * hour, 19 * hour // max(recent, 1), "recent"),
        (now - 10 * minute, 1_000_000, "running"),
        (now - 5 * minute, 4 * minute // queued, "queued"),
    ]

    sizes = {"old": old, "recent": recent, "running": running, "queued": queued}
    events: list[tuple[str, str, str, str, str]] = []

    def rows() -> Iterator[tuple[Any, ...]]:
        n = 0
        for start, step, part in plan:
            for k in range(sizes[part]):
                created = start + step * k
                lane = lanes[n % len(lanes)]
                task_id = f"tsk_{n:012x}"
                started = finished = result = error = stdout = stderr = None
                timeout, attempts = 300, 1
                if part == "queued":
                    status, attempts = "queued", 0
                elif part == "running":
                    status, timeout, started = "running", 3600, stamp(created + 1_000_000)
                else:
                    status = "failed" if n % 7 == 3 else "succeeded"
                    started = stamp(created + 5_000_000)
                    finished = stamp(created + (15 + n % 50) * 1_000_000)
                    stdout = STDOUT + str(n) + ")\n"
                    if status == "succeeded":
                        result = (
                            f'{{"summary":"Ran job {n}: 214 tests passed","data":{{"files":["src/app.py",'
                            f'"tests/test_app.py"],"duration_ms":{12000 + n % 997}}}}}'
                        )
                    else:
                        error = f"Exit status 1: job {n} broke"
                        stderr = STDERR.format(n=n)
                created_text = stamp(created)
                last = finished or started or created_text
                events.append((EVENT_KIND[TaskStatus(status)].value, task_id, lane, status, last[:23] + "Z"))
                yield (
                    task_id, lane, TOOLS[n % len(TOOLS)], f'{{"script":"scripts/job-{n}.sh","args":["--ci"]}}',
                    status, timeout, attempts, result, error, stdout, stderr, created_text, last, started,
                    finished, n + 1, FailureKind.ERROR.value if status == "failed" else None,
                )  # fmt: skip
                n += 1

    conn = sqlite3.connect(db, isolation_level=None)
    # A bulk load into a new file, written once: no journal, no fsync, a cache that holds it all (a crash
    # here loses only the benchmark's file). Back to WAL afterwards, as SparkQ runs it.
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -2000000")
    conn.execute("BEGIN IMMEDIATE")
    # the events are written explicitly with their historical times; the insert trigger would stamp "now"
    trigger = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'events_task_inserted'")
    trigger_sql = trigger.fetchone()[0]
    conn.execute("DROP TRIGGER events_task_inserted")
    conn.executemany(INSERT_TASK, rows())
    conn.executemany(INSERT_EVENT, events)
    conn.execute(trigger_sql)
    conn.execute("COMMIT")
    if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
        raise SystemExit("could not put the generated database back into WAL mode")
    conn.close()
    return Mix(tasks=count, old=old, recent=recent, running=running, queued=queued, streams=streams)


# -- the writer: another process that enqueues, claims and completes without a pause ------------------


def writer(db: str, ready: str, stop: str, out: str, seconds: float) -> None:
    """Enqueue, claim and complete in a loop until `stop` exists; write each call's start, kind, time, error."""
    queue = open_queue(db)
    records: list[tuple[float, str, float, str | None]] = []

    def timed(kind: str, call: Any) -> Any:
        start = time.monotonic()
        try:
            value = call()
            error = None
        except SparkQError as exc:  # e.g. "database is locked": exactly what must not happen
            value, error = None, f"{type(exc).__name__}: {exc}"
        records.append((start, kind, time.monotonic() - start, error))
        return value

    deadline = time.monotonic() + seconds
    n = 0
    while not Path(stop).exists() and time.monotonic() < deadline:
        payload = {"script": f"scripts/load-{n}.sh"}
        timed("enqueue", lambda p=payload: queue.enqueue(LANE, "run-bash", p))
        claimed = timed("claim", lambda: queue.claim(LANE))
        if claimed is not None:
            done = claimed.task.id
            timed("complete", lambda t=done: queue.complete(t, {"summary": "done"}, stdout="ok\n"))
        if n == 0:
            Path(ready).touch()
        n += 1
    Path(out).write_text(json.dumps(records))


class Writer:
    """Runs `writer` in a child process (same interpreter) and collects its records."""

    def __init__(self, folder: Path, db: Path, seconds: float = 900) -> None:
        self._files = {name: folder / f"writer-{name}" for name in ("ready", "stop", "out")}
        for path in self._files.values():
            path.unlink(missing_ok=True)
        self._proc = subprocess.Popen(
            [sys.executable, __file__, "--writer", str(db), *(str(p) for p in self._files.values()), str(seconds)]
        )
        deadline = time.monotonic() + 60
        while not self._files["ready"].exists():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the writer process did not start")
            time.sleep(0.01)

    def stop(self) -> list[tuple[float, str, float, str | None]]:
        self._files["stop"].touch()
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait()
            raise SystemExit("the writer process did not stop") from None
        if self._proc.returncode != 0:
            raise SystemExit(f"the writer process failed (exit {self._proc.returncode})")
        return [tuple(r) for r in json.loads(self._files["out"].read_text())]


@attrs.frozen(kw_only=True)
class Blocking:
    """What the writer saw during a window of time."""

    calls: int
    longest: dict[str, float]
    p99: float
    errors: list[str]

    @property
    def worst(self) -> float:
        return max(self.longest.values(), default=0.0)


def during(records: list[tuple[float, str, float, str | None]], start: float, end: float) -> Blocking:
    """The writer's calls that overlapped [start, end]."""
    inside = [r for r in records if r[0] <= end and r[0] + r[2] >= start]
    longest: dict[str, float] = {}
    for _, kind, seconds, _ in inside:
        longest[kind] = max(longest.get(kind, 0.0), seconds)
    times = sorted(r[2] for r in inside)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))] if times else 0.0
    return Blocking(calls=len(inside), longest=longest, p99=p99, errors=[r[3] for r in inside if r[3]])


def blocking_line(what: Blocking) -> str:
    parts = ", ".join(f"{kind} {seconds * 1000:.0f} ms" for kind, seconds in sorted(what.longest.items()))
    return f"{what.calls:,} writes; longest: {parts}; p99 {what.p99 * 1000:.1f} ms; errors: {len(what.errors)}"


# -- 1. the CLI page --------------------------------------------------------------------------------------


def wall_ms(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=True)
    return (time.perf_counter() - start) * 1000


def cli_page(big: Path, small: Path, env: dict[str, str], rounds: int) -> dict[str, float]:
    """Median wall time of the floor and of `sparkq tasks --limit 50` on each database, interleaved."""
    floor = [sys.executable, "-c", "import sqlite3"]
    tasks = [SPARKQ, "tasks", "--limit", "50"]
    for _ in range(2):  # warm the page cache and the .pyc files
        wall_ms(tasks, big, env), wall_ms(tasks, small, env), wall_ms(floor, small, env)
    times: dict[str, list[float]] = {"floor": [], "small": [], "big": []}
    for _ in range(rounds):
        times["floor"].append(wall_ms(floor, small, env))
        times["small"].append(wall_ms(tasks, small, env))
        times["big"].append(wall_ms(tasks, big, env))
    return {k: statistics.median(v) for k, v in times.items()}


def in_process_page_ms(db: Path, rounds: int = 15) -> float:
    """`Queue.list_tasks(limit=50)` (page and total) as `sparkq tasks` calls it, median, in this process."""
    queue = open_queue(db)
    queue.list_tasks(limit=50)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        queue.list_tasks(limit=50)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


# -- 2. claims per second --------------------------------------------------------------------------


def claim_times(queue: Queue, stream: str, claims: int) -> list[float]:
    """Seconds per claim; an enqueue before and a complete after each keep the backlog and the running set."""
    times = []
    for n in range(claims):
        queue.enqueue(stream, "run-bash", {"n": n})
        start = time.perf_counter()
        claimed = queue.claim(stream)
        times.append(time.perf_counter() - start)
        assert claimed is not None
        queue.complete(claimed.task.id, {"summary": "done"})
    return times


@attrs.frozen(kw_only=True)
class ClaimSpeed:
    """claims/s with each database and the median ratio big/small of paired rounds, two ways: from the
    median claim of each round (what the target uses: a claim descheduled by another program on the shared
    machine moves it little) and from each round's total time."""

    small: float
    big: float
    ratio: float
    small_total: float
    big_total: float
    ratio_total: float


def claim_speed(big: Path, small: Path, stream: str, rounds: int, claims: int) -> ClaimSpeed:
    queues = {"small": open_queue(small), "big": open_queue(big)}
    for queue in queues.values():
        if stream == OWN_STREAM:
            queue.create_stream(OWN_STREAM, "web")
        claim_times(queue, stream, claims // 2)  # warm up
    median: dict[str, list[float]] = {"small": [], "big": []}
    total: dict[str, list[float]] = {"small": [], "big": []}
    for r in range(rounds):
        for name in ("small", "big") if r % 2 == 0 else ("big", "small"):
            times = claim_times(queues[name], stream, claims)
            median[name].append(1 / statistics.median(times))
            total[name].append(len(times) / sum(times))

    def paired(rates: dict[str, list[float]]) -> float:
        return statistics.median(b / s for b, s in zip(rates["big"], rates["small"], strict=True))

    return ClaimSpeed(
        small=statistics.median(median["small"]),
        big=statistics.median(median["big"]),
        ratio=paired(median),
        small_total=statistics.median(total["small"]),
        big_total=statistics.median(total["big"]),
        ratio_total=paired(total),
    )


# -- 3. the server ----------------------------------------------------------------------------------


def event_span(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT IFNULL(MAX(seq) - MIN(seq) + 1, 0) FROM events").fetchone()[0])
    finally:
        conn.close()


def server_phase(folder: Path, db: Path, env: dict[str, str], mix: Mix) -> tuple[Blocking, int, list[Any]]:
    """Start a server under write load; time the list and dashboard requests. Return the writer's view of the
    start-up, the events left, and the request rows (name, path, ms)."""
    from sparkq_adapters.sqlite.changes import KEEP_EVENTS

    load = Writer(folder, db)
    start = time.monotonic()
    with running_server(folder, env) as (_, port):
        deadline = time.monotonic() + 300
        while event_span(db) > KEEP_EVENTS + 1000 and time.monotonic() < deadline:
            time.sleep(0.2)  # the server trims the change feed at start, in batches
        end = time.monotonic()
        records = load.stop()
        left = event_span(db)
        lane = mix.streams["etl"]
        client = Client(port)
        paths = [
            ("GET /api/health (baseline)", "/api/health", None),
            ("GET /api/tasks?limit=50", "/api/tasks?limit=50", TARGET_MS),
            ("GET /api/tasks?status=failed&limit=50", "/api/tasks?status=failed&limit=50", TARGET_MS),
            ("GET /api/tasks?stream_id=…&limit=50", f"/api/tasks?stream_id={lane}&limit=50", TARGET_MS),
            ("GET /api/tasks?stream_id=…&status=queued", f"/api/tasks?stream_id={lane}&status=queued", TARGET_MS),
            ("GET /api/tasks?stream_id=…&offset=5000", f"/api/tasks?stream_id={lane}&offset=5000", None),
            ("GET /api/status (dashboard)", "/api/status", None),
            ("GET /api/stats (dashboard charts)", "/api/stats", None),
            ("GET /api/streams (task counts)", "/api/streams", None),
        ]
        # every path in each round, so a noisy moment hits all alike (the health baseline too)
        medians = median_ms(client, [path for _, path, _ in paths])
        rows = [(name, path, medians[path], target) for name, path, target in paths]
    return during(records, start, end), left, rows


# -- 4. the purge -----------------------------------------------------------------------------------


PURGE_BY_LIBRARY = (
    "import sys; from datetime import timedelta; from sparkq_entry import open_queue; "
    "n = open_queue(sys.argv[1]).purge(timedelta(days=1), batch_size=int(sys.argv[2]), pause=float(sys.argv[3])); "
    "print(f'Deleted {n} finished task(s) older than 1d')"
)


def purge_phase(
    folder: Path, db: Path, env: dict[str, str], batch_size: int | None, pause: float | None
) -> tuple[Blocking, float, int]:
    """Purge under write load; return the writer's view, the purge's wall time and how many it deleted."""
    if batch_size is None and pause is None:
        cmd = [SPARKQ, "purge", "--older-than", "1d"]
    else:
        from sparkq_domain.services import PURGE_BATCH, PURGE_PAUSE

        size = PURGE_BATCH if batch_size is None else batch_size
        gap = PURGE_PAUSE if pause is None else pause
        cmd = [sys.executable, "-c", PURGE_BY_LIBRARY, str(db), str(size), str(gap)]
    load = Writer(folder, db)
    time.sleep(0.5)
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, check=False)
    end = time.monotonic()
    time.sleep(0.5)
    records = load.stop()
    if done.returncode != 0:
        raise SystemExit(f"the purge failed: {done.stderr.strip()}")
    match = re.search(r"Deleted (\d+) finished task", done.stdout)
    if match is None:
        raise SystemExit(f"unexpected purge output: {done.stdout!r}")
    return during(records, start, end), end - start, int(match.group(1))


# -- report -----------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def prepare(folder: Path, count: int) -> tuple[Path, Mix, float]:
    folder.mkdir()
    # the server must not purge at start here: the purge is measured on its own, under load
    (folder / "sparkq.yml").write_text("purge: {older_than_days: 3650}\n")
    db = folder / "sparkq.db"
    start = time.perf_counter()
    mix = generate(db, count)
    return db, mix, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, help="tasks in the big database (default 1,000,000; quick 20,000)")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run: small numbers, not meaningful")
    parser.add_argument("--batch-size", type=int, help="purge through the library with this batch size")
    parser.add_argument("--pause", type=float, help="purge through the library with this pause (seconds)")
    parser.add_argument("--writer", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        db, ready, stop, out, seconds = args.writer
        writer(db, ready, stop, out, float(seconds))
        return 0

    count = args.tasks or (20_000 if args.quick else 1_000_000)
    rounds, claims, cli_rounds = (2, 30, 2) if args.quick else (21, 100, 11)
    env = clean_env()
    print(f"SparkQ at scale: {count:,} tasks  (python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version})")
    if args.quick:
        print("[quick: the numbers are not meaningful]")
    with tempfile.TemporaryDirectory(prefix="sparkq-scale-") as tmp:
        big, mix, took = prepare(Path(tmp) / "big", count)
        print(
            f"generated {mix.tasks:,} tasks ({mix.old:,} finished > 1 day ago, {mix.recent:,} recent, "
            f"{mix.running} running, {mix.queued:,} queued) and {mix.tasks:,} events in {took:.1f} s"
        )
        small, small_mix, _ = prepare(Path(tmp) / "small", BASELINE_TASKS)

        cli = cli_page(big.parent, small.parent, env, cli_rounds)
        in_process = in_process_page_ms(big)
        claim = claim_speed(big, small, OWN_STREAM, rounds, claims)
        backlog = claim_speed(big, small, LANE, rounds, claims)
        started, events_left, requests = server_phase(big.parent, big, env, mix)
        purged, purge_s, deleted = purge_phase(big.parent, big, env, args.batch_size, args.pause)
        events_after = event_span(big)

    n = f"{count:,}"
    print(f"\n1. `sparkq tasks --limit 50`, median of {cli_rounds} (each a fresh process)")
    for label, ms in (
        ("python -c 'import sqlite3' (the floor)", cli["floor"]),
        (f"with {BASELINE_TASKS:,} tasks", cli["small"]),
        (f"with {n} tasks", cli["big"]),
    ):
        print(f"   {label:<44}{ms:>8.1f} ms {ms / cli['floor']:>6.2f}x floor")
    print(f"   {'the same page in-process (list + total), ' + n:<44}{in_process:>8.1f} ms")
    print(f"\n2. claims/s (enqueue and complete around each claim untimed), median of {rounds} paired rounds")
    print(f"   {'claims/s':<44}{'1,000 tasks':>12}{n + ' tasks':>16}{'ratio':>8}")
    for label, speed in ((f"a stream of its own ({OWN_STREAM})", claim), (f"{LANE}, with its queued backlog", backlog)):
        print(f"   {label + ', median claim':<44}{speed.small:>12,.0f}{speed.big:>16,.0f}{speed.ratio:>8.2f}")
        print(
            f"   {label + ', total time':<44}{speed.small_total:>12,.0f}{speed.big_total:>16,.0f}"
            f"{speed.ratio_total:>8.2f}"
        )
    per_lane = f"~{small_mix.queued // 8:,} with 1,000 tasks, ~{mix.queued // 8:,} with {n}"
    print(f"   (each claim takes the oldest queued task: {OWN_STREAM} has just the one enqueued, {LANE} {per_lane})")
    print("\n3. a server started under write load (it trims the change feed at start)")
    print(f"   writer during start-up: {blocking_line(started)}; events left: {events_left:,}")
    print(f"   {'request, median of 15, keep-alive':<44}{'ms':>8}{'x health':>10}")
    base = requests[0][2]
    for name, _, ms, _ in requests:
        print(f"   {name:<44}{ms:>8.1f}{ms / base:>10.1f}")
    if args.batch_size is None and args.pause is None:
        print("\n4. `sparkq purge --older-than 1d` under write load")
    else:
        print(f"\n4. purge through the library (batch {args.batch_size}, pause {args.pause}) under write load")
    print(f"   deleted {deleted:,} of {mix.old:,} old tasks in {purge_s:.1f} s ({deleted / purge_s:,.0f} tasks/s)")
    print(f"   writer during the purge: {blocking_line(purged)}")
    print(f"   events left after the purge: {events_after:,}")
    for error in sorted(set(started.errors + purged.errors))[:5]:
        print(f"   error seen by the writer: {error}")

    print()
    checks = []
    for name, _, ms, target in requests:
        if target is not None:
            checks.append((f"{name} < {target:.0f} ms: {ms:.1f} ms", ms < target))
    extra = cli["big"] - cli["small"]
    errors = started.errors + purged.errors
    checks += [
        (f"sparkq tasks --limit 50 at {n} - at 1,000 < {TARGET_MS:.0f} ms: {extra:.1f} ms", extra < TARGET_MS),
        (f"claims/s at {n} / at 1,000 >= {TARGET_CLAIM_RATIO}: {claim.ratio:.2f}", claim.ratio >= TARGET_CLAIM_RATIO),
        (f"longest write during the purge < {TARGET_BLOCK_S:.0f} s: {purged.worst:.2f} s", purged.worst < 1),
        (f"longest write during server start < {TARGET_BLOCK_S:.0f} s: {started.worst:.2f} s", started.worst < 1),
        (f"no error reached the writer: {len(errors)}", not errors),
        (f"purge deleted exactly the old tasks: {deleted:,} of {mix.old:,}", deleted == mix.old),
    ]  # fmt: skip
    for text, ok in checks:
        print(f"target: {text} {verdict(ok)}")
    failed = [text for text, ok in checks if not ok]
    return 1 if failed and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
