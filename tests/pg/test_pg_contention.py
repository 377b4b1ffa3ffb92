"""Contention on PostgreSQL: 16 processes claiming 5,000 tasks from 2 streams of one database.

Each task is claimed exactly once, no error reaches any caller, and each stream's claims commit in
enqueue order (FIFO by claim commit order, as on SQLite): read from the commit timestamps of the
claims (`track_commit_timestamp`, on a cluster of its own) and from the order of the claims' events.
Without the claims' turn on their stream (repository.CLAIM_NEXT), `FOR UPDATE SKIP LOCKED` alone let
a claimer take the next task while an earlier claimer still held the one before, and the later claim
often committed first (about 800 of 2,500 per stream).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg.pg_contention import claim_order, enqueue_order, inversions, prepare, run
from tests.postgres_support import Cluster

PROCESSES = int(os.environ.get("SPARKQ_PG_CONTENTION_PROCESSES", "16"))
TASKS = int(os.environ.get("SPARKQ_PG_CONTENTION_TASKS", "5000"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def timed_cluster() -> Iterator[Cluster]:
    """A cluster that records when each transaction committed (a setting that needs a cluster of its own)."""
    cluster = Cluster(settings={"track_commit_timestamp": "on"})
    try:
        yield cluster
    finally:
        cluster.stop()


def test_sixteen_processes_claim_five_thousand_tasks_each_once_in_fifo_order_without_errors(
    timed_cluster: Cluster, tmp_path: Path
) -> None:
    url = timed_cluster.url(timed_cluster.new_database())
    prepare(url, TASKS, 2)
    results, seconds = run(url, PROCESSES, 2, tmp_path)
    claimed = [task_id for r in results for task_id, _ in r["claims"]]
    errors = [e for r in results for e in r["errors"]]
    by_commit, by_event = claim_order(url)
    print(
        f"\n{PROCESSES} processes claimed {len(claimed)} tasks in {seconds:.2f} s ({len(claimed) / seconds:.0f}/s); "
        f"out of FIFO by commit order {[inversions(s) for s in by_commit.values()]}, "
        f"by the claims' events {[inversions(s) for s in by_event.values()]}"
    )
    assert errors == [], (errors[:5], _server_errors(timed_cluster))
    assert (len(claimed), len(set(claimed))) == (TASKS, TASKS)
    assert {name: len(seqs) for name, seqs in by_commit.items()} == {"lane-0": TASKS // 2, "lane-1": TASKS // 2}
    assert [inversions(seqs) for seqs in by_commit.values()] == [0, 0], "FIFO per stream by claim commit order"
    assert [inversions(seqs) for seqs in by_event.values()] == [0, 0], "and by the order of the claims' events"
    tasks = enqueue_order(url)
    for result in results:  # and so each process gets each stream's tasks in enqueue order
        mine: dict[str, list[int]] = {}
        for task_id, _ in result["claims"]:
            name, seq = tasks[task_id]
            mine.setdefault(name, []).append(seq)
        assert all(inversions(seqs) == 0 for seqs in mine.values()), mine


def _server_errors(cluster: Cluster) -> list[str]:
    """What PostgreSQL logged about failed statements (which locks, which statements)."""
    log = (cluster.folder / "log").read_text(errors="replace").splitlines()
    return [line for line in log if any(f" {kind}:  " in line for kind in ("ERROR", "DETAIL", "STATEMENT"))][:40]
