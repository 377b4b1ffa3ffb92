"""The domain is pure: importing it loads no adapter, framework or database driver."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = (
    "sqlite3",
    "_sqlite3",
    "cattrs",
    "yaml",
    "litestar",
    "uvicorn",
    "cyclopts",
    "sparkq_adapters",
    "sparkq_entry",
)


def test_importing_the_domain_loads_only_stdlib_and_attrs() -> None:
    code = "import json, sys, sparkq_domain; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    assert "sparkq_domain" in loaded
    assert [m for m in loaded if m.split(".")[0] in FORBIDDEN] == []


def test_domain_source_imports_nothing_outside_stdlib_and_attrs() -> None:
    import ast
    from pathlib import Path

    import sparkq_domain

    allowed_third_party = {"attrs", "attr"}
    stdlib = set(sys.stdlib_module_names)
    for path in Path(sparkq_domain.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in stdlib or top in allowed_third_party or top == "__future__", f"{path.name} imports {name}"
