"""Many processes claiming from one PostgreSQL database: bench/contention.py's workers, on PostgreSQL.

Used by tests/pg/test_pg_contention.py: `prepare` fills the database and `run` starts the benchmark's
worker processes (both bench/contention.py's own: each worker opens its own `Queue`, waits for the
start, claims from the streams in turn until every stream is empty, and writes its claims and any
error that reached it as JSON); the rest reads the result from the database.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

#: the benchmark whose worker processes claim here
BENCH = Path(__file__).resolve().parents[2] / "bench" / "contention.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sparkq_bench_contention", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_BENCH = _bench()
prepare = _BENCH.prepare
run = _BENCH.run_workers

#: per stream, each claimed task's enqueue `seq`, in the order the claims committed (commit timestamps,
#: `track_commit_timestamp`) and, beside it, in the order the claims took their task (the claim's event)
CLAIM_ORDER = (
    "SELECT s.name, t.seq, pg_xact_commit_timestamp(t.xmin), e.seq FROM tasks t "
    "JOIN streams s ON s.id = t.stream_id JOIN events e ON e.subject_id = t.id AND e.kind = 'task.claimed' "
    "ORDER BY s.name, pg_xact_commit_timestamp(t.xmin), e.seq"
)


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
