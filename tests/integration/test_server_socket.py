"""The server's own listening socket gets TCP_NODELAY on every connection asyncio accepts."""

from __future__ import annotations

import asyncio
import socket

from sparkq_adapters.server import bind_loopback


def test_accepted_connections_have_tcp_nodelay_so_keep_alive_responses_are_not_delayed() -> None:
    async def scenario() -> int:
        listener = bind_loopback("127.0.0.1", 0)
        port = listener.getsockname()[1]
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)  # as uvicorn does
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            nodelay = await asyncio.wait_for(seen, timeout=10)
            writer.close()
            return nodelay
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(scenario()) != 0
