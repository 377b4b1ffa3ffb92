"""Contention: 16 processes claiming 5,000 tasks from 2 streams (bench/contention.py, run for real).

Each task is claimed exactly once, each stream's tasks are claimed in enqueue order as the database
committed the claims, and no error ("database is locked" included) reaches any caller. The latency
figures are printed by the benchmark itself; the test only reports them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "contention.py"

pytestmark = pytest.mark.slow


def test_sixteen_processes_claim_five_thousand_tasks_each_once_in_fifo_order_without_errors() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--processes", "16", "--tasks", "5000", "--streams", "2", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["errors"] == [], figures["errors"][:5]
    assert (figures["claimed"], figures["distinct"], figures["duplicates"], figures["missing"]) == (5000, 5000, 0, 0)
    assert figures["streams_claimed"] == {"lane-0": 2500, "lane-1": 2500}
    assert figures["fifo_per_stream"] is True
    print(f"\nclaim latency with 16 processes: {figures['latency_ms']} (one process: {figures['baseline_latency_ms']})")
