"""A plain windowed-Gaussian detector: the reference the default detector is measured
against (NAB's "Windowed Gaussian" baseline in spirit), with the same API.

Each slot keeps its last `window` values in a ring buffer with running sums; a row
scores 1 - P(tail beyond |z|) of its value against the window's mean and deviation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.anomaly_features import FloatArray, IntArray, batch_arrays, normal_sf

VALUE_LIMIT = 1e100


class GaussianDetector:
    def __init__(self, n_slots: int, window: int = 1000, min_history: int = 2) -> None:
        self.n_slots = n_slots
        self.window = window
        self.min_history = min_history
        self.buf = np.zeros((n_slots, window))
        self.head = np.zeros(n_slots, dtype=np.intp)
        self.count = np.zeros(n_slots, dtype=np.intp)
        self.last_ts = np.full(n_slots, -np.inf)
        # Running sums are of values minus the slot's first value: huge offsets would
        # otherwise cancel the variance away.
        self.origin = np.zeros(n_slots)
        self.total = np.zeros(n_slots)
        self.total_sq = np.zeros(n_slots)

    @property
    def history_rows(self) -> int:
        return self.window

    def fire_at_level(self, slots: IntArray, level: FloatArray) -> None:
        """Nothing to do: every row is scored on its own, nothing is damped."""

    def score(self, slots: IntArray, ts: FloatArray, values: FloatArray) -> FloatArray:
        slots, ts, values = batch_arrays(slots, ts, values)
        out = np.zeros(len(slots))
        live = np.flatnonzero(np.isfinite(values) & (ts >= self.last_ts[slots]))
        s = slots[live]
        first = self.count[s] == 0
        self.origin[s] = np.where(
            first, np.clip(values[live], -VALUE_LIMIT, VALUE_LIMIT), self.origin[s]
        )
        x = np.clip(values[live], -VALUE_LIMIT, VALUE_LIMIT) - self.origin[s]
        n = np.minimum(self.count[s], self.window).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            mean = self.total[s] / n
            std = np.sqrt(np.maximum(self.total_sq[s] / n - mean * mean, 0.0))
            z = np.abs(x - mean) / std
        z = np.nan_to_num(np.where(std > 0, z, np.where(x == mean, 0.0, np.inf)), nan=0.0)
        ready = self.count[s] >= self.min_history
        out[live] = np.where(ready, 1.0 - normal_sf(np.minimum(z, 1e6)), 0.0)
        self._learn(s, x)
        self.last_ts[s] = ts[live]
        return np.clip(out, 0.0, 1.0)

    def _learn(self, s: IntArray, x: FloatArray) -> None:
        full = self.count[s] >= self.window
        old = np.where(full, self.buf[s, self.head[s]], 0.0)
        self.total[s] += x - old
        self.total_sq[s] += x * x - old * old
        self.buf[s, self.head[s]] = x
        self.head[s] = (self.head[s] + 1) % self.window
        self.count[s] += 1

    _STATE = ("buf", "head", "count", "last_ts", "origin", "total", "total_sq")

    def state_dict(self) -> dict[str, npt.NDArray[Any]]:
        return {name: getattr(self, name).copy() for name in self._STATE}

    def load_state(self, state: dict[str, npt.NDArray[Any]]) -> None:
        for name in self._STATE:
            setattr(self, name, np.asarray(state[name], dtype=getattr(self, name).dtype).copy())
