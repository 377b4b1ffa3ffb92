"""Say whether this venv holds SparkQ from this folder and every requirement of the given extras.

    .venv/bin/python scripts/requirements_met.py test      # exit 0, or 1 naming what is missing

Run by setup.sh with the venv's python, in the project folder. It reads pyproject.toml, not the
installed metadata (which is as old as the last install), and looks for an installed
distribution of each required name, extras included (`sparkq[bench]` inside `test` counts).
Versions are left to pip: setup.sh reinstalls whenever pyproject.toml changes. A requirement
with an environment marker is required all the same (there is none today; at worst pip then
runs again and finds nothing to do).
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")


def normalize(name: str) -> str:
    """PEP 503: `Persist_Queue` and `persist-queue` are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(requirement: str) -> tuple[str, list[str]]:
    """`name[extra, ...] >= 1; marker` as (name, extras)."""
    match = _REQUIREMENT.match(requirement)
    if match is None:
        raise ValueError(f"Cannot read the requirement {requirement!r} in pyproject.toml")
    extras = [e.strip() for e in (match.group(2) or "").split(",") if e.strip()]
    return match.group(1), extras


def required(project: dict[str, Any], extras: list[str]) -> list[str]:
    """The names the project needs with `extras`: its dependencies and those of each extra, recursively."""
    own = normalize(project["name"])
    optional = project.get("optional-dependencies", {})
    names: list[str] = []
    seen: set[str] = set()
    pending = list(project.get("dependencies", []))
    for extra in extras:
        if extra not in optional:
            raise ValueError(f"pyproject.toml has no extra {extra!r}; it has {', '.join(sorted(optional))}")
        pending += optional[extra]
    while pending:
        name, wanted = parse(pending.pop(0))
        if normalize(name) == own:  # `sparkq[bench]`: that extra's requirements too
            for extra in wanted:
                if extra not in seen:
                    seen.add(extra)
                    pending += optional.get(extra, [])
        elif normalize(name) not in map(normalize, names):
            names.append(name)
    return names


def missing(folder: Path, extras: list[str]) -> list[str]:
    """What this interpreter lacks to run the project in `folder` with `extras`: empty when nothing."""
    project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    problems = []
    try:
        own = metadata.distribution(project["name"])
    except metadata.PackageNotFoundError:
        problems.append(f"{project['name']} itself")
    else:
        origin = json.loads(own.read_text("direct_url.json") or "{}")
        if origin.get("url") != folder.resolve().as_uri() or not origin.get("dir_info", {}).get("editable"):
            problems.append(f"{project['name']} installed editable from {folder.resolve()}")
    for name in required(project, extras):
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            problems.append(name)
    return problems


def main(argv: list[str]) -> int:
    try:
        lacking = missing(Path.cwd(), argv)
    except (OSError, KeyError, ValueError, tomllib.TOMLDecodeError) as exc:
        print(f"requirements_met: {exc}", file=sys.stderr)
        return 2
    if lacking:
        print(", ".join(lacking))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
