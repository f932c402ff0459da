"""An online anomaly detector (detectors.anomaly_registry, chosen per rule) as a rule:
a score at or above `fire_score` for `min_duration_s` raises a warning; below
`clear_score` for `hold_s` resolves it. The detector's per-slot state is its own; this
only wraps it in the shared lifecycle, so rebuild, restore and flap suppression work as
for every rule, and `state`/`load` let the backend keep what it learned across restarts
(detectors.anomaly_state)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from config.models_rules import AnomalyRuleSpec
from detectors.anomaly_registry import make_detector
from detectors.reading_rule import Decision, ReadingRule
from detectors.slots import BoolArray, DeviceIndex, FloatArray, IntArray, ReadingBatch, rounds

NEWEST = "__newest__"  # the rule's own last accepted time per slot, beside the detector's
AnomalyState = dict[str, npt.NDArray[Any]]


class AnomalyRule(ReadingRule):
    spec: AnomalyRuleSpec

    def __init__(self, spec: AnomalyRuleSpec, index: DeviceIndex) -> None:
        super().__init__(spec, index, ("fire_score", "clear_score"))
        if (self.p["clear_score"] > self.p["fire_score"]).any():
            raise ValueError(f"rule {spec.id}: clear_score is above fire_score")
        self.detector = make_detector(spec.detector, len(self.devices))
        self.newest = self.devices.floats(-np.inf)
        interval = index.interval_s[self.devices.members]
        self._history_s = float(self.detector.history_rows * interval.max(initial=0.0))

    @property
    def history_s(self) -> float:
        return self._history_s

    def observe(self, s: IntArray, t: FloatArray, v: FloatArray) -> tuple[BoolArray, Decision]:
        ok = (t > self.newest[s]) & np.isfinite(v)
        s, t, v = s[ok], t[ok], v[ok]
        self.newest[s] = t
        score = self.detector.score(s, t, v)
        starts = score >= self.p["fire_score"][s]
        clears = score < self.p["clear_score"][s]
        return np.asarray(ok, dtype=np.bool_), (starts, clears, score)

    def learn(self, state: dict[str, npt.NDArray[Any]], batch: ReadingBatch) -> AnomalyState:
        """A copy of `state` that has also learnt the rows of `batch` it had not seen.
        Touches nothing of this rule, so a restart runs it outside the engine's lock (it
        is the slow part of a replay: every row is scored) and then `load`s the result."""
        detector = make_detector(self.spec.detector, len(self.devices))
        detector.load_state({k: v for k, v in state.items() if k != NEWEST})
        newest = np.array(state[NEWEST], dtype=np.float64)
        s, t, v = self._mine(batch)
        for part in rounds(s, t):
            ps, pt, pv = s[part], t[part], v[part]
            ok = (pt > newest[ps]) & np.isfinite(pv)
            detector.score(ps[ok], pt[ok], pv[ok])
            newest[ps[ok]] = pt[ok]
        return {NEWEST: newest, **detector.state_dict()}

    def state(self) -> dict[str, npt.NDArray[Any]]:
        return {NEWEST: self.newest.copy(), **self.detector.state_dict()}

    def load(self, state: dict[str, npt.NDArray[Any]]) -> None:
        """Adopt a saved state; KeyError or ValueError if it does not fit (nothing changes)."""
        newest = np.asarray(state[NEWEST], dtype=np.float64)
        if newest.shape != self.newest.shape:
            raise ValueError(f"{NEWEST}: shape {newest.shape}, expected {self.newest.shape}")
        # Into a fresh detector, swapped in only once all of it loaded.
        detector = make_detector(self.spec.detector, len(self.devices))
        detector.load_state({k: v for k, v in state.items() if k != NEWEST})
        self.detector, self.newest = detector, newest.copy()
