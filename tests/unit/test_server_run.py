"""app.server_run.run_server: what it sets up around uvicorn for the server's life."""

from __future__ import annotations

import asyncio
import gc
import socket
import sys
from typing import Any, cast

from app.server_run import GIL_SWITCH_INTERVAL_S, listen_socket, run_server


class SeeingServer:
    """Stands in for uvicorn.Server: notes the process state while it "serves"."""

    def __init__(self) -> None:
        self.frozen = 0
        self.switch = 0.0

    def run(self, sockets: list[socket.socket]) -> None:
        self.frozen = gc.get_freeze_count()
        self.switch = sys.getswitchinterval()


def test_the_server_runs_with_its_start_up_heap_frozen_and_a_short_gil_slice() -> None:
    # A full collection stops every thread, the alarm lane's too: what start built
    # (registry, stores, app) must not be walked by each one.
    before = sys.getswitchinterval()
    seen = SeeingServer()
    sock = socket.socket()
    try:
        run_server(cast(Any, seen), sock)
    finally:
        sock.close()
        gc.unfreeze()
        sys.setswitchinterval(before)
    assert seen.frozen > 0
    assert gc.get_freeze_count() == 0  # unfrozen for the stop: DuckDB reports leaks
    assert seen.switch == GIL_SWITCH_INTERVAL_S


def test_connections_to_the_listening_socket_send_at_once() -> None:
    # asyncio turns Nagle off only for a socket whose proto is IPPROTO_TCP, and
    # socket.create_server makes proto 0: every keep-alive answer then waited for the
    # client's delayed ACK (44 ms per /metrics or /healthz poll, measured; 1.7 ms with
    # TCP_NODELAY). Accepted as uvicorn accepts it: by an asyncio server on that socket.
    sock = listen_socket("serve", "127.0.0.1", 0)
    assert isinstance(sock, socket.socket)
    seen: list[int] = []

    class Note(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted = transport.get_extra_info("socket")
            seen.append(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def accept_one() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Note, sock=sock)
        port = sock.getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(accept_one())
    assert seen and seen[0] != 0
