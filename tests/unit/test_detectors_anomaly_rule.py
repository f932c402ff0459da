from __future__ import annotations

import numpy as np

from config.models_rules import AnomalyRuleSpec
from detectors.anomaly import AnomalyDetector
from detectors.engine import DetectorEngine
from detectors.slots import FloatArray, IntArray
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
