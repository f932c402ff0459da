"""Rate of rise (heat detectors) and rate of fall (hydrant and sprinkler pressure loss).

The rate is taken from the oldest reading inside the window to the newest, per minute.
A window holding less than half its length of history decides nothing (the previous
state holds), so a device's first two readings cannot fire on a single noisy step.
"""

from __future__ import annotations

import math

import numpy as np

from config.models_rules import RateRuleSpec
from detectors.reading_rule import Decision, ReadingRule
from detectors.slots import BoolArray, DeviceIndex, FloatArray, IntArray
from detectors.windows import RingWindows

MAX_CAPACITY = 1024


def window_capacity(window: FloatArray, interval: FloatArray) -> int:
    """Room for a window's readings at the expected interval. A device reporting faster
    fills the ring before the window: the rate is then taken over the span the ring
    holds, still a rate, just over a shorter (at least half-window) span."""
    if len(window) == 0:
        return 2
    need = math.ceil(float(np.max(window / interval))) + 4
    return min(max(need, 4), MAX_CAPACITY)


class RateRule(ReadingRule):
    spec: RateRuleSpec

    def __init__(self, spec: RateRuleSpec, index: DeviceIndex) -> None:
        super().__init__(spec, index, ("fire_per_min", "clear_per_min", "window_s"))
        if (self.p["clear_per_min"] > self.p["fire_per_min"]).any():
            raise ValueError(f"rule {spec.id}: clear_per_min is above fire_per_min")
        if (self.p["window_s"] <= 0).any():
            raise ValueError(f"rule {spec.id}: window_s must be > 0")
        self.sign = 1.0 if spec.direction == "rise" else -1.0
        interval = index.interval_s[self.devices.members]
        self.windows = RingWindows(len(self.devices), window_capacity(self.p["window_s"], interval))

    @property
    def history_s(self) -> float:
        return float(self.p["window_s"].max(initial=0.0))

    def observe(self, s: IntArray, t: FloatArray, v: FloatArray) -> tuple[BoolArray, Decision]:
        ok = self.windows.append(s, t, v)
        s, t, v = s[ok], t[ok], v[ok]
        window = self.p["window_s"][s]
        t0, v0 = self.windows.oldest_since(s, t - window)
        span = t - t0
        enough = span >= window / 2  # NaN (no history) is not enough
        rate = np.where(enough, self.sign * (v - v0) * 60.0 / np.where(enough, span, 1.0), np.nan)
        starts = enough & (rate >= self.p["fire_per_min"][s])
        clears = enough & (rate < self.p["clear_per_min"][s])
        return ok, (starts, clears, rate)
