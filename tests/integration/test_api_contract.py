"""The OpenAPI document against the real server: a bounded Schemathesis run with every check finds nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sparkq_adapters.waiting import MAX_HTTP_WAIT_SECONDS
from tests.conftest import _clean_env
from tests.integration.conftest import Server, free_port

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
#: fixed, so a failure is reproducible; examples bounded to fit CI. No time budget (--max-time): with
#: one, fuzzing and stateful testing repeat until it is spent, as many cases as the machine's speed allows
SEED = "1"
MAX_EXAMPLES = "20"
#: a valid claim `?wait=` is sent as at most 1 s (the hooks say why)
HOOKS = str(Path(__file__).with_name("schemathesis_hooks.py"))


@pytest.mark.slow
def test_schemathesis_finds_no_failure_against_a_real_server(workdir: Path) -> None:
    # the default tool registry, so the document's tool names are the server's
    (workdir / "sparkq.yml").write_text("script_dirs: []\n")
    server = Server(workdir, free_port())
    try:
        run = subprocess.run(
            [
                SCHEMATHESIS,
                "run",
                f"{server.url}/schema/openapi.json",
                "--checks",
                "all",
                "--exclude-path",
                "/api/events",  # an endless event stream
                "--seed",
                SEED,
                "--max-examples",
                MAX_EXAMPLES,
                "--workers",
                "1",
                "--no-shrink",
                # a claim may wait up to MAX_HTTP_WAIT_SECONDS (60) for a task, as documented: not a hang
                "--request-timeout",
                str(MAX_HTTP_WAIT_SECONDS + 10),
                "--max-response-time",
                str(MAX_HTTP_WAIT_SECONDS + 10),
            ],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=600,
            env=_clean_env({"SCHEMATHESIS_HOOKS": HOOKS}),
        )
    finally:
        server.stop()
    summary = [line for line in run.stdout.splitlines() if " in " in line and line.startswith("=")]
    print(summary[-1] if summary else run.stdout[-2000:])
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-2000:]
    assert "failure" not in (summary[-1] if summary else "failure"), run.stdout[-20000:]
