"""Polling for integration tests: wait until something a real process does is visible."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(pred: Callable[[], T], timeout: float, every: float = 0.1) -> T | None:
    """The first truthy result of `pred` within `timeout` seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := pred():
            return found
        time.sleep(every)
    return None
