"""Many processes claiming from one PostgreSQL database: bench/contention.py's workers, on PostgreSQL.

Used by tests/pg/test_pg_contention.py: `prepare` fills the database, `run` starts the benchmark's
worker processes (`bench/contention.py --worker URL STREAMS START_FLAG OUT`: each opens its own
`Queue`, waits for START_FLAG, claims from the streams in turn until every stream is empty, and
writes its claims and any error that reached it to OUT as JSON), and the rest reads the result.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SESSION = "contention"
#: the benchmark whose worker processes claim here
BENCH = Path(__file__).resolve().parents[2] / "bench" / "contention.py"

#: per stream, each claimed task's enqueue `seq`, in the order the claims committed (commit timestamps,
#: `track_commit_timestamp`) and, beside it, in the order the claims took their task (the claim's event)
CLAIM_ORDER = (
    "SELECT s.name, t.seq, pg_xact_commit_timestamp(t.xmin), e.seq FROM tasks t "
    "JOIN streams s ON s.id = t.stream_id JOIN events e ON e.subject_id = t.id AND e.kind = 'task.claimed' "
    "ORDER BY s.name, pg_xact_commit_timestamp(t.xmin), e.seq"
)


def stream_names(count: int) -> list[str]:
    return [f"lane-{i}" for i in range(count)]


def _queue(url: str) -> Any:
    from sparkq_adapters.clock import RandomIds, SystemClock
    from sparkq_adapters.postgres import PostgresStore
    from sparkq_domain import Queue

    queue = Queue(PostgresStore(url, pool_size=1), SystemClock(), RandomIds())
    queue.ensure_project("contention")
    return queue


def prepare(url: str, tasks: int, streams: int) -> None:
    queue = _queue(url)
    queue.create_session(SESSION)
    names = stream_names(streams)
    for name in names:
        queue.create_stream(name, SESSION)
    for n in range(tasks):
        queue.enqueue(names[n % streams], "run-bash", {"script": "job.sh", "n": n})


def run(url: str, processes: int, streams: int, folder: Path) -> tuple[list[dict[str, Any]], float]:
    """Start `processes` workers together; their results and the seconds from the start to the last one's end."""
    start_flag = folder / "go"
    outs = [folder / f"worker-{i}.json" for i in range(processes)]
    # bench/contention.py's workers (the same claim loop as the SQLite run), on this database
    procs = [
        subprocess.Popen([sys.executable, str(BENCH), "--worker", url, str(streams), str(start_flag), str(out)])
        for out in outs
    ]
    try:
        while not all(
            out.with_suffix(".ready").exists() or proc.poll() is not None for out, proc in zip(outs, procs, strict=True)
        ):
            time.sleep(0.05)  # every interpreter started and connected
        began = time.perf_counter()
        start_flag.touch()
        for proc in procs:
            assert proc.wait(timeout=600) == 0, f"a worker exited with {proc.returncode}"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    return [json.loads(out.read_text()) for out in outs], time.perf_counter() - began


def claim_order(url: str, schema: str = "sparkq") -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Per stream, the enqueue `seq` of each claimed task: by claim commit order, and by the claims' events."""
    import psycopg

    by_commit: dict[str, list[int]] = {}
    by_event: dict[str, list[tuple[int, int]]] = {}
    with psycopg.connect(url, options=f"-c search_path={schema}") as conn:
        for name, seq, _committed, event in conn.execute(CLAIM_ORDER):
            by_commit.setdefault(name, []).append(seq)
            by_event.setdefault(name, []).append((event, seq))
    return by_commit, {name: [seq for _, seq in sorted(pairs)] for name, pairs in by_event.items()}


def enqueue_order(url: str, schema: str = "sparkq") -> dict[str, tuple[str, int]]:
    """Each task's stream name and enqueue `seq`."""
    import psycopg

    with psycopg.connect(url, options=f"-c search_path={schema}") as conn:
        rows = conn.execute("SELECT t.id, s.name, t.seq FROM tasks t JOIN streams s ON s.id = t.stream_id")
        return {task_id: (name, seq) for task_id, name, seq in rows}


def inversions(seqs: list[int]) -> int:
    """How many claims came after a claim of a later-enqueued task (0: FIFO)."""
    highest, found = -1, 0
    for seq in seqs:
        if seq < highest:
            found += 1
        highest = max(highest, seq)
    return found
