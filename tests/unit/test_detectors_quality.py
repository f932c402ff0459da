from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from detectors.engine import DetectorEngine
from gridwatch.clock import ManualClock
from gridwatch.records import AlertChange
from tests.support.rule_specs import (
    FakeSeries,
    heat_flatline,
    heat_noisy,
    heat_range,
    rule_street,
)
from tests.support.tiny_street import T0, device, reading

STEP_S = 60.0
METRIC = "temperature_c"


def engine(**rules: Any) -> DetectorEngine:
    registry = rule_street([device("h1", "heat_detector", interval_s=STEP_S)], **rules)
    return DetectorEngine(registry, clock=ManualClock(T0))


def feed(eng: DetectorEngine, values: Sequence[float], start: int = 0) -> list[AlertChange]:
    return eng.process_readings(
        [reading("h1", T0 + (start + i) * STEP_S, v, METRIC) for i, v in enumerate(values)]
    )


def kinds(changes: Sequence[AlertChange]) -> list[str]:
    return [c.kind for c in changes]


def test_out_of_range_is_a_sensor_fault_not_an_alarm_and_clears() -> None:
    spec = heat_range()
    eng = engine(ranges=[spec])
    assert feed(eng, [spec.low, spec.high]) == []
    [fault] = feed(eng, [spec.high + 0.1], start=2)
    assert (fault.kind, fault.type, fault.severity) == ("fire", "device.sensor_fault", "minor")
    assert kinds(feed(eng, [25.0], start=3)) == ["resolve"]
    assert kinds(feed(eng, [spec.low - 0.1], start=4)) == ["fire"]


def test_range_override_and_restart_mid_fault() -> None:
    spec = heat_range(overrides={"h1": {"high": 80.0}})
    assert kinds(feed(engine(ranges=[spec]), [80.5])) == ["fire"]
    after = engine(ranges=[spec])
    after.restore([("heat-range:h1", "h1", 80.5)])
    assert kinds(feed(after, [81.0, 25.0], start=5)) == ["update", "resolve"]


def test_flatline_fires_after_n_unchanged_samples_and_t_seconds() -> None:
    spec = heat_flatline()  # 5 samples, 240 s, tolerance 0.01
    jitter = [22.0, 22.005, 21.995, 22.0]
    assert feed(engine(flatlines=[spec]), jitter) == []  # 4 samples, 180 s: not yet
    eng = engine(flatlines=[spec])
    [stuck] = feed(eng, [*jitter, 22.0])
    assert (stuck.kind, stuck.ts) == ("fire", T0 + 4 * STEP_S)
    # Moving again clears it.
    assert kinds(feed(eng, [22.5], start=5)) == ["resolve"]


def test_flatline_varying_just_past_tolerance_never_fires() -> None:
    spec = heat_flatline()
    values = [22.0 + (0.011 if i % 2 else 0.0) for i in range(20)]
    assert feed(engine(flatlines=[spec]), values) == []


def test_flatline_survives_a_restart_through_the_store() -> None:
    spec = heat_flatline()
    history = [reading("h1", T0 + i * STEP_S, 22.0, METRIC) for i in range(4)]
    eng = engine(flatlines=[spec])
    eng.rebuild(FakeSeries(history), now=T0 + 4 * STEP_S)
    assert kinds(feed(eng, [22.0], start=4)) == ["fire"]


def test_noisy_sensor_fires_on_reversals_and_clears_with_hysteresis() -> None:
    spec = heat_noisy()  # 10 samples, fire at 6 reversals, clear below 3, step 0.5
    saw = [20.0 + (1.0 if i % 2 else 0.0) for i in range(8)]  # 6 reversals in 8 readings
    eng = engine(noisy=[spec])
    assert kinds(feed(eng, saw)) == ["fire"]
    # A smooth climb: reversals leave the 10-reading ring one by one.
    climb = [saw[-1] + i for i in range(1, 12)]
    out = feed(eng, climb, start=8)
    assert [k for k in kinds(out) if k != "update"] == ["resolve"]
    resolve = next(c for c in out if c.kind == "resolve")
    assert resolve.value == spec.clear_reversals - 1


def test_noise_just_below_the_step_or_count_does_not_fire() -> None:
    spec = heat_noisy()
    small = [20.0 + (0.49 if i % 2 else 0.0) for i in range(10)]
    assert feed(engine(noisy=[spec]), small) == []
    five = [20.0 + (1.0 if i % 2 else 0.0) for i in range(7)] + [20.0 - i for i in range(1, 4)]
    assert feed(engine(noisy=[spec]), five) == []


def test_flatline_needs_the_samples_as_well_as_the_time() -> None:
    spec = heat_flatline()  # 5 samples and 240 s
    eng = engine(flatlines=[spec])
    sparse = [reading("h1", T0 + i * 300.0, 22.0, METRIC) for i in range(4)]
    assert eng.process_readings(sparse) == []  # 900 s unchanged, but only 4 readings
    assert kinds(eng.process_readings([reading("h1", T0 + 1200.0, 22.0, METRIC)])) == ["fire"]
