"""Ring buffers of recent readings, one row per device slot, for one metric.

Readings are appended in device-time order (a batch goes through `slots.rounds`, so
readings shuffled within a batch land in order). A reading not newer than the slot's
newest is *dropped and counted* (`late`): inserting it would shift a row of the ring,
and a rule that already decided on the newer reading cannot take the decision back, so
a late reading may never overwrite or reorder the state. Duplicates are the same case.

Each row stays sorted by time from its oldest to its newest entry, so "the oldest
sample inside the window" is a binary search, done for every slot at once.
"""

from __future__ import annotations

import numpy as np

from detectors.slots import BoolArray, FloatArray, IntArray


class RingWindows:
    def __init__(self, slots: int, capacity: int) -> None:
        if capacity < 2:
            raise ValueError("a window needs room for at least two readings")
        self.capacity = capacity
        self.ts: FloatArray = np.full((slots, capacity), np.nan)
        self.value: FloatArray = np.full((slots, capacity), np.nan)
        self.head: IntArray = np.full(slots, -1, dtype=np.intp)  # newest entry's column
        self.count: IntArray = np.zeros(slots, dtype=np.intp)
        self.newest: FloatArray = np.full(slots, -np.inf)
        self.late = 0  # readings dropped for arriving after a newer one

    def append(self, s: IntArray, t: FloatArray, v: FloatArray) -> BoolArray:
        """Append one reading per slot (unique `s`); returns which were accepted."""
        ok: BoolArray = (t > self.newest[s]) & np.isfinite(v) & np.isfinite(t)
        self.late += int(np.count_nonzero(~ok & np.isfinite(v)))
        s, t, v = s[ok], t[ok], v[ok]
        head = (self.head[s] + 1) % self.capacity
        self.head[s] = head
        self.ts[s, head] = t
        self.value[s, head] = v
        self.count[s] = np.minimum(self.count[s] + 1, self.capacity)
        self.newest[s] = t
        return ok

    def _column(self, s: IntArray, age: IntArray) -> IntArray:
        """Column of the entry `age` places before the newest (0 is the newest)."""
        return (self.head[s] - age) % self.capacity

    def back(self, s: IntArray, age: int) -> tuple[FloatArray, FloatArray]:
        """(ts, value) `age` entries before the newest; NaN where the row is shorter."""
        col = self._column(s, np.full(len(s), age, dtype=np.intp))
        have = self.count[s] > age
        return (
            np.where(have, self.ts[s, col], np.nan),
            np.where(have, self.value[s, col], np.nan),
        )

    def oldest_since(self, s: IntArray, start: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(ts, value) of each slot's oldest entry with ts >= start; NaN if none."""
        # Binary search on age: ages [0, count) run newest to oldest, times descending.
        lo: IntArray = np.zeros(len(s), dtype=np.intp)  # age known to be inside the window
        hi: IntArray = self.count[s].copy()  # first age known outside (or past the end)
        inside = (hi > 0) & (self.newest[s] >= start)
        while True:
            open_ = inside & (hi - lo > 1)
            if not open_.any():
                break
            mid: IntArray = (lo + hi) // 2
            mid_in = self.ts[s, self._column(s, mid)] >= start
            lo = np.where(open_ & mid_in, mid, lo).astype(np.intp)
            hi = np.where(open_ & ~mid_in, mid, hi).astype(np.intp)
        col = self._column(s, lo)
        return (
            np.where(inside, self.ts[s, col], np.nan),
            np.where(inside, self.value[s, col], np.nan),
        )
