from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from config.models_rules import ElevatorRulesSpec
from detectors.engine import DetectorEngine
from gridwatch.clock import ManualClock
from gridwatch.records import AlertChange, DeviceEvent, Reading
from tests.support.rule_specs import rule_street
from tests.support.tiny_street import T0, device, event, reading

SPEC = ElevatorRulesSpec(
    trapped_confirm_s=60.0,
    moving_confirm_s=1.0,
    hold_s=30.0,
    top_floor=10.0,
    bottom_floor=-1.0,
    rated_speed_mps=1.5,
    door_faults=3,
    door_fault_window_s=600.0,
    overrides={"e2": {"rated_speed_mps": 2.5}},
)


def engine() -> tuple[DetectorEngine, ManualClock]:
    clock = ManualClock(T0)
    registry = rule_street(
        [device(d, "elevator", interval_s=600.0) for d in ("e1", "e2")], elevator=SPEC
    )
    return DetectorEngine(registry, clock=clock), clock


def status(
    ts: float,
    occupied: int = 0,
    running: int = 0,
    door: int = 0,
    zone: int = 1,
    speed: float = 0.0,
    floor: float = 3.0,
    dev: str = "e1",
) -> list[Reading]:
    values = {
        "car_occupied": occupied,
        "running": running,
        "door_open": door,
        "in_door_zone": zone,
        "speed_mps": speed,
        "floor": floor,
    }
    return [reading(dev, ts, float(v), metric=m) for m, v in values.items()]


def types(changes: Sequence[AlertChange]) -> list[tuple[str, str]]:
    return [(c.kind, c.type) for c in changes]


def test_trapped_fires_after_the_confirm_time_and_clears_after_the_hold() -> None:
    eng, _ = engine()
    assert eng.process_readings(status(T0, occupied=1)) == []
    assert eng.process_readings(status(T0 + 59, occupied=1)) == []
    assert types(eng.process_readings(status(T0 + 60, occupied=1))) == [
        ("fire", "elevator.trapped")
    ]
    # The door opens: clear, but resolved only once clear for the hold.
    assert eng.process_readings(status(T0 + 70, occupied=1, door=1)) == []
    assert types(eng.tick(T0 + 100)) == [("resolve", "elevator.trapped")]


def test_stopped_outside_the_door_zone_with_the_door_open_counts_as_trapped() -> None:
    eng, _ = engine()
    eng.process_readings(status(T0, occupied=1, door=1, zone=0))
    assert types(eng.tick(T0 + 60)) == [("fire", "elevator.trapped")]


def test_not_trapped_just_short_of_the_condition() -> None:
    eng, _ = engine()
    for ts in (T0, T0 + 100):
        assert eng.process_readings(status(ts, occupied=1, door=1)) == []  # door open at a landing
        assert eng.process_readings(status(ts, occupied=0, dev="e2")) == []  # empty car
    assert eng.tick(T0 + 200) == []


def test_trapped_survives_a_restart_mid_condition() -> None:
    eng, _ = engine()
    eng.process_readings(status(T0, occupied=1))
    [fired] = eng.tick(T0 + 60)
    after, _ = engine()
    after.restore([(fired.fingerprint, "e1", fired.value)])
    assert after.process_readings(status(T0 + 120, occupied=1)) == []  # no second fire
    after.process_readings(status(T0 + 130, occupied=0, door=1))
    assert types(after.tick(T0 + 160)) == [("resolve", "elevator.trapped")]


def test_moving_with_the_door_open() -> None:
    eng, _ = engine()
    assert eng.process_readings(status(T0, running=1, door=1, speed=1.0)) == []
    changes = eng.process_readings(status(T0 + 1, running=1, door=1, speed=1.0))
    assert types(changes) == [("fire", "elevator.door_open_moving")]
    assert eng.process_readings(status(T0 + 2, running=1, door=0, speed=1.0)) == []


def test_overspeed_uses_the_per_device_rated_speed() -> None:
    eng, _ = engine()
    limit = SPEC.rated_speed_mps * SPEC.overspeed_factor
    assert eng.process_readings(status(T0, running=1, speed=limit)) == []
    over = status(T0 + 1, running=1, speed=limit + 0.01)
    over += status(T0 + 1, running=1, speed=limit + 0.01, dev="e2")
    changes = eng.process_readings(over)
    assert [(c.device, c.type) for c in changes] == [("e1", "elevator.overspeed")]


def test_overtravel_above_top_or_below_bottom() -> None:
    eng, _ = engine()
    assert eng.process_readings(status(T0, floor=SPEC.top_floor)) == []
    assert types(eng.process_readings(status(T0 + 1, floor=SPEC.top_floor + 1))) == [
        ("fire", "elevator.overtravel")
    ]
    assert types(eng.process_readings(status(T0 + 1, floor=SPEC.bottom_floor - 1, dev="e2"))) == [
        ("fire", "elevator.overtravel")
    ]


def test_late_status_is_ignored() -> None:
    eng, _ = engine()
    eng.process_readings(status(T0 + 100, occupied=0))
    assert eng.process_readings(status(T0, occupied=1)) == []
    assert eng.tick(T0 + 1000) == []


def test_repeated_door_faults_within_the_window() -> None:
    eng, _ = engine()
    faults = [event("e1", "elevator.door_fault", "instant", ts=T0 + 250 * i) for i in range(4)]
    assert eng.process_events(faults[:2]) == []
    # The third is 500 s after the first: three within 600 s.
    assert types(eng.process_events([faults[2]])) == [("fire", "elevator.door_fault_repeated")]
    # Spaced out past the window, the condition clears after the hold.
    assert types(eng.tick(T0 + 250 + 601 + SPEC.hold_s)) == [
        ("resolve", "elevator.door_fault_repeated")
    ]


