"""The demo: a busy port stops it before it starts anything or prints a token, with a
hint; its camera runs on a shared clip and is skipped when the clip is absent."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app.demo import port_free
from app.demo_camera import CLIP_ENV, camera_adapter
from config.loader import DEFAULT_CONFIG_DIR, load_registry


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
