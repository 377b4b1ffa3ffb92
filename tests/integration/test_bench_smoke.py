"""The benchmarks still run: `bench/queue_cycle.py`, `peers.py`, `scale.py`, `http_api.py` with `--quick` exit 0 and
print tables."""

from __future__ import annotations

import re

import pytest

from tests.integration.bench_support import run_bench

pytestmark = pytest.mark.slow


def test_queue_cycle_benchmark_quick_run_prints_the_table_and_both_ratios() -> None:
    out = run_bench("queue_cycle.py", "--quick")
    for row in ("cycles/s, library, 1 process", "cycles/s, raw sqlite3", "4 processes total", "claims/s, library"):
        assert row in out, out
    assert re.search(r"^ratio library/raw: \d+\.\d\d ", out, re.MULTILINE), out
    assert re.search(r"^ratio backlog [\d,]+/[\d,]+: \d+\.\d\d ", out, re.MULTILINE), out
    assert re.search(r"^\(a\) WAL pages written per cycle, library +\d+\.\d$", out, re.MULTILINE), out
    assert re.search(r"^WAL pages per library cycle: \d+\.\d ", out, re.MULTILINE), out


def test_peers_benchmark_quick_run_prints_every_queue_the_duplicates_and_the_target_lines() -> None:
    out = run_bench("peers.py", "--quick")
    for queue in ("SparkQ library", "SparkQ HTTP", "SparkQ CLI", "huey task API", "litequeue", "persist-queue"):
        assert re.search(rf"^{re.escape(queue)} +[\d,]+ ", out, re.MULTILINE), out
    # every queue ran in WAL mode with synchronous=NORMAL (read back from the connection where it can be)
    assert len(re.findall(r"^  \S.* wal/normal", out, re.MULTILINE)) == 7, out
    assert re.search(r"^SparkQ library +[\d,]+ +[\d,]+ +0 +0 ", out, re.MULTILINE), out  # no duplicate, none lost
    for goal, peer in (("0.7", "huey task API"), ("0.45", "litequeue")):
        line = rf"^target: SparkQ library cycle >= {re.escape(goal)} x {peer}, 1 and 4 processes: "
        assert re.search(line + r"\d+\.\d\d (PASS|FAIL), \d+\.\d\d (PASS|FAIL)$", out, re.MULTILINE), out
    for queue in ("SparkQ library", "huey task API", "litequeue", "persist-queue"):
        assert re.search(rf"^{re.escape(queue)} +\d+\.\d$", out, re.MULTILINE), out  # (d) WAL pages per cycle
    assert re.search(r"^target: WAL pages per SparkQ cycle <= 12: \d+\.\d (PASS|FAIL)$", out, re.MULTILINE), out
    assert re.search(r"^target: zero duplicates for SparkQ: PASS$", out, re.MULTILINE), out
    assert re.search(r"^target: claim flat 1k->100k \(>= 0\.8\): \d+\.\d\d (PASS|FAIL)$", out, re.MULTILINE), out


def test_scale_benchmark_quick_run_prints_every_measure_and_the_target_lines() -> None:
    out = run_bench("scale.py", "--quick")
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


def test_http_benchmark_quick_run_prints_both_servers_every_phase_and_the_target_lines() -> None:
    out = run_bench("http_api.py", "--quick")
    for server in ("SparkQ", "bare app"):
        for connections in (1, 8):
            for phase in ("enqueue", "claim-next", "list 50"):
                row = rf"^{server} +{connections} {phase} +[\d,]+ +\d+\.\d\d +\d+\.\d\d"
                assert re.search(row, out, re.MULTILINE), (row, out)
                # then (SparkQ's rows) the ratio, and the server's CPU per request (SparkQ's: and the cpu ratio)
                ratios = r" +\d+\.\d\d +[\d,]+ +\d+\.\d\d$" if server == "SparkQ" else r" +[\d,]+$"
                assert re.search(row + ratios, out, re.MULTILINE), (row + ratios, out)
    assert len(re.findall(r"^target: .* (PASS|FAIL)$", out, re.MULTILINE)) == 6, out
    assert re.search(r"^load average \d", out, re.MULTILINE), out
