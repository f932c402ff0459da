from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from config.models_rules import AnomalyRuleSpec
from detectors.anomaly import AnomalyDetector
from detectors.anomaly_rule import gap_accepted
from detectors.engine import DetectorEngine
from detectors.slots import BoolArray, FloatArray, IntArray
from gridwatch.clock import ManualClock
from gridwatch.records import Reading
from tests.support.rule_specs import rule_street
from tests.support.tiny_street import T0, device, reading

METRIC = "vibration_rms_g"


def series() -> list[Reading]:
    """A calm periodic vibration for 400 rows, then a burst."""
    rng = np.random.default_rng(4)
    n = 460
    x = 0.2 + 0.05 * np.sin(np.arange(n) / 6.0) + rng.normal(0, 0.005, n)
    x[420:] += 1.5
    return [reading("e1", T0 + 5.0 * i, float(v), METRIC) for i, v in enumerate(x)]


def run(fire_score: float) -> list[str]:
    spec = AnomalyRuleSpec(
        id="vibration-anomaly", device_type="elevator", metric=METRIC, fire_score=fire_score,
        max_false_alerts_per_device_month=None, hold_s=0.0,
        clear_score=min(0.3, fire_score), severity="warning", alert_type="elevator.vibration",
        summary="{device} anomaly score {value}",
    )
    registry = rule_street([device("e1", "elevator", interval_s=5.0)], anomalies=[spec])
    eng = DetectorEngine(registry, clock=ManualClock(T0))
    return [str(c.kind) for r in series() for c in eng.process_readings([r])]


def top_score() -> float:
    """The highest score the detector itself gives this series, row by row."""
    det = AnomalyDetector(1)
    one = np.zeros(1, dtype=np.intp)
    return max(float(det.score(one, np.array([r.ts]), np.array([r.value]))[0]) for r in series())


def test_fires_at_the_highest_score_reached_and_not_just_above_it() -> None:
    top = top_score()
    assert 0.0 < top < 1.0, "the burst should score, and below the maximum"
    assert run(fire_score=top)[:1] == ["fire"]
    assert "fire" not in run(fire_score=top + 1e-9)


def test_clears_once_the_burst_is_learnt_or_gone() -> None:
    kinds = run(fire_score=top_score() / 2)
    assert kinds[0] == "fire" and kinds[-1] == "resolve" and kinds.count("fire") == 1


def test_rows_far_faster_than_the_reporting_interval_are_not_scored_one_by_one() -> None:
    """A resend burst or a flood must not flush the detector's memory (1,280 rows) in a
    second, nor cost a nearest-neighbour search per row: within a quarter of the
    device's interval (5 s here) after a scored row, rows are not scored."""
    spec = AnomalyRuleSpec(
        id="vibration-anomaly", device_type="elevator", metric=METRIC, fire_score=0.5,
        max_false_alerts_per_device_month=None, hold_s=0.0, clear_score=0.3,
        severity="warning", alert_type="elevator.vibration", summary="{device} {value}",
    )
    registry = rule_street([device("e1", "elevator", interval_s=5.0)], anomalies=[spec])
    eng = DetectorEngine(registry, clock=ManualClock(T0))
    rule = eng.anomaly_rules[0]
    scored: list[float] = []
    score = rule.detector.score

    def counting(s: IntArray, t: FloatArray, v: FloatArray) -> FloatArray:
        scored.extend(t.tolist())
        return score(s, t, v)

    rule.detector.score = counting  # type: ignore[method-assign,assignment]
    calm = series()[:400]
    for r in calm:
        eng.process_readings([r])
    assert len(scored) == len(calm)  # at the interval, every row is scored
    last = calm[-1].ts
    flood = [reading("e1", last + 5.0 + i * 0.001, 0.2, METRIC) for i in range(1_000)]
    eng.process_readings(flood)
    assert scored[len(calm):] == [last + 5.0]  # the first of the flood, then nothing
    eng.process_readings([reading("e1", last + 5.0 + 1.25, 0.2, METRIC)])  # a quarter on
    assert scored[-1] == last + 6.25 and len(scored) == len(calm) + 2


