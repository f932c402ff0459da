"""The anomaly rules' learned state survives a restart through its file."""

from __future__ import annotations

import logging
import typing
from pathlib import Path

import numpy as np
import pytest

from config.models_rules import AnomalyDetectorName, AnomalyRuleSpec
from detectors.anomaly_registry import DETECTORS
from detectors.anomaly_rule import AnomalyRule
from detectors.anomaly_state import load_anomaly_state, save_anomaly_state
from detectors.engine import DetectorEngine
from gridwatch.clock import ManualClock
from gridwatch.records import Reading
from tests.support.rule_specs import rule_street
from tests.support.tiny_street import T0, device, reading

METRIC = "vibration_rms_g"
STEP_S = 5.0


def spec(detector: AnomalyDetectorName = "robust-knn") -> AnomalyRuleSpec:
    return AnomalyRuleSpec(
        id="vibration-anomaly", device_type="elevator", metric=METRIC, detector=detector,
        severity="warning", alert_type="elevator.vibration", summary="{device} {value}",
    )


def engine(cars: tuple[str, ...] = ("e1", "e2"), **kw: AnomalyDetectorName) -> DetectorEngine:
    devices = [device(c, "elevator", interval_s=STEP_S) for c in cars]
    return DetectorEngine(rule_street(devices, anomalies=[spec(**kw)]), clock=ManualClock(T0))


def rows(n: int, start: int = 0) -> list[list[Reading]]:
    rng = np.random.default_rng(8)
    x = 0.2 + 0.05 * np.sin(np.arange(start + n) / 6.0) + rng.normal(0, 0.005, start + n)
    cars = ("e1", "e2")
    return [
        [reading(car, T0 + STEP_S * i, float(x[i]) + k, METRIC) for k, car in enumerate(cars)]
        for i in range(start, start + n)
    ]


def scores(eng: DetectorEngine, batches: list[list[Reading]]) -> list[float]:
    [rule] = eng.anomaly_rules
    out: list[float] = []
    for batch in batches:
        s = rule.devices.local_of[eng.index.slots_of([r.device for r in batch])]
        t = np.array([r.ts for r in batch])
        v = np.array([r.value for r in batch])
        out += rule.detector.score(s, t, v).tolist()
        rule.newest[s] = t
    return out


def test_config_names_the_registry_s_detectors() -> None:
    assert set(typing.get_args(AnomalyDetectorName)) == set(DETECTORS)


def test_a_restart_through_the_file_scores_as_if_it_never_stopped(tmp_path: Path) -> None:
    history, after = rows(400), rows(200, start=400)
    whole = engine()
    scores(whole, history)
    expected = scores(whole, after)

    first = engine()
    scores(first, history)
    assert save_anomaly_state(first.anomaly_rules, tmp_path / "state.npz") == 1
    second = engine()
    assert load_anomaly_state(second.anomaly_rules, tmp_path / "state.npz") == [
        "vibration-anomaly"
    ]
    assert scores(second, after) == expected
    # A fresh engine (no file) scores the same rows differently: the file carried state.
    assert scores(engine(), after) != expected


def test_rows_the_saved_state_has_seen_are_not_learnt_twice(tmp_path: Path) -> None:
    first = engine()
    for batch in rows(300):
        first.process_readings(batch)
    save_anomaly_state(first.anomaly_rules, tmp_path / "state.npz")
    second = engine()
    load_anomaly_state(second.anomaly_rules, tmp_path / "state.npz")
    [rule] = second.anomaly_rules
    count = rule.detector.state_dict()["count"].copy()
    history = [r for batch in rows(300) for r in batch]
    second.adopt_anomalies(second.learn_anomalies(second.anomaly_states(), history))
    np.testing.assert_array_equal(rule.detector.state_dict()["count"], count)
    # The same history does teach a detector that has not seen it.
    fresh = engine()
    fresh.adopt_anomalies(fresh.learn_anomalies(fresh.anomaly_states(), history))
    np.testing.assert_array_equal(fresh.anomaly_rules[0].detector.state_dict()["count"], count)


def test_learning_history_leaves_the_live_rule_alone_until_adopted() -> None:
    eng = engine()
    [rule] = eng.anomaly_rules
    before = {k: v.copy() for k, v in rule.state().items()}
    learnt = eng.learn_anomalies(eng.anomaly_states(), [r for b in rows(200) for r in b])
    for name, value in rule.state().items():  # live traffic meanwhile sees the old state
        np.testing.assert_array_equal(value, before[name])
    eng.adopt_anomalies(learnt)
    assert (rule.newest > before["__newest__"]).all()


@pytest.mark.parametrize(
    ("changed", "words"),
    [
        ({"cars": ("e1", "e3")}, "its devices changed"),
        ({"detector": "gaussian"}, "its detector is now 'gaussian'"),
    ],
)
def test_a_rule_that_changed_starts_fresh_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, changed: dict[str, typing.Any], words: str
) -> None:
    first = engine()
    for batch in rows(50):
        first.process_readings(batch)
    save_anomaly_state(first.anomaly_rules, tmp_path / "state.npz")
    second = engine(**changed)
    with caplog.at_level(logging.WARNING):
        assert load_anomaly_state(second.anomaly_rules, tmp_path / "state.npz") == []
    assert words in caplog.text
    [rule] = second.anomaly_rules
    assert np.isneginf(rule.newest).all()  # untouched: fresh


def test_a_corrupt_or_missing_file_leaves_the_detectors_fresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    eng = engine()
    assert load_anomaly_state(eng.anomaly_rules, tmp_path / "absent.npz") == []
    bad = tmp_path / "state.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with caplog.at_level(logging.WARNING):
        assert load_anomaly_state(eng.anomaly_rules, bad) == []
    assert "unreadable" in caplog.text


def test_a_state_that_does_not_fit_changes_nothing() -> None:
    [rule] = engine().anomaly_rules
    state = rule.state()
    before = {k: v.copy() for k, v in state.items()}
    state["count"] = state["count"][:1]  # one slot's worth: the wrong shape
    with pytest.raises(ValueError):
        rule.load(state)
    for name, value in rule.state().items():
        np.testing.assert_array_equal(value, before[name])
    assert isinstance(rule, AnomalyRule)
