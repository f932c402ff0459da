"""The demo and serve: a busy port stops them before they start anything or print a
token, with a hint, and the port is theirs from the start; the demo's camera runs on a
shared clip and is skipped when the clip is absent."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app.demo_camera import CLIP_ENV, camera_adapter
from app.server_run import listen_socket
from config.loader import DEFAULT_CONFIG_DIR, load_registry


def test_a_busy_port_fails_before_any_token_with_a_hint() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert isinstance(listen_socket("demo", "127.0.0.1", port), str)
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "demo", "--port", str(port), "--duration", "1"],
            capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 3
    assert "token" not in done.stdout.lower() and "running" not in done.stdout
    assert f"port {port}" in done.stderr and f"--port {port + 1}" in done.stderr


def test_serve_on_a_busy_port_fails_at_once_with_a_hint(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port),
             "--mqtt", "mqtt://127.0.0.1:1", "--data-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 3, done.stderr
    assert f"port {port}" in done.stderr and f"--port {port + 1}" in done.stderr
    assert not (tmp_path / "ops.sqlite3").exists()  # nothing was started


def test_a_free_port_is_held_from_the_start() -> None:
    """The listening socket is taken before the MQTT clients connect from ephemeral
    ports, so none of them can take it first."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sock = listen_socket("demo", "127.0.0.1", port)
    assert isinstance(sock, socket.socket)
    try:
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", port))
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # it listens: a client's connection waits in its backlog
    finally:
        sock.close()


def test_the_demo_camera_is_skipped_without_a_clip(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    registry = load_registry(DEFAULT_CONFIG_DIR)
    wy1 = registry.find_area("wy1")
    assert wy1 is not None
    monkeypatch.setenv(CLIP_ENV, str(tmp_path / "no-such-clip"))
    assert camera_adapter(registry, wy1) is None
    (tmp_path / "frames").mkdir()
    monkeypatch.setenv(CLIP_ENV, str(tmp_path / "frames"))
    found = camera_adapter(registry, wy1)
    assert found is not None and found[0] == "wy1-edge"
