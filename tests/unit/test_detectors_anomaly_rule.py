from __future__ import annotations

import numpy as np

from config.models_rules import AnomalyRuleSpec
from detectors.anomaly import AnomalyDetector
from detectors.engine import DetectorEngine
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
