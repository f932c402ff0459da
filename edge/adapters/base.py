"""The one interface every device source implements for the agent.

The agent polls each adapter once per tick, so adapters that hear their devices on a
thread of their own (an MQTT bridge) buffer what they hear and hand it over in `poll`;
the agent stays the only place that publishes, orders (events first) and numbers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from gridwatch.records import DeviceEvent, Reading

DeviceHealth = dict[str, Any]  # contract section 3: device, battery, rssi, fault


@dataclass(slots=True)
class Polled:
    readings: list[Reading] = field(default_factory=list)
    events: list[DeviceEvent] = field(default_factory=list)

    def extend(self, other: Polled) -> None:
        self.readings.extend(other.readings)
        self.events.extend(other.events)


class Adapter(Protocol):
    name: str

    def start(self) -> None:
        """Connect or open what the adapter reads from; constructing it must not."""
        ...

    def stop(self) -> None: ...

    def poll(self, now: float) -> Polled:
        """What the devices said since the last poll."""
        ...

    def health(self, now: float) -> list[DeviceHealth]:
        """Per device: battery (%), rssi (dBm), fault (None when fine), as far as known."""
        ...


class Inbox:
    """A thread-safe holding area for adapters fed by another thread. Bounded: past
    `limit` items the oldest reading goes first (events are kept), because an agent that
    stops polling must not take the host's memory with it."""

    def __init__(self, limit: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._polled = Polled()
        self.limit = limit
        self.dropped = 0

    def add(self, polled: Polled) -> None:
        with self._lock:
            self._polled.extend(polled)
            excess = len(self._polled.readings) + len(self._polled.events) - self.limit
            if excess > 0:
                cut = min(excess, len(self._polled.readings))
                del self._polled.readings[:cut]
                self.dropped += cut

    def take(self) -> Polled:
        with self._lock:
            out, self._polled = self._polled, Polled()
            return out
