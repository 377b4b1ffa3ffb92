"""SparkQ's version, read in one place: the installed package's metadata.

`sparkq --version` and the HTTP API's OpenAPI document both ask here. The lookup runs when the
version is asked for (not at import), so commands that never show it do not pay for it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

DISTRIBUTION = "sparkq"
#: the checkout's project file, for a source tree run without installing it
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
UNKNOWN = "unknown (not installed)"


@cache
def version() -> str:
    """The installed `sparkq` distribution's version, else the checkout's pyproject.toml version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(DISTRIBUTION)
    except PackageNotFoundError:
        return checkout_version(PYPROJECT)


def checkout_version(pyproject: Path) -> str:
    """`[project] version` of a source checkout's pyproject.toml, or a plain 'unknown' without one."""
    import tomllib

    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return UNKNOWN
    found = project.get("version") if isinstance(project, dict) else None
    return found if isinstance(found, str) and found else UNKNOWN
