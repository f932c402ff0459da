"""Camera events in the contract's shape, and the start/update/end life of each one.

An `Episode` turns a condition seen frame by frame (someone in the zone, the lens
covered) into one event with a start, periodic updates and an end: it starts once the
condition has held for `hold_s` (the dwell), rides over gaps shorter than `clear_s`
(a tracker losing a person for a few frames must not end and restart the event), and
ends once the condition has been gone for `clear_s`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class EventIds:
    """Ids unique per agent: the camera, a random tag per analyzer run, a counter."""

    def __init__(self, camera_id: str) -> None:
        # the run tag keeps ids unique across agent restarts without any stored counter
        self.prefix = f"{_UNSAFE.sub('_', camera_id)[:80]}.{uuid.uuid4().hex[:8]}"
        self._n = 0

    def next(self) -> str:
        self._n += 1
        return f"{self.prefix}.{self._n}"


def make_event(
    event_id: str,
    device: str,
    ts: float,
    type_: str,
    state: str,
    zone: str | None,
    score: float | None,
    attrs: dict[str, Any],
    snapshot: str | None,
) -> Event:
    """One item of the events topic, exactly the contract's fields."""
    return {
        "id": event_id,
        "device": device,
        "ts": float(ts),
        "type": type_,
        "state": state,
        "zone": zone,
        "score": None if score is None else round(min(1.0, max(0.0, float(score))), 3),
        "attrs": attrs,
        "snapshot": snapshot,
    }


@dataclass(slots=True)
class Episode:
    """One kind of event in one zone; `step` says which state to publish, if any."""

    hold_s: float = 0.0
    clear_s: float = 2.0
    update_s: float = 30.0
    since: float | None = None  # when the condition began (gaps under clear_s included)
    last_on: float | None = None
    started: bool = False
    start_id: str | None = None
    last_sent: float = 0.0
    peak: float = 0.0
    attrs: dict[str, Any] = field(default_factory=dict)

    def step(self, ts: float, on: bool, score: float = 1.0) -> str | None:
        if on:
            # a long gap with no frame to say "off" restarts the wait, unless already started
            gap = self.last_on is not None and ts - self.last_on > self.clear_s
            if self.since is None or (gap and not self.started):
                self.since, self.peak = ts, 0.0
            self.last_on = ts
            self.peak = max(self.peak, score)
            if not self.started and ts - self.since >= self.hold_s:
                self.started, self.last_sent = True, ts
                return "start"
            if self.started and ts - self.last_sent >= self.update_s:
                self.last_sent = ts
                return "update"
            return None
        if self.last_on is not None and ts - self.last_on > self.clear_s:
            was_started = self.started
            self.since = self.last_on = None
            self.started = False  # start_id stays for the "end" event; the next start replaces it
            return "end" if was_started else None
        return None

    def dwell(self, ts: float) -> float:
        return 0.0 if self.since is None else ts - self.since
