"""A status read auto-fails dead tasks first: on a full disk that write is refused, with the 507 documented."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Server, free_port

from .storage_support import SmallDisk, build_db, small_disk


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with small_disk(tmp_path) as small:
        yield small


@pytest.mark.slow
def test_status_and_overview_answer_507_when_a_dead_task_cannot_be_failed_on_a_full_disk(
    disk: SmallDisk, workdir: Path
) -> None:
    db = disk.folder / "sparkq.db"
    build_db(db, 3, keep_wal=True)
    (workdir / "sparkq.yml").write_text(f"database:\n  path: {json.dumps(str(db))}\n")
    server = Server(workdir, free_port())
    try:
        disk.limit_process(server.proc.pid)
        with server.client() as api:
            schema = api.get("/schema/openapi.json").json()["paths"]
            for path in ("/api/status", "/api/overview"):
                assert "507" in schema[path]["get"]["responses"], path
            task = {"stream_id": "auth", "tool_name": "run-bash", "payload": {}, "timeout": 1}
            dying = api.post("/api/tasks", json=task).json()["task"]["id"]
            api.post(f"/api/tasks/{dying}/claim", json={}).raise_for_status()
            disk.fill()
            time.sleep(2.5)  # past twice its timeout: the task is dead, and only a write can fail it
            for path in ("/api/status", "/api/overview"):
                refused = api.get(path)
                assert refused.status_code == 507, (path, refused.text)
                assert refused.json()["error"]["code"] == "disk_full"
            disk.free()
            status = api.get("/api/status")
            assert status.status_code == 200, status.text
            assert status.json()["counts"]["failed"] == 1 and status.json()["stale"] == 0
        assert server.proc.poll() is None
    finally:
        server.stop()
    assert "Traceback" not in server.output()