def test_door_faults_spread_wider_than_the_window_do_not_fire() -> None:
    eng, _ = engine()
    faults = [event("e1", "elevator.door_fault", "instant", ts=T0 + 301 * i) for i in range(5)]
    assert eng.process_events(faults) == []


def fingerprints(changes: Sequence[AlertChange]) -> list[tuple[str, str]]:
    return [(c.kind, c.fingerprint) for c in changes]


def test_controller_event_and_status_readings_raise_one_entrapment_alert() -> None:
    eng, _ = engine()
    eng.process_readings(status(T0, occupied=1))  # readings: pending, 60 s to confirm
    # The controller confirms first: the alert fires at once, without the confirm time.
    fired = eng.process_events([event("e1", "elevator.trapped", "start", ts=T0 + 5)])
    assert fingerprints(fired) == [("fire", "elevator-trapped:e1")]
    # The readings reach their confirm time: the same alert, not a second one.
    later = eng.process_readings(status(T0 + 60, occupied=1)) + eng.tick(T0 + 60)
    assert all(c.kind == "update" for c in later)
    # The other order: readings first, then the controller's event updates that alert.
    eng.process_readings(status(T0, occupied=1, dev="e2"))
    assert fingerprints(eng.tick(T0 + 60)) == [("fire", "elevator-trapped:e2")]
    again = eng.process_events([event("e2", "elevator.trapped", "start", ts=T0 + 61)])
    assert [c.kind for c in again] in ([], ["update"])


def test_an_open_controller_event_outweighs_readings_until_it_ends() -> None:
    eng, _ = engine()
    eng.process_events([event("e1", "elevator.trapped", "start", ts=T0)])
    # Readings say free, but the controller has not ended it: the alert stays.
    eng.process_readings(status(T0 + 10, occupied=0, door=1))
    assert eng.tick(T0 + 100) == []
    # The end is a clear decision: resolved after the hold (30 s), not before.
    assert eng.process_events([event("e1", "elevator.trapped", "end", ts=T0 + 110)]) == []
    assert eng.tick(T0 + 139) == []
    assert fingerprints(eng.tick(T0 + 140)) == [("resolve", "elevator-trapped:e1")]


def test_an_instant_condition_event_resolves_after_the_hold_unless_readings_hold_it() -> None:
    eng, _ = engine()
    fired = eng.process_events([event("e1", "elevator.overspeed", "instant", ts=T0)])
    assert fingerprints(fired) == [("fire", "elevator-overspeed:e1")]
    assert fingerprints(eng.tick(T0 + 30)) == [("resolve", "elevator-overspeed:e1")]
    eng.process_events([event("e2", "elevator.overspeed", "instant", ts=T0)])
    # e2's readings still show overspeed (its rated speed is 2.5): the alert stays.
    eng.process_readings(status(T0 + 20, running=1, speed=3.0, dev="e2"))
    assert eng.tick(T0 + 60) == []



class StoredEvents:
    """The EventHistory part of the embedded store, over a list."""

    def __init__(self, events: Sequence[DeviceEvent]) -> None:
        self.events = list(events)

    def events_of_types(
        self, types: Sequence[str], start: float, end: float
    ) -> list[DeviceEvent]:
        return [e for e in self.events if e.type in types and start <= e.ts < end]


def test_door_faults_before_a_restart_still_count_after_it() -> None:
    faults = [event("e1", "elevator.door_fault", "instant", ts=T0 + 250 * i) for i in range(3)]
    before, _ = engine()
    before.process_events(faults[:2])
    blind, _ = engine()  # restarted with nothing replayed: the third fault is the first
    assert blind.process_events([faults[2]]) == []
    after, _ = engine()
    stored = StoredEvents(faults[:2])
    after.warm_events(after.event_history(stored, now=T0 + 400))
    after.warm_events(after.event_history(stored, now=T0 + 400))  # a second replay: no double
    assert types(after.process_events([faults[2]])) == [
        ("fire", "elevator.door_fault_repeated")
    ]


def test_a_live_fault_and_its_stored_copy_count_once() -> None:
    eng, _ = engine()
    faults = [event("e1", "elevator.door_fault", "instant", ts=T0 + 100 * i) for i in range(2)]
    assert eng.process_events(faults) == []  # live, before the replay got to them
    eng.warm_events(faults)  # the same two, from the store
    assert eng.elevator is not None
    ring = eng.elevator.faults[eng.elevator.devices.local["e1"]]
    assert sorted(ring[np.isfinite(ring)].tolist()) == [T0, T0 + 100]  # two, not four


def test_a_controller_held_entrapment_stays_held_across_a_restart() -> None:
    start = event("e1", "elevator.trapped", "start", ts=T0)
    before, _ = engine()
    [fired] = before.process_events([start])
    after, _ = engine()
    after.restore([(fired.fingerprint, "e1", fired.value)])
    after.warm_events([start])
    # Readings say free, but the controller never ended it: no resolve.
    after.process_readings(status(T0 + 10, occupied=0, door=1))
    assert after.tick(T0 + 100) == []
    # A later end from live traffic wins over the replayed start.
    after.process_events([event("e1", "elevator.trapped", "end", ts=T0 + 110)])
    after.warm_events([start])
    assert fingerprints(after.tick(T0 + 140)) == [("resolve", "elevator-trapped:e1")]
