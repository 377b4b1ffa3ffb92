"""The README's library example runs exactly as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def library_example() -> str:
    match = re.search(r"<!-- library-example -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert match, "README.md lost its library example block"
    return match.group(1)


def test_readme_library_example_runs_enqueue_claim_complete(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-c", library_example()], cwd=tmp_path, check=True, timeout=60)
    assert (tmp_path / "sparkq.db").exists()

    # the file it wrote is a real queue: a second process sees the finished task
    check = (
        "from sparkq_entry import open_queue\n"
        "q = open_queue('sparkq.db')\n"
        "[t] = q.list_tasks().tasks\n"
        "print(t.status.value, t.result['summary'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", check], cwd=tmp_path, check=True, capture_output=True, text=True, env=os.environ
    ).stdout
    assert out.strip() == "succeeded Migrated; 3 tables added"
