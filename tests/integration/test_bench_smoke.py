"""The queue benchmark still runs: `bench/queue_cycle.py --quick` exits 0 and prints its table and ratios."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "queue_cycle.py"


def test_queue_cycle_benchmark_quick_run_prints_the_table_and_both_ratios() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for row in ("cycles/s, library, 1 process", "cycles/s, raw sqlite3", "4 processes total", "claims/s, library"):
        assert row in out, out
    assert re.search(r"^ratio library/raw: \d+\.\d\d ", out, re.MULTILINE), out
    assert re.search(r"^ratio backlog [\d,]+/[\d,]+: \d+\.\d\d ", out, re.MULTILINE), out
