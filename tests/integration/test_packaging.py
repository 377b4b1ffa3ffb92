"""The wheel ships the web UI, and the server finds it where the wheel puts it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_contains_the_ui_bundle_and_the_console_script(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("sparkq-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "sparkq_webui/index.html" in names
    shipped = {n.removeprefix("sparkq_webui/") for n in names if n.startswith("sparkq_webui/")}
    on_disk = {str(p.relative_to(ROOT / "webui")) for p in (ROOT / "webui").rglob("*") if p.is_file()}
    assert on_disk <= shipped
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "sparkq = sparkq_entry.cli:run" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_ui_dir_finds_an_installed_sparkq_webui_folder_first(tmp_path: Path) -> None:
    installed = tmp_path / "site" / "sparkq_webui"
    installed.mkdir(parents=True)
    (installed / "index.html").write_text("<!doctype html>")
    probe = "from sparkq_entry.asgi import ui_dir; print(ui_dir())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == str(installed)
