"""Run the HTTP server until SIGINT or SIGTERM, so that the caller's cleanup still runs.

uvicorn stops gracefully on those signals and then raises the same signal again with
the handler that was in place before it started (so a program embedding it "dies the
expected way"). With Python's default SIGTERM handler that kills the process on the
spot: `Backend.stop` (closing ingest and the stores, saving the anomaly detectors'
state) never ran. Here the handler in place is ours, so the re-raise ends `run`
normally and the caller's `finally` does its work.
"""

from __future__ import annotations

import gc
import signal
import socket
import sys
from types import FrameType

import uvicorn

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How long a thread may hold the GIL while another waits for it (Python's default is
# 5 ms). The alarm lane's path releases and retakes the GIL at every store call and
# hand-off, about 30 times, and under a readings flood each retake waited for the
# readings lane's slice: fire alarms took 160-280 ms to the SSE stream at 2x load where
# 0.5 ms slices gave 110-125 ms, with no loss of ingest throughput in the bench.
GIL_SWITCH_INTERVAL_S = 0.0005


class _Stopped(Exception):
    """The stop signal, re-raised by uvicorn after its graceful shutdown."""


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped(signum)


def listen_socket(command: str, host: str, port: int) -> socket.socket | str:
    """The HTTP server's listening socket, or what to tell the user when it cannot be
    had. Taken before anything else starts: the MQTT clients a process starts connect
    from ephemeral ports, and one of them took a test's free HTTP port before uvicorn
    bound it ("address already in use" after the tokens were printed). A busy port also
    fails at once, before any token is printed."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                    flags=socket.AI_PASSIVE)[0][0]
        sock = socket.create_server((host, port), family=family, backlog=2048)
        # asyncio turns Nagle off only on sockets whose proto is IPPROTO_TCP, and
        # create_server leaves proto 0: each keep-alive answer (headers, then body) then
        # waited for the client's delayed ACK, 44 ms a request. Accepted sockets inherit
        # this option.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    except OSError as exc:
        return (
            f"gridwatch {command}: cannot listen on {host} port {port} "
            f"({exc.strerror or exc}); stop what uses it or pick another with --port, "
            f"e.g. --port {port + 1}"
        )


def run_server(server: uvicorn.Server, sock: socket.socket) -> None:
    """`server.run()` on `sock`, returning (not dying) after a SIGINT or SIGTERM
    shutdown."""
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in STOP_SIGNALS}
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    # Everything built at start (the registry, the stores, the app) lives as long as
    # the process: frozen, a full collection no longer walks it. A full collection
    # stops every thread, the alarm lane's too; during the 6,000-warning storm bench
    # they took 120-170 ms each, and 50-75 ms with this.
    gc.freeze()
    try:
        server.run(sockets=[sock])
    except _Stopped:
        pass
    finally:
        # Collectable again for the stop and the exit: DuckDB's bindings report every
        # one of their objects still alive at exit as a leak (the demo test reads that).
        gc.unfreeze()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
