"""Fixtures of the end-to-end tests: the sample street and a running backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from config.loader import DEFAULT_CONFIG_DIR, load_registry
from config.registry import Registry
from tests.support.backend_proc import BackendProcess, running_backend
from tests.support.browser import chromium
from tests.support.mosquitto import Broker

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The sample street, as `gridwatch serve` loads it by default."""
    return load_registry(DEFAULT_CONFIG_DIR)


@pytest.fixture
def backend(tmp_path: Path, broker: Broker) -> Iterator[BackendProcess]:
    """A real `gridwatch serve` process against the test's broker."""
    with running_backend(tmp_path / "data", broker.url) as b:
        yield b


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """Headless Debian Chromium at 1366x768 (tests.support.browser)."""
    with chromium(tmp_path) as ctx:
        yield ctx
