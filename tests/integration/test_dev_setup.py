"""The README's set-up and test commands install what the suite needs, and CI runs exactly them."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCAL = {"sparkq_domain", "sparkq_adapters", "sparkq_entry", "tests", "__future__"}


def helper() -> ModuleType:
    """scripts/requirements_met.py, which setup.sh asks whether anything must be installed."""
    spec = importlib.util.spec_from_file_location("requirements_met", ROOT / "scripts" / "requirements_met.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def imported_modules(folder: Path) -> set[str]:
    """The top-level modules the .py files under `folder` import (absolute imports only)."""
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def installed_with(names: list[str]) -> set[str]:
    """The normalized names of `names` and, transitively, what each installed one depends on."""
    normalize = helper().normalize
    found: set[str] = set()
    pending = list(names)
    while pending:
        name = normalize(pending.pop())
        if name in found:
            continue
        found.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        pending += [re.split(r"[\s\[;<>=!~(]", r, maxsplit=1)[0] for r in requires if "extra ==" not in r]
    return found


def test_the_test_extra_installs_every_package_the_suite_and_the_benchmarks_it_runs_import() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = installed_with(helper().required(project, ["test"]))
    ours = {p.stem for p in (ROOT / "bench").glob("*.py")}
    modules = imported_modules(ROOT / "tests") | imported_modules(ROOT / "bench")
    third_party = sorted(modules - set(sys.stdlib_module_names) - LOCAL - ours)
    providers = metadata.packages_distributions()
    left_out = {
        module: providers.get(module, ["(not installed)"])
        for module in third_party
        if not {helper().normalize(d) for d in providers.get(module, [])} & needed
    }
    assert left_out == {}, "add these to the `test` extra in pyproject.toml"
    assert {"huey", "litequeue", "persist-queue"} <= needed  # bench/peers.py, run by test_bench_smoke


def write_project(folder: Path, extras: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "sparkq"\nversion = "0.1.0"\ndependencies = ["pytest"]\n'
        f"[project.optional-dependencies]\n{extras}"
    )
    return folder


def test_requirements_met_names_what_an_extra_needs_and_is_not_installed(tmp_path: Path) -> None:
    folder = write_project(
        tmp_path / "project",
        'outer = ["hypothesis", "sparkq[inner]"]\ninner = ["no-such-package-for-sparkq-tests", "PyYAML"]\n',
    )
    missing = helper().missing(folder, ["outer"])
    # the self-reference pulls in `inner`; installed names (any spelling) are not listed
    assert missing == [f"sparkq installed editable from {folder.resolve()}", "no-such-package-for-sparkq-tests"]
    assert helper().missing(folder, []) == [f"sparkq installed editable from {folder.resolve()}"]


def test_requirements_met_finds_nothing_missing_in_this_checkout_and_exits_by_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert helper().missing(ROOT, ["test"]) == []  # this venv was set up by ./setup.sh (or more)
    monkeypatch.chdir(ROOT)
    assert helper().main(["test"]) == 0
    assert helper().main(["no-such-extra"]) == 2
    assert (
        "pyproject.toml has no extra 'no-such-extra'; it has bench, dev, mcp, postgres, test" in capsys.readouterr().err
    )
    monkeypatch.chdir(write_project(tmp_path / "other", 'x = ["no-such-package-for-sparkq-tests"]\n'))
    assert helper().main(["x"]) == 1
    assert capsys.readouterr().out.strip().endswith(", no-such-package-for-sparkq-tests")


def commands(text: str) -> list[str]:
    """The command lines of a shell script or code block: no comments, blank lines or `set`/`cd`."""
    lines = [line.split(" #")[0].strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "set ", "cd ", "```"))]


def test_ci_runs_the_readme_set_up_and_test_commands_first_and_in_that_order() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Set up and run", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    set_up, test = commands(block)
    assert set_up == "./setup.sh && .venv/bin/sparkq run" and test == "./scripts/test"
    ci = commands((ROOT / ".ci" / "run").read_text())
    # `sparkq run` serves until stopped, so CI takes the install half of the set-up command
    assert ci[:3] == ["python3 --version", "./setup.sh", "./scripts/test"], ci
