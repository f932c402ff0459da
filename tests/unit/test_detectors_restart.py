"""Every reading rule survives a restart at any point of its condition.

One scenario per rule: readings at fixed steps (the engine ticks after each), taking
the rule from quiet through pending, firing and clearing. The uninterrupted run is the
reference. Then, for every step j, an engine that stopped after step j is replaced by a
new one that knows only what a real restart has: the alert store (the firing alerts of
the first run so far) and the time-series store (the readings so far). The fires and
resolves of before + rebuild + after must equal the reference's, at the same device
times: nothing lost (a pending condition keeps its start), nothing doubled.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from config.models_rules import ElevatorRulesSpec
from config.registry import Registry
from detectors.engine import DetectorEngine
from gridwatch.clock import ManualClock
from gridwatch.records import AlertChange, Reading
from tests.support.rule_specs import (
    FakeSeries,
    heat_flatline,
    heat_noisy,
    heat_range,
    heat_rise,
    pressure_fall,
    rule_street,
)
from tests.support.tiny_street import T0, device, reading, smoke_rule

STEP_S = 10.0
HEAT = "temperature_c"
Transition = tuple[str, str, float]  # kind, fingerprint, device time


@dataclass(frozen=True)
class Scenario:
    registry: Registry
    steps: list[list[Reading]]  # one batch per step, STEP_S apart

    def at(self, j: int) -> float:
        return T0 + j * STEP_S


def single(device_type: str, metric: str, values: Sequence[float], **rules: Any) -> Scenario:
    registry = rule_street([device("d1", device_type, interval_s=STEP_S)], **rules)  # type: ignore[arg-type]
    steps = [[reading("d1", T0 + i * STEP_S, v, metric)] for i, v in enumerate(values)]
    return Scenario(registry, steps)


Status = dict[str, float]
IDLE: Status = {"car_occupied": 0, "running": 0, "door_open": 0, "in_door_zone": 1,
                "speed_mps": 0.0, "floor": 3.0}


def elevator_scenario(plan: Sequence[Status]) -> Scenario:
    """One car's status reports, STEP_S apart; each entry changes the idle status."""
    spec = ElevatorRulesSpec(
        trapped_confirm_s=40.0, moving_confirm_s=15.0, hold_s=20.0, rated_speed_mps=1.5
    )
    registry = rule_street([device("e1", "elevator", interval_s=STEP_S)], elevator=spec)
    steps = [
        [reading("e1", T0 + i * STEP_S, v, m) for m, v in (IDLE | change).items()]
        for i, change in enumerate(plan)
    ]
    return Scenario(registry, steps)


NONE: Status = {}
STUCK: Status = {"car_occupied": 1, "in_door_zone": 0}  # occupied, stopped between floors
OPEN_MOVING: Status = {"running": 1, "door_open": 1, "speed_mps": 0.5}
FAST: Status = {"running": 1, "speed_mps": 2.0}  # over 1.5 x 1.15


SCENARIOS = {
    # 30 s confirm time, hysteresis band (7) holds it, then clear.
    "threshold": lambda: single(
        "smoke_detector",
        "smoke_obscuration_pct_m",
        [0, 0, 12, 12, 12, 12, 12, 7, 7, 2, 2, 2],
        thresholds=[smoke_rule(min_duration_s=30.0)],
    ),
    "rate-rise": lambda: single(
        "heat_detector", HEAT, [20, 20, 20, 22, 24, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30],
        rates=[heat_rise(window_s=40.0, hold_s=20.0, min_duration_s=10.0)],
    ),
    "rate-fall": lambda: single(
        "hydrant_pressure", "water_pressure_mpa",
        [0.5, 0.5, 0.5, 0.48, 0.46, 0.44, 0.42, 0.40, 0.40, 0.40, 0.40, 0.40, 0.40, 0.40],
        rates=[pressure_fall(window_s=40.0, hold_s=20.0)],
    ),
    "range": lambda: single(
        "heat_detector", HEAT, [20, 20, 200, 200, 200, 200, 20, 20, 20, 20, 20],
        ranges=[heat_range(min_duration_s=20.0, hold_s=20.0)],
    ),
    "flatline": lambda: single(
        "heat_detector", HEAT, [20, 21, 22, 22, 22, 22, 22, 22, 22, 22, 23, 24, 25, 26, 27],
        flatlines=[heat_flatline(samples=3, stuck_s=30.0, hold_s=20.0)],
    ),
    "noisy": lambda: single(
        "heat_detector", HEAT, [20, 21, 20, 21, 20, 21, 20, 21, *range(22, 34)],
        noisy=[heat_noisy(samples=8, fire_reversals=5, clear_reversals=2, hold_s=20.0)],
    ),
    # Trapped after 40 s, then freed: resolved after the 20 s hold.
    "elevator-trapped": lambda: elevator_scenario([NONE] * 2 + [STUCK] * 7 + [NONE] * 5),
    "elevator-door-open-moving": lambda: elevator_scenario(
        [NONE] * 2 + [OPEN_MOVING] * 4 + [NONE] * 5
    ),
    "elevator-overspeed": lambda: elevator_scenario([NONE] * 2 + [FAST] * 3 + [NONE] * 5),
}


