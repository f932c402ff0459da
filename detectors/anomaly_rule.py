"""An online anomaly detector (detectors.anomaly_registry, chosen per rule) as a rule.

A score at or above the device's fire level for `min_duration_s` raises a warning;
below the clear level for `hold_s` resolves it. The fire level is, with a false-alert
budget (the default), learnt per device from its own scores (detectors.anomaly_level):
the device does not page while it learns. Without a budget it is `fire_score`.

The detector's and the level's per-slot state are their own; this only wraps them in
the shared lifecycle, so rebuild, restore and flap suppression work as for every rule,
and `state`/`load` let the backend keep what it learned across restarts
(detectors.anomaly_state).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from config.models_rules import AnomalyRuleSpec
from detectors.anomaly_level import FireLevel, LevelParams, risk_per_row
from detectors.anomaly_registry import OnlineDetector, make_detector
from detectors.reading_rule import Decision, ReadingRule
from detectors.slots import BoolArray, DeviceIndex, FloatArray, IntArray, ReadingBatch, rounds
from gridwatch.records import AnomalyLevel

NEWEST = "__newest__"  # the rule's own last accepted time per slot, beside the detector's
LEVEL = "level."  # prefix of the fire level's arrays in the state
BUDGET = "max_false_alerts_per_device_month"
# The detector's features are counted in rows at the device's reporting interval (its
# long shape is four hours of 5-minute samples, its memory 1,280 rows). A device that
# reports far faster (a resend burst, a misconfigured interval, a flood) would flush that
# memory in seconds and cost a nearest-neighbour search per row, so a row closer than
# this fraction of the interval to the last one scored is stored and seen by the other
# rules, but not scored. A quarter leaves room for a jittery clock.
MIN_GAP_OF_INTERVAL = 0.25
AnomalyState = dict[str, npt.NDArray[Any]]


class AnomalyRule(ReadingRule):
    spec: AnomalyRuleSpec

    def __init__(self, spec: AnomalyRuleSpec, index: DeviceIndex) -> None:
        budgeted = spec.max_false_alerts_per_device_month is not None
        super().__init__(
            spec, index, ("fire_score", "clear_score", *((BUDGET,) if budgeted else ()))
        )
        if (self.p["clear_score"] > self.p["fire_score"]).any():
            raise ValueError(f"rule {spec.id}: clear_score is above fire_score")
        self.budgeted = budgeted
        self.detector = make_detector(spec.detector, len(self.devices))
        self.newest = self.devices.floats(-np.inf)
        interval = index.interval_s[self.devices.members]
        self._interval = interval
        self._min_gap = MIN_GAP_OF_INTERVAL * interval
        self.level = self._new_level()
        self._history_s = float(self.detector.history_rows * interval.max(initial=0.0))

    def _new_level(self) -> FireLevel:
        budget = self.p[BUDGET] if self.budgeted else self.devices.floats(1.0)
        params = LevelParams(learn_rows=self.spec.learning_rows)
        return FireLevel(risk_per_row(budget, self._interval), self.p["fire_score"], params)

    @property
    def history_s(self) -> float:
        return self._history_s

    def _accepts(self, newest: FloatArray, s: IntArray, t: FloatArray, v: FloatArray) -> BoolArray:
        """Rows the detector scores: finite, newer than the last scored row of their
        device by at least its minimum gap."""
        gap = self._min_gap[s]
        accepted: BoolArray = (t > newest[s]) & (t >= newest[s] + gap) & np.isfinite(v)
        return accepted

    def _worth_a_round(
        self, s: IntArray, t: FloatArray, v: FloatArray
    ) -> tuple[IntArray, FloatArray, FloatArray]:
        # A flood (a resend burst, a misconfigured interval) of 200 rows per device in a
        # batch made 200 rounds, each a call of `observe` that scored nothing but the
        # first: most of the detector stage's time in the ingest bench. Only the rows
        # `observe` will accept go on, decided exactly as it decides them.
        keep = gap_accepted(self.newest, self._min_gap, s, t, v)
        return s[keep], t[keep], v[keep]

    def observe(self, s: IntArray, t: FloatArray, v: FloatArray) -> tuple[BoolArray, Decision]:
        ok = self._accepts(self.newest, s, t, v)
        if not ok.any():  # a round of a flood: nothing to score, nothing to learn
            none = np.zeros(0, dtype=np.bool_)
            return ok, (none, none, np.zeros(0))
        s, t, v = s[ok], t[ok], v[ok]
        self.newest[s] = t
        score, level, learning = judge(self.detector, self.level, s, t, v, self._fixed(s))
        if self.budgeted:
            starts = (score >= level) & ~learning
            clears = score < np.minimum(self.p["clear_score"][s], level)
        else:
            starts = score >= self.p["fire_score"][s]
            clears = score < self.p["clear_score"][s]
        return np.asarray(ok, dtype=np.bool_), (starts, clears, score)

    def _fixed(self, s: IntArray) -> FloatArray | None:
        """What a rule without a budget fires at (None: the learnt level)."""
        fixed: FloatArray | None = None if self.budgeted else self.p["fire_score"][s]
        return fixed

    def status(self) -> dict[str, AnomalyLevel]:
        """Per device id: the level it fires at now and whether it is learning."""
        budget = self.p[BUDGET] if self.budgeted else None
        fixed = self.p["fire_score"]
        learning = self.level.learning() if self.budgeted else np.zeros(len(fixed), dtype=bool)
        level = self.level.level if self.budgeted else fixed
        return {
            device: AnomalyLevel(
                rule=self.spec.id,
                level=round(float(level[i]), 4),
                learning=bool(learning[i]),
                budget=None if budget is None else float(budget[i]),
            )
            for i, device in enumerate(self.devices.ids)
        }

    def learn(self, state: dict[str, npt.NDArray[Any]], batch: ReadingBatch) -> AnomalyState:
        """A copy of `state` that has also learnt the rows of `batch` it had not seen.
        Touches nothing of this rule, so a restart runs it outside the engine's lock (it
        is the slow part of a replay: every row is scored) and then `load`s the result."""
        detector, level, newest = self._unpack(state)
        s, t, v = self._mine(batch)
        for part in rounds(s, t):
            ps, pt, pv = s[part], t[part], v[part]
            ok = self._accepts(newest, ps, pt, pv)
            judge(detector, level, ps[ok], pt[ok], pv[ok], self._fixed(ps[ok]))
            newest[ps[ok]] = pt[ok]
        return pack(newest, detector, level)

    def state(self) -> dict[str, npt.NDArray[Any]]:
        return pack(self.newest, self.detector, self.level)

    def load(self, state: dict[str, npt.NDArray[Any]]) -> None:
        """Adopt a saved state; KeyError or ValueError if it does not fit (nothing changes)."""
        self.detector, self.level, self.newest = self._unpack(state)

    def _unpack(
        self, state: dict[str, npt.NDArray[Any]]
    ) -> tuple[OnlineDetector, FireLevel, FloatArray]:
        """Fresh detector and level with `state` loaded (KeyError, ValueError if it does
        not fit), and a copy of the newest times: nothing of this rule is touched."""
        newest = np.array(state[NEWEST], dtype=np.float64)
        if newest.shape != self.newest.shape:
            raise ValueError(f"{NEWEST}: shape {newest.shape}, expected {self.newest.shape}")
        detector = make_detector(self.spec.detector, len(self.devices))
        detector.load_state(
            {k: v for k, v in state.items() if k != NEWEST and not k.startswith(LEVEL)}
        )
        level = self._new_level()
        level.load_state({k[len(LEVEL) :]: v for k, v in state.items() if k.startswith(LEVEL)})
        return detector, level, newest


def gap_accepted(
    newest: FloatArray, gap: FloatArray, s: IntArray, t: FloatArray, v: FloatArray
) -> BoolArray:
    """The rows `_accepts` takes when they are offered in rounds of the device's rows in
    time order (ties in row order): a finite value, newer than the device's last
    accepted row (`newest`, per slot) and at least its `gap` after it. A refused row
    changes nothing, so the answer is each device's chain of accepted rows, found with
    one search per link for all devices at once."""
    keep = np.zeros(len(s), dtype=np.bool_)
    candidates = np.flatnonzero(np.isfinite(v))
    if not len(candidates):
        return keep
    order = candidates[np.lexsort((t[candidates], s[candidates]))]
    slot, ts = s[order], t[order]
    first = np.ones(len(order), dtype=np.bool_)
    first[1:] = slot[1:] != slot[:-1]
    before = np.where(first, newest[slot], np.r_[-np.inf, ts[:-1]])
    if bool(((ts > before) & (ts >= before + gap[slot])).all()):
        keep[order] = True  # every row a gap after the one before: the usual batch
        return keep
    # A row's key orders it by (device, time) as an integer: its device times one more
    # than the row count, plus the rank of its time among all the times.
    times = np.sort(ts)
    width = len(ts) + 1
    key = slot * width + np.searchsorted(times, ts, side="left")
    device, last, step = slot[first], newest[slot[first]], gap[slot[first]]
    while len(device):
        # The next accepted row: the first of its device at or after this time.
        due = np.maximum(last + step, np.nextafter(last, np.inf))
        at = np.searchsorted(key, device * width + np.searchsorted(times, due, side="left"))
        found = at < len(key)
        found[found] = slot[at[found]] == device[found]
        at = at[found]
        keep[order[at]] = True
        device, last, step = device[found], ts[at], step[found]
    return keep


def judge(
    detector: OnlineDetector,
    level: FireLevel,
    s: IntArray,
    t: FloatArray,
    v: FloatArray,
    fixed: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Score a round of rows, and judge each against its device's level (as it was
    before the row, which is then learnt unless it alerts). The detector is told what
    the rule fires at (`fixed`, per row, for a rule without a budget), so that its
    episodes stop damping only once that is reached."""
    detector.fire_at_level(s, level.level[s] if fixed is None else fixed)
    score = detector.score(s, t, v)
    fire_at, learning = level.judge(s, score)
    return score, fire_at, learning


def pack(newest: FloatArray, detector: OnlineDetector, level: FireLevel) -> AnomalyState:
    level_state = {LEVEL + k: v for k, v in level.state_dict().items()}
    return {NEWEST: newest.copy(), **detector.state_dict(), **level_state}
