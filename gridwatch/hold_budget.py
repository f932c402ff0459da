"""How many readings to evaluate per hold of the engine lock, so a hold stays short.

An alarm waiting for the detector engine gets it at the next release (PriorityLock), so
the alarm's wait is one hold of the readings lane. A fixed chunk cannot bound that wait:
a chunk of cheap threshold readings takes a millisecond, while the same count of
anomaly-ruled readings (a nearest-neighbour search each) took 200-300 ms in the ingest
bench. So the chunk is sized from the measured cost per reading, to fit a time budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ChunkSizer:
    budget_s: float = 0.02  # one hold; the alarm's wait for the engine
    smallest: int = 50  # below this the per-chunk overhead dominates
    largest: int = 5_000
    smoothing: float = 0.5  # weight of the newest measurement
    _cost_s: float = field(default=0.0, init=False)  # per reading, smoothed

    def size(self) -> int:
        """Readings for the next hold."""
        if self._cost_s <= 0.0:
            return self.smallest  # nothing measured yet: start small, grow when cheap
        return max(self.smallest, min(self.largest, int(self.budget_s / self._cost_s)))

    def took(self, readings: int, seconds: float) -> None:
        """Record one hold: `readings` evaluated in `seconds`."""
        if readings <= 0:
            return
        cost = max(seconds, 1e-9) / readings
        if self._cost_s <= 0.0 or cost > self._cost_s:
            # An overrun shrinks the next chunk at once; a cheaper chunk grows it slowly.
            self._cost_s = cost
        else:
            self._cost_s += self.smoothing * (cost - self._cost_s)
