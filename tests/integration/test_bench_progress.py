"""`bench/progress.py` still runs: a small database, one round, every measure printed with its verdict."""

from __future__ import annotations

import re

import pytest

from tests.integration.bench_support import run_bench

pytestmark = pytest.mark.slow


def test_progress_benchmark_small_run_prints_the_check_ratio_and_the_purge_share() -> None:
    out = run_bench("progress.py", "--tasks", "2000", "--rounds", "2")
    assert re.search(r"^2,000 tasks, [\d,]+ MiB; load average \d+\.\d$", out, re.MULTILINE), out
    assert re.search(r"^start-up check: .* ratio \d+\.\d{3} \((PASS|FAIL), target <= 1\.05\)$", out, re.MULTILINE), out
    assert re.search(
        r"^purge: 1,800 of [\d,]+ finished tasks deleted in .* \((PASS|FAIL), target <= 2%\)$", out, re.M
    ), out
