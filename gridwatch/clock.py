"""Clocks: the real one, and a controllable one for tests (no sleeping tests)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def __call__(self) -> float: ...


def wall_clock() -> float:
    return time.time()


class ManualClock:
    def __init__(self, start: float = 1_764_090_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