def transitions(changes: Sequence[AlertChange]) -> list[Transition]:
    # Updates are throttled by wall time since the last emission, so only fires and
    # resolves are compared; offline alerts depend on the restart's own grace period.
    return [(c.kind, c.fingerprint, c.ts) for c in changes
            if c.kind != "update" and not c.fingerprint.startswith("offline")]


def run(
    engine: DetectorEngine, clock: ManualClock, sc: Scenario, steps: range
) -> list[AlertChange]:
    changes: list[AlertChange] = []
    for j in steps:
        clock.now = sc.at(j)
        changes += engine.process_readings(sc.steps[j])
        changes += engine.tick(sc.at(j))
    return changes


def firing_after(changes: Sequence[AlertChange]) -> list[tuple[str, str, float | None]]:
    """The alert store's firing alerts after these changes, as `restore` takes them."""
    firing: dict[str, AlertChange] = {}
    for c in changes:
        if c.kind == "resolve":
            firing.pop(c.fingerprint, None)
        else:
            firing[c.fingerprint] = c
    return [(c.fingerprint, c.device, c.value) for c in firing.values()]


@pytest.mark.parametrize("name", SCENARIOS)
def test_restart_at_every_step_fires_and_resolves_as_if_never_stopped(name: str) -> None:
    sc = SCENARIOS[name]()
    clock = ManualClock(T0)
    whole = run(DetectorEngine(sc.registry, clock=clock), clock, sc, range(len(sc.steps)))
    reference = transitions(whole)
    kinds = [k for k, _, _ in reference]
    assert kinds == ["fire", "resolve"], f"{name}: the scenario must fire once and resolve"

    for crash in range(1, len(sc.steps)):
        clock = ManualClock(T0)
        before = run(DetectorEngine(sc.registry, clock=clock), clock, sc, range(crash))
        stored = [r for step in sc.steps[:crash] for r in step]
        clock.now = sc.at(crash - 1) + 1.0
        after = DetectorEngine(sc.registry, clock=clock)
        assert after.restore(firing_after(before)) == []
        rebuilt = after.rebuild(FakeSeries(stored), now=clock())
        rest = run(after, clock, sc, range(crash, len(sc.steps)))
        got = transitions(before) + transitions(rebuilt) + transitions(rest)
        assert got == reference, f"{name}: restart after step {crash - 1}"


def test_a_fire_the_store_never_got_comes_out_of_the_rebuild_once() -> None:
    sc = SCENARIOS["threshold"]()
    clock = ManualClock(T0)
    before = run(DetectorEngine(sc.registry, clock=clock), clock, sc, range(7))
    [fired] = [c for c in before if c.kind == "fire"]
    # The crash came between the detector's decision and the alert store's write.
    after = DetectorEngine(sc.registry, clock=clock)
    assert after.restore([]) == []
    stored = [r for step in sc.steps[:7] for r in step]
    [again] = after.rebuild(FakeSeries(stored), now=sc.at(6) + 1.0)
    assert (again.kind, again.fingerprint, again.ts) == ("fire", fired.fingerprint, fired.ts)
    # ... and the next reading in condition is an update of it, not a second fire.
    assert transitions(run(after, clock, sc, range(7, 8))) == []


def test_an_alert_the_readings_cleared_before_the_crash_is_resolved_by_the_rebuild() -> None:
    sc = SCENARIOS["threshold"]()
    clock = ManualClock(T0)
    before = run(DetectorEngine(sc.registry, clock=clock), clock, sc, range(11))
    [fired] = [c for c in before if c.kind == "fire"]
    [resolved] = [c for c in before if c.kind == "resolve"]
    # The store still says firing: the resolve was lost with the crash.
    after = DetectorEngine(sc.registry, clock=clock)
    after.restore([(fired.fingerprint, fired.device, fired.value)],
                  {fired.fingerprint: max(c.ts for c in before if c.kind != "resolve")})
    stored = [r for step in sc.steps[:11] for r in step]
    [change] = after.rebuild(FakeSeries(stored), now=sc.at(10) + 1.0)
    assert (change.kind, change.ts) == ("resolve", resolved.ts)


