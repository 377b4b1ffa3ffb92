"""The Cyclopts-free `peek`/`claim` path prints exactly what the Cyclopts commands print."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sparkq_entry import open_queue

from ..conftest import RunSparkq, _clean_env, unmeasured

SLOW = {"SPARKQ_CLI_FAST_PATH": "0"}


@pytest.mark.in_process  # both paths are `main`'s: the process adds nothing to compare
def test_fast_and_cyclopts_paths_print_the_same(workdir: Path, sparkq: RunSparkq) -> None:
    queue = open_queue(workdir / "sparkq.db")
    queue.create_session("s")
    queue.create_stream("auth", "s", instructions="Do it")
    first = queue.enqueue("auth", "run-bash", {"n": 1})
    second = queue.enqueue("auth", "run-bash", {"n": 2})

    fast_peek, slow_peek = sparkq("peek", "--stream", "auth"), sparkq("peek", "--stream", "auth", env=SLOW)
    assert fast_peek.stdout == slow_peek.stdout and json.loads(fast_peek.stdout)["id"] == first.id

    fast_claim = json.loads(sparkq("claim", "--stream=auth").stdout)
    slow_claim = json.loads(sparkq("claim", "--stream", "auth", env=SLOW).stdout)
    assert (fast_claim["id"], slow_claim["id"]) == (first.id, second.id)
    assert set(fast_claim) == set(slow_claim) and fast_claim["stream"] == slow_claim["stream"]

    for env in ({}, SLOW):
        empty = sparkq("claim", "--stream", "auth", env=env)
        assert (empty.returncode, empty.stdout, empty.stderr) == (0, "", "")
        missing = sparkq("peek", "--stream", "nope", env=env)
        assert missing.returncode == 1
        assert missing.stderr.startswith("Error: Stream 'nope' not found")


def test_the_fast_path_imports_neither_cyclopts_nor_the_server(workdir: Path) -> None:
    open_queue(workdir / "sparkq.db").create_session("s")
    probe = (
        "import sys\n"
        "from sparkq_entry.cli import main\n"
        "main(['peek', '--stream', 'nope'])\n"
        "heavy = {'cyclopts', 'litestar', 'uvicorn', 'yaml', 'cattrs', 'statistics', 'decimal', 'asyncio', 'http',"
        " 'rich'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=unmeasured(_clean_env()),
        timeout=60,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
