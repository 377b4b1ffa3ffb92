"""`POST /api/reload` on a server started without sparkq.yml looks for the file again, as the CLI does.

In-process: Litestar's test client over the real app (`build_app`) of a tmp folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from sparkq_adapters import config
from sparkq_entry.asgi import build_app

PORT = 8420

SCRIPT = "#!/bin/sh\n# name: deploy\n# description: Ship it\necho\n"
CONFIG = "script_dirs: [scripts]\ntools:\n  lint: {task_class: FAST_SCRIPT}\n"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient[Any]]:
    """A server started in `tmp_path` with no sparkq.yml: built-in defaults."""
    app = build_app(config.defaults(tmp_path), PORT)
    with TestClient(app=app, base_url=f"http://127.0.0.1:{PORT}") as client:  # type: ignore[arg-type]
        client.headers["content-type"] = "application/json"
        yield client


def test_reload_without_any_config_file_says_where_it_looked(api: TestClient[Any], tmp_path: Path) -> None:
    response = api.post("/api/reload", json={})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_config"
    assert error["message"] == (
        f"sparkq.yml not found in {tmp_path.resolve()}, where the server was started; write it with `sparkq setup`"
    )


def test_reload_finds_a_config_written_after_the_server_started(api: TestClient[Any], tmp_path: Path) -> None:
    assert api.get("/api/scripts").json() == {"scripts": []}
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "deploy.sh").write_text(SCRIPT)
    (tmp_path / "sparkq.yml").write_text(CONFIG)  # what `sparkq setup` does while the server runs
    reloaded = api.post("/api/reload", json={})
    assert reloaded.status_code == 200, reloaded.text
    assert reloaded.json() == {
        "config": str((tmp_path / "sparkq.yml").resolve()),
        "tools": 1,
        "scripts": 1,
        "warnings": [],
    }
    assert [t["name"] for t in api.get("/api/tools").json()["tools"]] == ["lint"]
    assert [s["name"] for s in api.get("/api/scripts").json()["scripts"]] == ["deploy"]
    # from then on the server reads that file, like a server started with it
    (tmp_path / "sparkq.yml").write_text("tools:\n  lint: {task_class: FAST_SCRIPT}\n  test: {}\n")
    assert api.post("/api/reload", json={}).json()["tools"] == 2


def test_reload_of_a_config_naming_another_database_warns_that_the_server_keeps_its_own(
    api: TestClient[Any], tmp_path: Path
) -> None:
    (tmp_path / "sparkq.yml").write_text("database: {path: other.db}\nscript_dirs: []\n")
    warnings = api.post("/api/reload", json={}).json()["warnings"]
    here = tmp_path.resolve()
    assert warnings == [
        f"{here / 'sparkq.yml'} names the database {here / 'other.db'}; this server serves {here / 'sparkq.db'} "
        "until it is restarted (tools and scripts are reloaded)"
    ]
