"""The online anomaly detector (detectors.anomaly) as a rule: a score at or above
`fire_score` for `min_duration_s` raises a warning; below `clear_score` for `hold_s`
resolves it. The detector's per-slot state is its own; this only wraps it in the
shared lifecycle, so rebuild, restore and flap suppression work as for every rule."""

from __future__ import annotations

import numpy as np

from config.models_rules import AnomalyRuleSpec
from detectors.anomaly import AnomalyDetector
from detectors.reading_rule import Decision, ReadingRule
from detectors.slots import BoolArray, DeviceIndex, FloatArray, IntArray


class AnomalyRule(ReadingRule):
    spec: AnomalyRuleSpec

    def __init__(self, spec: AnomalyRuleSpec, index: DeviceIndex) -> None:
        super().__init__(spec, index, ("fire_score", "clear_score"))
        if (self.p["clear_score"] > self.p["fire_score"]).any():
            raise ValueError(f"rule {spec.id}: clear_score is above fire_score")
        self.detector = AnomalyDetector(len(self.devices))
        self.newest = self.devices.floats(-np.inf)
        interval = index.interval_s[self.devices.members]
        self._history_s = float(self.detector.params.window * interval.max(initial=0.0))

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
