"""The agent's health report: per device what its adapter knows (battery, signal,
fault) and when the agent last heard a good reading from it; per agent the buffer, and
whatever other parts of the agent add (`extras`: camera fps, decoder restarts, ...)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from edge.adapters.base import DeviceHealth
from gridwatch.records import Reading

HealthExtra = Callable[[], dict[str, Any]]  # more per-agent fields for the health message


class HealthBook:
    def __init__(self) -> None:
        self._last_good: dict[str, float] = {}
        self.extras: list[HealthExtra] = []

    def note(self, readings: Iterable[Reading]) -> None:
        """Readings on their way out: each is a good reading of its device."""
        for r in readings:
            if r.ts > self._last_good.get(r.device, float("-inf")):
                self._last_good[r.device] = r.ts

    def devices(self, reports: Iterable[DeviceHealth]) -> list[DeviceHealth]:
        return [{**h, "last_good_ts": self._last_good.get(h["device"])} for h in reports]

    def agent_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for extra in self.extras:
            out.update(extra())
        return out
