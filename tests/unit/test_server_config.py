"""`sparkq run` serves on uvloop and httptools, never a silent fall-back to asyncio + h11."""

from __future__ import annotations

from sparkq_adapters.server import server_config


async def _app(scope: object, receive: object, send: object) -> None:
    return None


def test_the_server_runs_on_uvloop_and_httptools() -> None:
    config = server_config(_app)
    config.load()
    assert config.loop == "uvloop"
    assert config.http_protocol_class.__name__ == "HttpToolsProtocol"
    assert (config.log_level, config.access_log, config.lifespan) == ("warning", False, "on")