def test_a_rebuild_does_not_resolve_an_alert_on_readings_older_than_the_store_s() -> None:
    # Replicas: A went down while the smoke built, B raised the alarm from a reading A's
    # own store never got (it waits in A's session at the broker). A's history ends
    # clear, but before the alert's time in the shared store: no resolve from the
    # rebuild (the old rebuild resolved it, and A's catch-up then raised it again).
    sc = SCENARIOS["threshold"]()
    clock = ManualClock(T0)
    on_b = run(DetectorEngine(sc.registry, clock=clock), clock, sc, range(7))
    [fired] = [c for c in on_b if c.kind == "fire"]
    a = DetectorEngine(sc.registry, clock=clock)
    a.restore([(fired.fingerprint, fired.device, fired.value)], {fired.fingerprint: fired.ts})
    a_store = [reading("d1", fired.ts - 30.0 + i, 0.0, sc.steps[0][0].metric) for i in range(5)]
    assert a.rebuild(FakeSeries(a_store), now=fired.ts + 5.0) == []
    # The reading A catches up on is in condition: it updates the alert, no second fire.
    assert transitions(run(a, clock, sc, range(7, 8))) == []


def test_the_replay_reads_back_what_each_rule_needs_and_no_more() -> None:
    spec = smoke_rule(min_duration_s=30.0)
    registry = rule_street([device("d1", interval_s=STEP_S)], thresholds=[spec])
    engine = DetectorEngine(registry, clock=ManualClock(T0))
    # The confirm time plus two reporting intervals: the reading before the start counts.
    assert engine.replay_spans() == {("d1", spec.metric): 30.0 + 2 * STEP_S}
    store = FakeSeries([reading("d1", T0 + i * STEP_S, 0.0) for i in range(100)])
    now = T0 + 100 * STEP_S
    assert len(engine.history(store, now)) == 5  # 950 .. 990 s: [now - 50, now)


def test_a_store_that_reads_many_series_at_once_is_asked_once() -> None:
    # A restart needs thousands of series: the embedded store answers them in one scan
    # (store.interfaces.SpanHistory) instead of one query each, with the same history.
    sc = SCENARIOS["elevator-trapped"]()
    stored = [r for step in sc.steps[:8] for r in step]
    now = sc.at(7) + 1.0
    calls: list[dict[tuple[str, str], float]] = []

    class OneRead(FakeSeries):
        def recent_series(
            self, spans: Mapping[tuple[str, str], float], now: float
        ) -> list[tuple[str, str, float, float]]:
            calls.append(dict(spans))
            source = FakeSeries(self.readings)
            return [(d, m, p.ts, p.value) for (d, m), span in spans.items()
                    for p in source.series(d, m, now - span, now, None)]

    engine = DetectorEngine(sc.registry, clock=ManualClock(T0))
    one, per_series = OneRead(stored), FakeSeries(stored)
    history = engine.history(one, now)
    assert history == engine.history(per_series, now) and len(history) > 8
    assert calls == [engine.replay_spans()] and one.asked == []  # no per-series query


def test_the_caller_lock_is_held_for_the_replay_but_not_the_store_reads_or_dispatch() -> None:
    sc = SCENARIOS["threshold"]()
    lock = threading.Lock()
    held_during: dict[str, bool] = {}

    class WatchedSeries(FakeSeries):
        def series(self, *args: Any, **kwargs: Any) -> Any:
            held_during.setdefault("store read", lock.locked())
            return super().series(*args, **kwargs)

    def dispatch(changes: list[AlertChange]) -> None:
        held_during["dispatch"] = lock.locked()
        assert [c.kind for c in changes] == ["fire"]

    engine = DetectorEngine(sc.registry, clock=ManualClock(T0))
    stored = [r for step in sc.steps[:7] for r in step]
    changes = engine.rebuild(WatchedSeries(stored), sc.at(6) + 1.0, lock=lock, on_changes=dispatch)
    assert [c.kind for c in changes] == ["fire"]  # the fire the store never got
    assert held_during == {"store read": False, "dispatch": False} and not lock.locked()
