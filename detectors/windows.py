"""Ring buffers of recent readings, one row per device slot, for one metric.

Readings are appended in device-time order (a batch goes through `slots.rounds`, so
readings shuffled within a batch land in order). A reading not newer than the slot's
newest is *dropped and counted* (`late`): inserting it would shift a row of the ring,
and a rule that already decided on the newer reading cannot take the decision back, so
a late reading may never overwrite or reorder the state. Duplicates are the same case.

Each row stays sorted by time from its oldest to its newest entry, so "the oldest
sample inside the window" is a binary search, done for every slot at once. Entries are
addressed by sequence number (the n-th reading a slot ever accepted sits in column
n % capacity). A window's start only moves forward for a slot that reports regularly, so
each slot remembers its last answer and steps forward from it: usually one or two
vectorised steps instead of log2(capacity); the search covers the rest.
"""

from __future__ import annotations

import numpy as np

from detectors.slots import BoolArray, FloatArray, IntArray

HINT_STEPS = 3  # forward steps from the last answer before falling back to the search


class RingWindows:
    def __init__(self, slots: int, capacity: int) -> None:
        if capacity < 2:
            raise ValueError("a window needs room for at least two readings")
        self.capacity = capacity
        self.ts: FloatArray = np.full((slots, capacity), np.nan)
        self.value: FloatArray = np.full((slots, capacity), np.nan)
        self.head: IntArray = np.full(slots, -1, dtype=np.intp)  # newest entry's column
        self.count: IntArray = np.zeros(slots, dtype=np.intp)
        self.appended: IntArray = np.zeros(slots, dtype=np.intp)  # next sequence number
        self.hint: IntArray = np.zeros(slots, dtype=np.intp)  # last `oldest_since` answer
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
        self.appended[s] += 1
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
        newest = self.appended[s] - 1
        oldest = self.appended[s] - self.count[s]
        q = np.clip(self.hint[s], oldest, newest + 1)
        for _ in range(HINT_STEPS):
            behind = (q <= newest) & (self._ts_at(s, q) < start)
            if not behind.any():
                break
            q = q + behind
        else:
            behind = (q <= newest) & (self._ts_at(s, q) < start)
        # q is the answer only if it is not behind the start and the entry before it is
        # (a long gap leaves it behind; a start that moved back fails the second test).
        wrong = behind | ((q > oldest) & (self._ts_at(s, q - 1) >= start))
        if wrong.any():
            q[wrong] = self._search(s[wrong], start[wrong], oldest[wrong], newest[wrong] + 1)
        self.hint[s] = q
        inside = q <= newest
        col = q % self.capacity
        return (
            np.where(inside, self.ts[s, col], np.nan),
            np.where(inside, self.value[s, col], np.nan),
        )

    def _ts_at(self, s: IntArray, q: IntArray) -> FloatArray:
        """Time of sequence number q (only meaningful for oldest <= q <= newest)."""
        at: FloatArray = self.ts[s, q % self.capacity]
        return at

    def _search(self, s: IntArray, start: FloatArray, lo: IntArray, hi: IntArray) -> IntArray:
        """First sequence number in [lo, hi) whose time is >= start (hi if none)."""
        lo, hi = lo.copy(), hi.copy()
        while True:
            open_ = lo < hi
            if not open_.any():
                return lo
            mid = (lo + hi) // 2
            before = open_ & (self._ts_at(s, mid) < start)
            lo = np.where(before, mid + 1, lo)
            hi = np.where(open_ & ~before, mid, hi)
