"""`bench/postgres.py --quick` still runs: it starts its own cluster, exits 0 and prints every line of its report."""

from __future__ import annotations

import re

import pytest

from tests.integration.bench_support import run_bench

pytestmark = pytest.mark.slow


def test_postgres_benchmark_quick_run_prints_every_measure_the_targets_and_the_wake_up_latency() -> None:
    out = run_bench("postgres.py", "--quick")
    assert re.search(r"^load average \d+\.\d\d .*; \d+ CPUs$", out, re.MULTILINE), out
    assert re.search(r"^PostgreSQL \(throwaway cluster, loopback TCP\): .*fsync=", out, re.MULTILINE), out
    for what in ("cycles", "claims"):
        for processes in ("1 process", "8 processes"):
            row = rf"^{what}/s, {processes} +[\d,]+ +[\d,]+ +[\d,]+ +\d+\.\d\d +\d+\.\d\d$"
            assert re.search(row, out, re.MULTILINE), (row, out)
        line = rf"^target: library/raw {what}, 1 process >= 0\.7: \d+\.\d\d (PASS|FAIL)$"
        assert re.search(line, out, re.MULTILINE), (line, out)
        line = rf"^target: library {what}, 8 / 1 processes >= 2: \d+\.\d\d (PASS|FAIL)$"
        assert re.search(line, out, re.MULTILINE), (line, out)
    wake = r"^claim --wait wake-up over 3 enqueues .*: p50 [\d.]+ ms, p95 [\d.]+ ms, max [\d.]+ ms$"
    assert re.search(wake, out, re.MULTILINE), out
    assert re.search(r"^sparkq claim --wait console script over 1 enqueues .*: p50 [\d.]+ ms", out, re.MULTILINE), out
    assert re.search(r"^load average at the end \d", out, re.MULTILINE), out
