"""The domain is pure: importing it loads no adapter, framework or database driver.

What the domain's source may import is import-linter's to check (tests/unit/test_architecture.py);
this test shows what actually loads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import unmeasured

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
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=unmeasured(dict(os.environ))
    ).stdout
    loaded = json.loads(out)
    assert "sparkq_domain" in loaded
    assert [m for m in loaded if m.split(".")[0] in FORBIDDEN] == []
