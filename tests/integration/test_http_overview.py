"""`GET /api/overview`: everything the dashboard shows in one answer (in-process, over a real SQLite file)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from litestar.testing import TestClient

from sparkq_adapters import config
from sparkq_entry.asgi import build_app
from sparkq_entry.wiring import open_queue

from .cli_support import ok_json
from .http_support import PORT, local_api

if TYPE_CHECKING:
    from tests.conftest import RunSparkq


def test_overview_answers_the_dashboards_counts_streams_newest_tasks_and_stats_at_once(workdir: Path) -> None:
    queue = open_queue(workdir / "sparkq.db")
    queue.create_session("old")
    queue.create_stream("gone", "old")
    queue.end_session("old")
    queue.create_session("api-v2")
    auth = queue.create_stream("auth", "api-v2").id
    queue.create_stream("docs", "api-v2")
    done = queue.enqueue("auth", "run-bash", {"script": "a.sh"}).id
    queue.claim_task(done)
    queue.complete(done, {"summary": "built"})
    queued = [queue.enqueue("docs", "run-bash", {"n": n}).id for n in range(3)]

    with local_api(workdir) as api:
        body = api.get("/api/overview").json()
        assert set(body) == {"generated_at", "counts", "sessions", "streams", "tasks", "total", "stats"}
        assert body["counts"] == {"queued": 3, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 0}
        assert body["sessions"] == {"active": 1, "ended": 1}
        streams = {s["name"]: s for s in body["streams"]}
        assert streams.keys() == {"gone", "auth", "docs"}
        assert streams["gone"]["status"] == "ended" and streams["gone"]["session_name"] == "old"
        assert streams["auth"]["task_counts"] == {
            "queued": 0,
            "running": 0,
            "succeeded": 1,
            "failed": 0,
            "cancelled": 0,
        }
        assert streams["docs"]["task_counts"]["queued"] == 3
        # the newest tasks as the task list's rows (no bulky fields), newest first
        assert [t["id"] for t in body["tasks"]] == [*reversed(queued), done]
        assert body["total"] == 4 and "payload" not in body["tasks"][0]
        assert body["tasks"][-1]["summary"] == "built"
        hours = body["stats"]["finished_per_hour"]
        assert len(hours) == 24 and hours[-1]["succeeded"] == 1
        assert [t["tool_name"] for t in body["stats"]["tools"]] == ["run-bash"]

        # one stream's newest tasks (by id or name), at most `limit`
        by_id = api.get("/api/overview", params={"stream_id": auth}).json()
        assert [t["id"] for t in by_id["tasks"]] == [done] and by_id["total"] == 1
        assert by_id["counts"] == body["counts"]  # the counts stay global; the stream's are in `streams`
        limited = api.get("/api/overview", params={"stream_id": "docs", "limit": 2}).json()
        assert [t["id"] for t in limited["tasks"]] == list(reversed(queued))[:2] and limited["total"] == 3

        # refused in words, never guessed
        missing = api.get("/api/overview", params={"stream_id": "nope"})
        assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]
        for bad in ("0", "101", "ten"):
            refused = api.get("/api/overview", params={"limit": bad})
            assert refused.status_code == 400, (bad, refused.text)
            assert "limit" in refused.json()["error"]["message"]

        schema = api.get("/schema/openapi.json").json()
        assert "dashboard" in schema["paths"]["/api/overview"]["get"]["description"].lower()


def test_status_shows_the_same_active_work_as_sparkq_status(workdir: Path, sparkq: RunSparkq) -> None:
    # one read side: `GET /api/status` and `sparkq status --json` show the same sessions, streams and counts
    queue = open_queue(workdir / "sparkq.db")
    queue.create_session("old")
    queue.end_session("old")
    queue.create_session("api-v2")
    queue.create_stream("auth", "api-v2")
    queue.create_stream("docs", "api-v2")
    queue.enqueue("auth", "run-bash", {})
    queue.claim(queue.enqueue("docs", "run-bash", {}).stream_id)

    cli = ok_json(sparkq("status", "--json"))
    with local_api(workdir) as api:
        body = api.get("/api/status").json()
    assert set(body) == {"server", "counts", "sessions", "stale"}
    assert body["server"]["status"] == "running" and body["server"]["port"] == PORT
    assert (
        body["counts"] == cli["task_counts"] == {"queued": 1, "running": 1, "succeeded": 0, "failed": 0, "cancelled": 0}
    )
    assert body["stale"] == cli["stale"] == 0
    [session] = body["sessions"]
    assert {k: v for k, v in session.items() if k != "streams"} == next(iter(cli["sessions"]))
    assert session["streams"] == cli["streams"]
    assert [s["name"] for s in session["streams"]] == ["auth", "docs"]


def test_status_gives_the_url_the_server_listens_on_an_ipv6_loopback(workdir: Path) -> None:
    (workdir / "sparkq.yml").write_text('server: {host: "::1"}\n')
    app = build_app(config.load_file(workdir / "sparkq.yml"), PORT)
    with TestClient(app, base_url=f"http://127.0.0.1:{PORT}") as api:  # the test transport takes no [::1]
        server = api.get("/api/status").json()["server"]
    assert server["url"] == f"http://[::1]:{PORT}"
