from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import Broker, running_broker

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real Mosquitto on a free port, persistence on, stopped after the test."""
    with running_broker(tmp_path / "broker") as b:
        yield b


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"../shared is absent ({SHARED}); it holds the public test data")
    return SHARED

