"""The simulated devices and the scripted incidents, on a manual clock (no threads)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from edge.agent import EdgeAgent
from edge.devices import Fleet
from edge.elevator import ElevatorCar
from edge.incidents import DWELL_REPORTED_AT_S, SMOKE_ALARM_PCT_M, TRAPPED_AFTER_S
from edge.scenarios import SCENARIOS, Scenarios
from gridwatch.clock import ManualClock
from gridwatch.records import DeviceEvent, Reading
from tests.support.edge_street import AGENT, small_registry

ELEVATOR_METRICS = {
    "speed_mps",
    "floor",
    "door_open",
    "in_door_zone",
    "car_occupied",
    "running",
    "direction",
    "mode",
    "vibration_rms_g",
}
# Contract metric names per type, and the range a healthy device stays in.
EXPECTED: dict[str, dict[str, tuple[float, float]]] = {
    "smoke_detector": {"smoke_obscuration_pct_m": (0.1, 0.4), "battery_pct": (0, 100)},
    "heat_detector": {"temperature_c": (18, 28), "battery_pct": (0, 100)},
    "gas_detector": {"co_ppm": (0, 5), "battery_pct": (0, 100)},
    "hydrant_pressure": {"water_pressure_mpa": (0.25, 0.35), "battery_pct": (0, 100)},
    "sprinkler_pressure": {"water_pressure_mpa": (0.12, 0.18), "battery_pct": (0, 100)},
    "water_tank": {"water_level_m": (2.0, 3.7), "battery_pct": (0, 100)},
    "fire_panel": {"battery_pct": (90, 100)},
    "fire_pump": {
        "outlet_pressure_mpa": (0.58, 0.70), "inlet_pressure_mpa": (0.10, 0.13),
        "motor_current_a": (0.1, 4.3), "motor_temp_c": (17, 30), "vibration_mm_s": (0.0, 1.4),
    },
    "camera": {"people_count": (0, 60), "vehicle_count": (0, 30), "fps": (20, 25)},
    "elevator": {m: (-1, 30) for m in ELEVATOR_METRICS},
}


class Rig:
    """A fleet and its scenarios on a manual clock, stepped the way the agent ticks."""

    def __init__(self, interval_s: float = 10.0, seed: int = 7) -> None:
        self.registry = small_registry(interval_s)
        self.clock = ManualClock()
        rng = np.random.default_rng(seed)
        specs = self.registry.devices_of_agent(AGENT)
        self.fleet = Fleet(AGENT, specs, rng, self.clock())
        self.scenarios = Scenarios(AGENT, self.fleet, rng, self.clock())
        self.readings: list[Reading] = []
        self.events: list[DeviceEvent] = []

    def run(self, seconds: float, step_s: float = 1.0) -> None:
        for _ in range(round(seconds / step_s)):
            self.clock.advance(step_s)
            self.events += self.scenarios.step(self.clock())
            self.readings += self.fleet.due(self.clock())

    def trigger(self, name: str, target: str | None = None) -> str:
        return self.scenarios.trigger(name, target, self.clock())

    def values(self, device: str, metric: str, since: float = 0.0) -> list[float]:
        return [
            r.value
            for r in self.readings
            if (r.device, r.metric) == (device, metric) and r.ts >= since
        ]

    def type_of(self, device: str) -> str:
        return self.registry.devices[device].type


def test_every_type_reports_its_contract_metrics_within_normal_ranges() -> None:
    rig = Rig()
    rig.run(600)
    seen: dict[str, set[str]] = defaultdict(set)
    for r in rig.readings:
        device_type = rig.type_of(r.device)
        seen[device_type].add(r.metric)
        low, high = EXPECTED[device_type][r.metric]
        assert low <= r.value <= high, (r.device, r.metric, r.value)
        assert r.agent == AGENT
    assert {t: set(m) for t, m in EXPECTED.items()} == dict(seen)


def test_each_device_reports_once_per_interval() -> None:
    rig = Rig(interval_s=10.0)
    rig.run(300)
    per_device: dict[str, set[float]] = defaultdict(set)
    for r in rig.readings:
        per_device[r.device].add(r.ts)
    assert set(per_device) == set(rig.registry.devices)
    for device, stamps in per_device.items():
        assert 29 <= len(stamps) <= 31, device
        gaps = np.diff(sorted(stamps))
        assert gaps.min() >= 10.0 - 1e-6, device


def test_the_same_seed_replays_and_another_seed_does_not() -> None:
    runs = []
    for seed in (1, 1, 2):
        rig = Rig(seed=seed)
        rig.run(120)
        runs.append([(r.device, r.metric, r.ts, r.value) for r in rig.readings])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_the_elevator_state_is_coherent_at_any_instant() -> None:
    rng = np.random.default_rng(3)
    car = ElevatorCar(rng, 1, 12, now=0.0)
    instants = np.cumsum(rng.exponential(2.0, 5000))
    statuses = [car.status(float(t)) for t in instants]
    for s in statuses:
        moving = s["running"] == 1
        assert s["door_open"] in (0, 1) and s["car_occupied"] in (0, 1) and s["mode"] == 0
        assert 1 <= s["floor"] <= 12
        if moving:
            assert s["door_open"] == 0 and s["speed_mps"] > 0 and s["direction"] in (-1, 1)
        else:
            assert s["speed_mps"] == 0 and s["direction"] == 0
            assert s["in_door_zone"] == 1  # never stops between landings unless trapped
        if s["door_open"]:
            assert s["in_door_zone"] == 1 and not moving
    # It really travels: both directions, doors opening, most of the floors visited.
    assert {s["direction"] for s in statuses} == {-1.0, 0.0, 1.0}
    assert any(s["door_open"] for s in statuses)
    assert len({s["floor"] for s in statuses if s["door_open"]}) >= 8


def test_a_trapped_car_stands_between_floors_until_released() -> None:
    car = ElevatorCar(np.random.default_rng(5), 1, 6, now=0.0)
    car.status(100.0)
    car.trap(100.0)
    for t in (100.0, 130.0, 5000.0):
        s = car.status(t)
        assert (s["running"], s["speed_mps"], s["door_open"]) == (0, 0, 0)
        assert (s["in_door_zone"], s["car_occupied"]) == (0, 1)
    car.release(5000.0)
    s = car.status(5001.0)
    assert (s["door_open"], s["in_door_zone"], s["running"]) == (1, 1, 0)


def test_fire_crosses_the_smoke_alarm_level_then_the_panel_alarms_and_clear_resets() -> None:
    rig = Rig(interval_s=60.0)
    rig.run(120)
    t0 = rig.clock()
    assert "building 1" in rig.trigger("fire", "1")
    rig.run(25)
    smoke = [r for r in rig.readings if r.metric == "smoke_obscuration_pct_m" and r.ts > t0]
    burning = [r for r in smoke if r.device.startswith("wy1-b01-smk")]
    crossed = [r.ts for r in burning if r.value > SMOKE_ALARM_PCT_M]
    assert crossed and crossed[0] - t0 <= 20.0
    assert all(r.value < SMOKE_ALARM_PCT_M for r in smoke if r.device.startswith("wy1-b02"))
    heat = rig.values("wy1-b01-het-0101", "temperature_c", since=t0)
    assert 2.5 <= heat[-1] - heat[0] <= 5.0  # about 10 °C a minute over ~20 s
    alarms = [e for e in rig.events if e.type == "fire.alarm"]
    assert [(e.device, e.state) for e in alarms] == [("wy1-b02-fap-0101", "start")]
    assert alarms[0].attrs["building"] == "1"
    assert alarms[0].ts - t0 >= (SMOKE_ALARM_PCT_M - 0.4) / 0.25 - 1.0  # not before the smoke
    rig.trigger("clear")
    rig.run(5)
    ended = [(e.type, e.state) for e in rig.events[1:]]
    assert ended == [("fire.reset", "instant"), ("fire.alarm", "end")]
    assert rig.events[2].attrs["start_id"] == alarms[0].id
    after = rig.values(burning[0].device, "smoke_obscuration_pct_m", since=rig.clock() - 4)
    assert after and max(after) <= 0.4


def test_fires_pick_free_buildings_in_order_and_then_refuse() -> None:
    rig = Rig()
    assert "building 1" in rig.trigger("fire")
    assert "building 2" in rig.trigger("fire")
    with pytest.raises(ValueError, match="already"):
        rig.trigger("fire")
    with pytest.raises(ValueError, match="no building"):
        rig.trigger("fire", "99")


def test_entrapment_reports_the_stuck_car_then_the_trapped_event() -> None:
    rig = Rig(interval_s=30.0)
    rig.run(30)
    t0 = rig.clock()
    rig.trigger("entrapment", "wy1-b02-elv-0101")
    rig.run(TRAPPED_AFTER_S - 2)
    assert rig.events == []
    rig.run(4)
    assert [(e.type, e.state, e.device) for e in rig.events] == [
        ("elevator.trapped", "start", "wy1-b02-elv-0101")
    ]
    for metric, value in {
        "running": 0,
        "car_occupied": 1,
        "door_open": 0,
        "in_door_zone": 0,
    }.items():
        seen = rig.values("wy1-b02-elv-0101", metric, since=t0)
        assert len(seen) >= 3 and set(seen) == {value}, metric
    assert "clear" in SCENARIOS
    rig.trigger("clear", "entrapment")
    rig.run(1)
    assert (rig.events[-1].state, rig.events[-1].attrs["start_id"]) == ("end", rig.events[0].id)


def test_illegal_parking_starts_updates_and_ends_in_its_zone() -> None:
    rig = Rig()
    rig.trigger("illegal_parking")
    rig.run(65)
    rig.trigger("clear")
    rig.run(1)
    states = [e.state for e in rig.events]
    assert states == ["start", "update", "update", "end"]
    assert {(e.type, e.zone, e.device) for e in rig.events} == {
        ("camera.vehicle_dwell", "red-line-1", "wy1-b01-cam-0101")
    }
    dwell = [e.attrs["dwell_s"] for e in rig.events]
    assert dwell == sorted(dwell) and dwell[0] >= DWELL_REPORTED_AT_S
    assert all(0.8 <= (e.score or 0) <= 1.0 for e in rig.events)
    assert len({e.id for e in rig.events}) == len(rig.events)


def test_a_silent_device_says_nothing_until_cleared() -> None:
    rig = Rig(interval_s=5.0)
    target = "wy1-b02-hyd-1201"
    rig.trigger("device_silent", target)
    rig.run(60)
    assert rig.values(target, "water_pressure_mpa") == []
    assert target not in {h["device"] for h in rig.fleet.health()}
    rig.trigger("clear", target)
    rig.run(1)
    assert len(rig.values(target, "water_pressure_mpa")) == 1


def test_unknown_scenarios_are_refused_with_the_valid_names() -> None:
    # Port 9 on loopback: nothing listens; constructing must not notice.
    agent = EdgeAgent(AGENT, small_registry(), "mqtt://127.0.0.1:9", seed=1)
    with pytest.raises(ValueError) as info:
        agent.trigger("meteor")
    assert all(name in str(info.value) for name in SCENARIOS)
    with pytest.raises(ValueError, match="not in the configuration"):
        EdgeAgent("nowhere-edge", small_registry(), "mqtt://127.0.0.1:9")
