"""A free TCP port on the loopback, for the servers a process starts for itself (the
demo's embedded broker, the launchers' Mosquitto and VictoriaMetrics, test servers)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now; the caller binds it soon after (a race it accepts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
