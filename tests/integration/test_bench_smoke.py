"""The benchmarks still run: `bench/queue_cycle.py`, `peers.py`, `scale.py` with `--quick` exit 0 and print tables."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "queue_cycle.py"
PEERS = BENCH.parent / "peers.py"


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


def test_peers_benchmark_quick_run_prints_every_queue_the_duplicates_and_the_target_lines() -> None:
    done = subprocess.run(
        [sys.executable, str(PEERS), "--quick"], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for queue in ("SparkQ library", "SparkQ HTTP", "SparkQ CLI", "huey task API", "litequeue", "persist-queue"):
        assert re.search(rf"^{re.escape(queue)} +[\d,]+ ", out, re.MULTILINE), out
    # every queue ran in WAL mode with synchronous=NORMAL (read back from the connection where it can be)
    assert len(re.findall(r"^  \S.* wal/normal", out, re.MULTILINE)) == 7, out
    assert re.search(r"^SparkQ library +[\d,]+ +[\d,]+ +0 +0 ", out, re.MULTILINE), out  # no duplicate, none lost
    for peer in ("huey task API", "litequeue"):
        assert re.search(rf"^target: SparkQ library cycle >= {peer}: \d+\.\d\d (PASS|FAIL)", out, re.MULTILINE), out
    assert re.search(r"^target: zero duplicates for SparkQ: PASS$", out, re.MULTILINE), out
    assert re.search(r"^target: claim flat 1k->100k \(>= 0\.8\): \d+\.\d\d (PASS|FAIL)$", out, re.MULTILINE), out


def test_scale_benchmark_quick_run_prints_every_measure_and_the_target_lines() -> None:
    scale = BENCH.parent / "scale.py"
    done = subprocess.run(
        [sys.executable, str(scale), "--quick"], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"^generated 20,000 tasks \(18,000 finished > 1 day ago, .* in [\d.]+ s$", out, re.MULTILINE), out
    for line in (
        r"with 20,000 tasks +[\d.]+ ms +[\d.]+x floor",
        r"a stream of its own \(claims\), median claim +[\d,]+ +[\d,]+ +\d+\.\d\d",
        r"writer during start-up: [\d,]+ writes; longest: .*; errors: 0",
        r"GET /api/status \(dashboard\) +[\d.]+ +[\d.]+",
        r"deleted 18,000 of 18,000 old tasks in [\d.]+ s",
        r"writer during the purge: [\d,]+ writes; longest: .*; errors: 0",
    ):
        assert re.search(line, out), (line, out)
    targets = re.findall(r"^target: (.*) (PASS|FAIL)$", out, re.MULTILINE)
    assert len(targets) == 10, out
    # behaviour, not timing: nothing reached the writer as an error, and the purge deleted exactly the old tasks
    assert ("no error reached the writer: 0", "PASS") in targets, out
    assert ("purge deleted exactly the old tasks: 18,000 of 18,000", "PASS") in targets, out
