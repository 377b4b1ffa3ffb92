"""`bench/ui_scale.py` runs on a small database and prints every row, the dashboard's one request among them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

UI_SCALE = Path(__file__).resolve().parents[2] / "bench" / "ui_scale.py"


@pytest.mark.slow
def test_ui_scale_prints_each_request_against_health_with_the_load() -> None:
    done = subprocess.run(
        [sys.executable, str(UI_SCALE), "--tasks", "2000"], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    out = done.stdout
    for row in (
        r"GET /api/health \(baseline\)",
        r"GET /api/tasks\?limit=50 \(first page\)",
        r"… \?q=job-4242 \(search: rare text\)",
        r"… \?q=NO-SUCH-TEXT \(search: no match\)",
        r"… \?tool=llm-haiku \(tool: a third\)",
        r"… \?tool=llm-haiku&q=tests\+fail \(tool \+ search\)",
        r"GET /api/overview \(the dashboard's one\)",
        r"GET /api/status \(sparkq status's counts\)",
        r"GET /api/stats \(dashboard charts\)",
        r"GET /api/streams \(task counts\)",
    ):
        assert re.search(rf"^{row} +[\d.]+ +[\d.]+$", out, re.MULTILINE), (row, out)
    assert re.search(r"^load average \(1 min\): [\d.]+ before, [\d.]+ after$", out, re.MULTILINE), out
