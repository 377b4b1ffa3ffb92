"""`sparkq run` on PostgreSQL as a real process: what it prints, and a long poll woken by another process's enqueue."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any

from tests.conftest import SPARKQ, _clean_env
from tests.integration.conftest import Server, free_port
from tests.postgres_support import PASSWORD


def test_the_server_serves_postgresql_and_prints_its_url_without_the_password(pg_url: str, workdir: Path) -> None:
    (workdir / "sparkq.yml").write_text(f"database: {{url: '{pg_url}'}}\n")
    server = Server(workdir, free_port())
    try:
        shown = pg_url.replace(f":{PASSWORD}@", ":***@")
        assert f"Database: {shown}." in server.output()
        with server.client() as api:
            api.post("/api/sessions", json={"name": "s"}).raise_for_status()
            api.post("/api/streams", json={"name": "auth", "session_id": "s"}).raise_for_status()
            got: list[Any] = []
            waiter = threading.Thread(
                target=lambda: got.append(api.post("/api/streams/auth/claim", params={"wait": 30}))
            )
            waiter.start()
            enqueued = subprocess.run(
                [SPARKQ, "enqueue", "run-bash", "{}", "--stream", "auth"],
                cwd=workdir,
                env=_clean_env(),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert enqueued.returncode == 0, enqueued.stderr
            waiter.join(timeout=60)
            assert got[0].status_code == 200 and got[0].json()["id"] == enqueued.stdout.strip()
    finally:
        server.stop()
    assert PASSWORD not in server.output()
    assert not (workdir / "sparkq.db").exists()
