"""A wheelhouse made from the packages installed in the environment running the tests.

test_shell_scripts runs setup.sh's real `pip install -e ".[test]"` into a new venv; from an index it
downloads some 70 packages (about 40 s idle, 90 s in the suite). Pointed at this wheelhouse
(`PIP_NO_INDEX`, `PIP_FIND_LINKS`), pip still resolves the test extra and installs every wheel,
from this disk: each installed distribution is packed back into a wheel from the files its RECORD
lists (pip rewrites the console scripts from entry_points.txt), with the tags its WHEEL file names.
Only the build backend pip needs for the editable install of SparkQ itself, which no environment
keeps installed, is fetched (`pip download`, a few small wheels).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib.metadata import Distribution, distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.tags import sys_tags

ROOT = Path(__file__).resolve().parents[2]

#: not packed: SparkQ itself (setup.sh installs it editable from the repository copy)
SKIPPED = {"sparkq"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _record_line(arcname: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [arcname, f"sha256={digest}", str(len(data))]


def _pack(dist: Distribution, site: Path, venv: Path, into: Path) -> Path:
    info = Path(str(dist._path))  # type: ignore[attr-defined]  # PathDistribution: its .dist-info
    wheel_meta = (info / "WHEEL").read_text(encoding="utf-8")
    tags = [line.split(":", 1)[1].strip() for line in wheel_meta.splitlines() if line.startswith("Tag:")]
    here = {str(t) for t in sys_tags()}
    tag = next((t for t in tags if t in here), tags[0])  # e.g. py3-none-any of py2.py3: one this Python takes
    name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
    target = into / f"{re.sub(r'[-_.]+', '_', name)}-{version}-{tag}.whl"
    console = {ep.name for ep in dist.entry_points if ep.group in ("console_scripts", "gui_scripts")}
    data_dir = f"{name}-{version}.data"
    record: list[list[str]] = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as whl:
        for row in csv.reader(io.StringIO((info / "RECORD").read_text(encoding="utf-8"))):
            if not row or row[0].endswith(".pyc") or "__pycache__" in row[0]:
                continue
            source = (site / row[0]).resolve()
            if row[0].startswith(f"{info.name}/"):
                if row[0].split("/", 1)[1] in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json"):
                    continue
                arcname = row[0]
            elif row[0].startswith(".."):  # outside site-packages: scripts or data of the venv
                relative = source.relative_to(venv)
                if relative.parts[0] == "bin":
                    if relative.name in console:
                        continue  # pip writes it again from entry_points.txt
                    arcname = f"{data_dir}/scripts/{relative.name}"
                else:
                    arcname = f"{data_dir}/data/{relative.as_posix()}"
            else:
                arcname = row[0]
            data = source.read_bytes()
            whl.writestr(arcname, data)
            record.append(_record_line(arcname, data))
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([*record, [f"{info.name}/RECORD", "", ""]])
        whl.writestr(f"{info.name}/RECORD", out.getvalue())
    return target


def _needed(installed: dict[str, Distribution], root: str, extras: set[str]) -> set[str]:
    """The distributions `root[extras]` needs, itself included, by the requirements installed here."""
    wanted: dict[str, set[str]] = {}
    todo = [(root, extras)]
    while todo:
        name, asked = todo.pop()
        known = wanted.get(name)
        if known is not None and asked <= known:
            continue
        wanted[name] = (known or set()) | asked
        for line in installed[name].requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in {"", *wanted[name]}):
                todo.append((_canonical(req.name), set(req.extras)))
    return set(wanted)


def build_wheelhouse(into: Path, extra: str = "test") -> Path:
    """Wheels of what SparkQ with `extra` needs, from this environment, and of the build backend."""
    into.mkdir(parents=True, exist_ok=True)
    site = Path(sysconfig.get_paths()["purelib"])
    installed = {_canonical(d.metadata["Name"]): d for d in distributions(path=[str(site)])}
    for name in sorted(_needed(installed, "sparkq", {extra}) - SKIPPED):
        _pack(installed[name], site, Path(sys.prefix), into)
    backend = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["requires"]
    backend.append("editables")  # what hatchling asks for besides itself to build an editable install
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--only-binary", ":all:", "-d", str(into), *backend],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return into
