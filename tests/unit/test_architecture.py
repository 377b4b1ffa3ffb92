"""The layer rule, as import-linter checks it: pyproject.toml's contracts hold, and each one bites."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")
PACKAGES = ("sparkq_domain", "sparkq_adapters", "sparkq_entry")


def lint_imports(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `lint-imports` over the packages under `project`/src with `project`'s pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "NO_COLOR": "1"}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--no-logo", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_are_kept() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert [c["id"] for c in contracts] == [
        "layers",
        "pure-domain",
        "no-postgres-driver-outside-its-adapter",
        "light-queue-commands",
        "mcp-sdk-in-its-adapter",
    ]
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 5 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        ("sparkq_domain/model.py", "import sparkq_adapters.clock", "layers"),
        ("sparkq_adapters/clock.py", "import sparkq_entry.wiring", "layers"),
        ("sparkq_domain/services.py", "import sqlite3", "pure-domain"),
        ("sparkq_domain/limits.py", "import cattrs", "pure-domain"),
        ("sparkq_adapters/cli/worker.py", "import sparkq_adapters.http.app", "light-queue-commands"),
        ("sparkq_adapters/cli/tasks.py", "import litestar", "light-queue-commands"),
        ("sparkq_adapters/serialization.py", "import uvicorn", "light-queue-commands"),
        ("sparkq_domain/ports.py", "import psycopg", "no-postgres-driver-outside-its-adapter"),
        ("sparkq_adapters/sqlite/repository.py", "import psycopg", "no-postgres-driver-outside-its-adapter"),
        ("sparkq_adapters/cli/tasks.py", "import sparkq_adapters.mcp.server", "light-queue-commands"),
        ("sparkq_adapters/http/streams.py", "import mcp", "mcp-sdk-in-its-adapter"),
        ("sparkq_entry/wiring.py", "import mcp_types", "mcp-sdk-in-its-adapter"),
    ],
)
def test_a_wrong_import_breaks_its_contract(tmp_path: Path, module: str, bad_import: str, contract: str) -> None:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / "src" / package, tmp_path / "src" / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert lint_imports(tmp_path, "--contract", contract).returncode == 0  # the copy itself is clean
    target = tmp_path / "src" / module
    target.write_text(target.read_text() + f"\n{bad_import}  # the violation\n")
    result = lint_imports(tmp_path, "--contract", contract)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout and bad_import.split()[-1].split(".")[0] in result.stdout


def test_the_domain_imports_only_the_standard_library_and_attrs() -> None:
    # the forbidden contract names what must never come in; this says what alone may
    graph = grimp.build_graph("sparkq_domain", include_external_packages=True, cache_dir=None)
    allowed = set(sys.stdlib_module_names) | {"__future__", "attr", "attrs", "sparkq_domain"}
    outside = {
        f"{module} imports {imported}"
        for module in graph.find_descendants("sparkq_domain") | {"sparkq_domain"}
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.split(".")[0] not in allowed
    }
    assert outside == set()