def _accepted_round_by_round(
    newest: FloatArray, gap: FloatArray, s: IntArray, t: FloatArray, v: FloatArray
) -> BoolArray:
    """What `observe` accepts, row by row in device-time order (ties in row order)."""
    last = newest.copy()
    keep = np.zeros(len(s), dtype=np.bool_)
    for i in np.lexsort((t, s)):
        d = s[i]
        if np.isfinite(v[i]) and t[i] > last[d] and t[i] >= last[d] + gap[d]:
            keep[i], last[d] = True, t[i]
    return keep


def test_the_rows_a_flood_s_gap_lets_through_are_found_exactly_before_the_rounds() -> None:
    rng = np.random.default_rng(7)
    for case in range(400):
        devices = int(rng.integers(1, 6))
        n = int(rng.integers(0, 60))
        s = rng.integers(0, devices, n).astype(np.intp)
        # Coarse times, so ties and exact gaps are common; a few rows not finite.
        t = np.round(rng.uniform(0, 20, n) * 4) / 4
        v = rng.normal(size=n)
        v[rng.random(n) < 0.1] = np.nan
        v[rng.random(n) < 0.05] = np.inf
        gap = rng.choice([0.0, 0.25, 1.0, 5.0], devices)
        newest = np.where(rng.random(devices) < 0.5, -np.inf, rng.uniform(0, 10, devices))
        want = _accepted_round_by_round(newest, gap, s, t, v)
        got = gap_accepted(newest, gap, s, t, v)
        assert got.tolist() == want.tolist(), f"case {case}"


def test_a_flood_dropped_before_the_rounds_changes_no_decision_and_no_state() -> None:
    """The same readings through the rule with and without the early drop: the same
    alert changes, the same detector and level state."""
    spec = AnomalyRuleSpec(
        id="vibration-anomaly", device_type="elevator", metric=METRIC, fire_score=0.5,
        max_false_alerts_per_device_month=None, hold_s=0.0, clear_score=0.3,
        severity="warning", alert_type="elevator.vibration", summary="{device} {value}",
    )
    registry = rule_street([device(f"e{k}", "elevator", interval_s=5.0) for k in range(3)],
                           anomalies=[spec])
    rng = np.random.default_rng(11)
    batches: list[list[Reading]] = []
    ts = T0
    for b in range(60):
        rows = []
        for k in range(3):
            # Mostly at the interval, now and then a burst of rows 1-3 s apart, a burst
            # of the burst (1 ms apart) and a repeat of a time.
            step = 5.0 if rng.random() < 0.7 else float(rng.choice([0.001, 1.0, 3.0]))
            for i in range(int(rng.integers(1, 40))):
                level = 0.2 + (1.5 if 45 <= b < 50 else 0.0)
                rows.append(reading(f"e{k}", ts + i * step, level + rng.normal(0, 0.01),
                                    METRIC))
            if rng.random() < 0.2:
                rows.append(rows[-1])
        ts += 60.0
        batches.append(rows)

    def replay(drop_early: bool) -> tuple[dict[str, list[str]], dict[str, npt.NDArray[Any]]]:
        eng = DetectorEngine(registry, clock=ManualClock(T0))
        rule = eng.anomaly_rules[0]
        if not drop_early:
            rule._worth_a_round = lambda s, t, v: (s, t, v)  # type: ignore[method-assign]
        # Per device, in order: fewer rounds may interleave two devices' changes
        # differently within a batch, never one device's.
        changes: dict[str, list[str]] = {}
        for rows in batches:
            for c in eng.process_readings(rows):
                changes.setdefault(c.device, []).append(f"{c.kind} {c.ts} {c.value}")
        return changes, rule.state()

    early, early_state = replay(True)
    plain, plain_state = replay(False)
    assert any(c.startswith("fire") for kinds in plain.values() for c in kinds)
    assert early == plain
    assert early_state.keys() == plain_state.keys()
    for key, value in plain_state.items():
        np.testing.assert_array_equal(early_state[key], value, err_msg=key)
