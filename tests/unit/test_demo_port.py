"""A busy port stops the demo before it starts anything or prints a token, with a hint."""

from __future__ import annotations

import socket
import subprocess
import sys

from app.demo import port_free


def test_a_busy_port_fails_before_any_token_with_a_hint() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert port_free("127.0.0.1", port) is not None
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "demo", "--port", str(port), "--duration", "1"],
            capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 3
    assert "token" not in done.stdout.lower() and "running" not in done.stdout
    assert f"port {port}" in done.stderr and f"--port {port + 1}" in done.stderr


def test_a_free_port_passes() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert port_free("127.0.0.1", port) is None
