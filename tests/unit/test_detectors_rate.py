from __future__ import annotations

from collections.abc import Sequence

import pytest

from config.models_rules import RateRuleSpec
from detectors.engine import DetectorEngine
from detectors.lifecycle import rule_fingerprint
from gridwatch.clock import ManualClock
from gridwatch.records import AlertChange, Reading
from tests.support.rule_specs import FakeSeries, heat_rise, pressure_fall, rule_street
from tests.support.tiny_street import T0, device, reading

STEP_S = 30.0


def engine(spec: RateRuleSpec) -> DetectorEngine:
    registry = rule_street([device("d1", spec.device_type, interval_s=STEP_S)], rates=[spec])
    return DetectorEngine(registry, clock=ManualClock(T0 + 10_000))


def ramp(spec: RateRuleSpec, per_min: float, n: int, start: float = 20.0) -> list[Reading]:
    """`n` readings every STEP_S changing `per_min` per minute in the rule's direction."""
    sign = 1.0 if spec.direction == "rise" else -1.0
    return [
        reading("d1", T0 + i * STEP_S, start + sign * per_min * i * STEP_S / 60, spec.metric)
        for i in range(n)
    ]


def kinds(changes: Sequence[AlertChange]) -> list[str]:
    return [c.kind for c in changes]


@pytest.fixture(params=["rise", "fall"])
def spec(request: pytest.FixtureRequest) -> RateRuleSpec:
    return heat_rise() if request.param == "rise" else pressure_fall()


def test_fires_at_the_rate_and_not_just_below(spec: RateRuleSpec) -> None:
    below = engine(spec).process_readings(ramp(spec, spec.fire_per_min * 0.99, 12))
    assert below == []
    changes = engine(spec).process_readings(ramp(spec, spec.fire_per_min * 1.01, 12))
    fired = [c for c in changes if c.kind == "fire"]
    assert len(fired) == 1
    assert fired[0].fingerprint == rule_fingerprint(spec.id, "d1")
    assert fired[0].value == pytest.approx(spec.fire_per_min * 1.01)
    # Not before the window holds half its length of history.
    assert fired[0].ts == T0 + spec.window_s / 2


def test_clears_only_below_the_clear_rate(spec: RateRuleSpec) -> None:
    eng = engine(spec)
    fast = ramp(spec, spec.fire_per_min * 2, 8)
    assert "fire" in kinds(eng.process_readings(fast))
    sign = 1.0 if spec.direction == "rise" else -1.0
    last = fast[-1]
    # Slowing to between clear and fire rates keeps it firing (hysteresis) ...
    mid = (spec.fire_per_min + spec.clear_per_min) / 2
    t, v = last.ts, last.value
    band: list[Reading] = []
    for _ in range(int(spec.window_s / STEP_S) + 1):
        t, v = t + STEP_S, v + sign * mid * STEP_S / 60
        band.append(reading("d1", t, v, spec.metric))
    assert "resolve" not in kinds(eng.process_readings(band))
    # ... and going flat clears it once the window no longer holds the ramp.
    flat = [
        reading("d1", t + STEP_S * (i + 1), v, spec.metric)
        for i in range(int(spec.window_s / STEP_S) + 1)
    ]
    settled = [k for k in kinds(eng.process_readings(flat)) if k != "update"]
    assert settled == ["resolve"]


def test_per_device_override() -> None:
    spec = heat_rise(overrides={"d1": {"fire_per_min": 20.0}})
    assert engine(spec).process_readings(ramp(spec, 10.0, 12)) == []
    assert "fire" in kinds(engine(spec).process_readings(ramp(spec, 21.0, 12)))


def test_late_reading_does_not_corrupt_the_window() -> None:
    spec = heat_rise()
    eng = engine(spec)
    steady = ramp(spec, 0.0, 6)
    eng.process_readings(steady)
    # A wildly different reading from the past arrives late: dropped, no alert.
    assert eng.process_readings([reading("d1", T0 + 1, -50.0, spec.metric)]) == []
    assert eng.process_readings(ramp(spec, 0.0, 8)[6:]) == []


def test_restart_mid_condition_rebuilds_the_window_from_the_store() -> None:
    spec = heat_rise()
    history = ramp(spec, spec.fire_per_min * 2, 10)
    before = engine(spec)
    [fired] = [c for c in before.process_readings(history) if c.kind == "fire"]
    last = history[-1]
    # Faster still, so the rate (and the alert's value) changes.
    nxt = reading("d1", last.ts + STEP_S, last.value + spec.fire_per_min * 3, spec.metric)
    oldest = next(r for r in history if r.ts >= nxt.ts - spec.window_s)
    expected = (nxt.value - oldest.value) * 60 / (nxt.ts - oldest.ts)

    # Restarted with nothing but the alert store: blind, the next reading decides nothing.
    blind = engine(spec)
    blind.restore([(fired.fingerprint, "d1", fired.value)])
    assert blind.process_readings([nxt]) == []

    after = engine(spec)
    after.restore([(fired.fingerprint, "d1", fired.value)])
    store = FakeSeries(history)
    now = history[-1].ts + 1
    # The store already has the alert the history implies: the rebuild raises nothing.
    assert after.rebuild(store, now=now) == []
    [update] = after.process_readings([nxt])
    assert (update.kind, update.fingerprint) == ("update", fired.fingerprint)
    assert update.value == pytest.approx(expected)
