"""What the PostgreSQL tests need on a fresh machine: Debian's postgresql (scripts/test) and psycopg (the extra)."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_scripts_test_installs_postgresql_when_its_binaries_are_missing() -> None:
    script = (ROOT / "scripts" / "test").read_text()
    block = script[script.index('if ! compgen -G "/usr/lib/postgresql/*/bin/initdb"') :]
    block = block[: block.index("\nfi\n") + 4]
    assert "apt-get install -y -qq postgresql" in block  # as root, as CI runs it
    assert "sudo apt-get install postgresql" in block and "exit 1" in block  # otherwise the command to run
    # the block itself runs: here the binaries are there, so it does nothing and says nothing
    ran = subprocess.run(["bash", "-c", f"set -euo pipefail\n{block}"], capture_output=True, text=True, timeout=30)
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "", "")


def test_the_postgres_extra_is_psycopg_3_and_the_test_extra_includes_it() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["postgres"] == ["psycopg[binary]>=3.2,<4"]
    assert "sparkq[postgres]" in extras["test"]
