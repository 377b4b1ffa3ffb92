"""`sparkq run` serves on uvloop and httptools, never a silent fall-back to asyncio + h11."""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from sparkq_adapters.server import HEAD_TIMEOUT_SECONDS, server_config


async def _app(scope: object, receive: object, send: object) -> None:
    return None


def test_the_server_runs_on_uvloop_and_httptools() -> None:
    config = server_config(_app)
    config.load()
    assert config.loop == "uvloop"
    # httptools, with each request's head bounded (tests/integration/test_http_head_timeout.py)
    assert issubclass(config.http_protocol_class, HttpToolsProtocol)
    assert config.timeout_keep_alive == HEAD_TIMEOUT_SECONDS
    assert (config.log_level, config.access_log, config.lifespan) == ("warning", False, "on")
    # nothing stands between a client and a loopback server: no X-Forwarded-* header is believed (or parsed)
    assert config.proxy_headers is False
