"""A record sink for ingest tests that takes everything and keeps nothing; tests
subclass it to keep what they look at."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class NullSink:
    def on_events(self, events: Sequence[Any]) -> None:
        pass

    def on_readings(self, readings: Sequence[Any]) -> None:
        pass

    def on_agent_status(self, agent: str, state: str, ts: float) -> None:
        pass

    def on_agent_garbage(self, agent: str, ts: float, detail: str, over: bool) -> None:
        pass
