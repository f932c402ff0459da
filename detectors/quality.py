"""Sensor health rules: the reading itself is suspect, not the place it measures.

- out of range: a value the sensor cannot physically report (a fault, not an alarm);
- flat-line: a signal that should vary has not moved for N readings and T seconds;
- noisy: the signal reverses direction on most readings (a loose contact, a failing
  sensor), counted over the last N readings in a ring of 0/1 flags with a running sum.

Each keeps O(1) state per slot besides the noisy ring, so a step costs the same
whatever the window length.
"""

from __future__ import annotations

import numpy as np

from config.models_rules import FlatlineRuleSpec, NoisyRuleSpec, RangeRuleSpec, ReadingRuleSpec
from detectors.reading_rule import Decision, ReadingRule
from detectors.slots import BoolArray, DeviceIndex, FloatArray, IntArray


class _Ordered(ReadingRule):
    """Accepts only readings newer than the slot's newest (late ones are dropped)."""

    def __init__(self, spec: ReadingRuleSpec, index: DeviceIndex, params: tuple[str, ...]) -> None:
        super().__init__(spec, index, params)
        self.newest = self.devices.floats(-np.inf)
        self.interval_s = index.interval_s[self.devices.members]

    def _accept(self, s: IntArray, t: FloatArray, v: FloatArray) -> BoolArray:
        ok = (t > self.newest[s]) & ~np.isnan(v)
        self.newest[s[ok]] = t[ok]
        return np.asarray(ok, dtype=np.bool_)


class RangeRule(_Ordered):
    spec: RangeRuleSpec

    def __init__(self, spec: RangeRuleSpec, index: DeviceIndex) -> None:
        super().__init__(spec, index, ("low", "high"))
        if (self.p["low"] >= self.p["high"]).any():
            raise ValueError(f"rule {spec.id}: low must be below high")

    def observe(self, s: IntArray, t: FloatArray, v: FloatArray) -> tuple[BoolArray, Decision]:
        ok = self._accept(s, t, v)
        s, v = s[ok], v[ok]
        plausible = (v >= self.p["low"][s]) & (v <= self.p["high"][s])
        return ok, (~plausible, plausible, v)


class FlatlineRule(_Ordered):
    spec: FlatlineRuleSpec

    def __init__(self, spec: FlatlineRuleSpec, index: DeviceIndex) -> None:
        super().__init__(spec, index, ("tolerance", "samples", "stuck_s"))
        self.ref = self.devices.floats(np.nan)  # the value at the last real change
        self.changed_at = self.devices.floats(np.nan)
        self.same = np.zeros(len(self.devices), dtype=np.int64)

    @property
    def history_s(self) -> float:
        return float(self.p["stuck_s"].max(initial=0.0))

    def observe(self, s: IntArray, t: FloatArray, v: FloatArray) -> tuple[BoolArray, Decision]:
        ok = self._accept(s, t, v)
        s, t, v = s[ok], t[ok], v[ok]
        # NaN ref (first reading) compares False, so it counts as a change.
        moved = ~(np.abs(v - self.ref[s]) <= self.p["tolerance"][s])
        self.ref[s] = np.where(moved, v, self.ref[s])
        self.changed_at[s] = np.where(moved, t, self.changed_at[s])
        self.same[s] = np.where(moved, 1, self.same[s] + 1)
        stuck = (self.same[s] >= self.p["samples"][s]) & (
            t - self.changed_at[s] >= self.p["stuck_s"][s]
        )
        return ok, (stuck, ~stuck, v)


class NoisyRule(_Ordered):
    spec: NoisyRuleSpec

    def __init__(self, spec: NoisyRuleSpec, index: DeviceIndex) -> None:
        super().__init__(spec, index, ("min_step", "fire_reversals", "clear_reversals"))
        if (self.p["clear_reversals"] > self.p["fire_reversals"]).any():
            raise ValueError(f"rule {spec.id}: clear_reversals is above fire_reversals")
        n = len(self.devices)
        self.flags = np.zeros((n, spec.samples), dtype=np.int8)
        self.head = np.zeros(n, dtype=np.intp)
        self.reversals = np.zeros(n, dtype=np.int64)
        self.prev = self.devices.floats(np.nan)
        self.direction = np.zeros(n, dtype=np.int8)

    @property
    def history_s(self) -> float:
        # The ring holds readings, not seconds: that many expected intervals rebuild it.
        return float(self.spec.samples * self.interval_s.max(initial=0.0))

    def observe(self, s: IntArray, t: FloatArray, v: FloatArray) -> tuple[BoolArray, Decision]:
        ok = self._accept(s, t, v)
        s, v = s[ok], v[ok]
        step = v - self.prev[s]
        big = np.abs(step) >= np.maximum(self.p["min_step"][s], 1e-12)  # NaN step: False
        direction = np.where(big, np.sign(step), 0).astype(np.int8)
        before = self.direction[s]
        flag = ((direction != 0) & (before != 0) & (direction != before)).astype(np.int8)
        head = (self.head[s] + 1) % self.flags.shape[1]
        self.reversals[s] += flag - self.flags[s, head]
        self.flags[s, head] = flag
        self.head[s] = head
        self.prev[s] = v
        self.direction[s] = np.where(big, direction, before)
        count = self.reversals[s].astype(np.float64)
        starts = count >= self.p["fire_reversals"][s]
        clears = count < self.p["clear_reversals"][s]
        return ok, (starts, clears, count)
