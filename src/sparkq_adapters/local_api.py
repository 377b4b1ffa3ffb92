"""A tiny client for the local server's API (stdlib only: the CLI must start fast)."""

from __future__ import annotations

import json
from typing import Any

HEALTH_TIMEOUT_SECONDS = 0.5


def server_url(host: str, port: int) -> str:
    """The URL of a server on loopback `host`: `localhost` as the 127.0.0.1 it binds, IPv6 in brackets."""
    if ":" in host:
        return f"http://[{host}]:{port}"
    return f"http://{'127.0.0.1' if host == 'localhost' else host}:{port}"


def _opener() -> Any:
    import urllib.request

    # a proxy must never stand in for the local server
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def healthy(url: str, timeout: float = HEALTH_TIMEOUT_SECONDS) -> bool:
    """Whether `GET {url}/api/health` answers `{"status": "ok"}` within `timeout` seconds."""
    try:
        with _opener().open(f"{url}/api/health", timeout=timeout) as response:
            if response.status != 200:
                return False
            body = json.loads(response.read(64 * 1024))
    except (OSError, ValueError):
        return False
    return isinstance(body, dict) and body.get("status") == "ok"


def post_json(url: str, path: str, body: dict[str, Any], timeout: float = 10.0) -> tuple[int, dict[str, Any]]:
    """POST JSON as the server requires it; return (status, decoded body). Raises OSError if unreachable."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url + path, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with _opener().open(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
