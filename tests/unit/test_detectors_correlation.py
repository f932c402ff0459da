from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from config.models import OfflineRuleSpec
from config.models_rules import CorrelationSpec
from detectors.camera_rules import in_schedule
from detectors.engine import DetectorEngine
from gridwatch.clock import ManualClock
from gridwatch.records import AlertChange, DeviceEvent, Reading
from tests.support.rule_specs import camera_rule, heat_rise, rule_street
from tests.support.tiny_street import AGENT, T0, device, reading, smoke_rule

# T0 is 2025-11-25 17:00 UTC = 01:00 in Shanghai: inside a 22:00-06:00 schedule.
NIGHT, DAY = T0, T0 + 8 * 3600


def kinds(changes: Sequence[AlertChange], type_: str) -> list[str]:
    return [c.kind for c in changes if c.type == type_]


State = Literal["start", "update", "end", "instant"]


def cam(ts: float, state: State = "start", zone: str = "roof", **attrs: float) -> DeviceEvent:
    return DeviceEvent(
        AGENT, f"c1-{state}-{ts}", "c1", ts, "camera.intrusion", state, zone, 0.9, dict(attrs)
    )


def camera_engine(**changes: object) -> DetectorEngine:
    registry = rule_street([device("c1", "camera")], cameras=[camera_rule(**changes)])
    return DetectorEngine(registry, clock=ManualClock(T0))


def test_schedule_spans_midnight() -> None:
    assert in_schedule("22:00-06:00", NIGHT) and not in_schedule("22:00-06:00", DAY)
    assert in_schedule("08:00-20:00", DAY) and in_schedule(None, DAY)


def test_intrusion_only_in_its_zone_and_at_night_then_ends() -> None:
    eng = camera_engine()
    assert eng.process_events([cam(DAY)]) == []
    assert eng.process_events([cam(NIGHT, zone="yard")]) == []
    assert kinds(eng.process_events([cam(NIGHT)]), "camera.intrusion") == ["fire"]
    assert kinds(eng.process_events([cam(NIGHT + 5, "update")]), "camera.intrusion") == ["update"]
    assert kinds(eng.process_events([cam(NIGHT + 9, "end")]), "camera.intrusion") == ["resolve"]


def test_dwell_threshold_from_attrs_or_from_the_start_time() -> None:
    eng = camera_engine(schedule=None, min_dwell_s=60.0, overrides={"c1": {"min_dwell_s": 90.0}})
    assert eng.process_events([cam(DAY, dwell_s=89.0)]) == []
    assert kinds(eng.process_events([cam(DAY + 1, "update", dwell_s=90.0)]), "camera.intrusion")
    eng = camera_engine(schedule=None, min_dwell_s=60.0)
    assert eng.process_events([cam(DAY), cam(DAY + 59, "update")]) == []
    assert kinds(eng.process_events([cam(DAY + 60, "update")]), "camera.intrusion") == ["fire"]


def test_camera_alert_survives_a_restart() -> None:
    eng = camera_engine()
    [fired] = eng.process_events([cam(NIGHT)])
    after = camera_engine()
    assert after.restore([(fired.fingerprint, "c1", None)]) == []
    assert kinds(after.process_events([cam(NIGHT + 5, "end")]), "camera.intrusion") == ["resolve"]


def fire_engine(window_s: float = 180.0) -> DetectorEngine:
    devices = [device("s1"), device("h1", "heat_detector", interval_s=60.0)]
    registry = rule_street(
        devices,
        thresholds=[smoke_rule()],
        rates=[heat_rise()],
        correlation=CorrelationSpec(fire_window_s=window_s),
    )
    return DetectorEngine(registry, clock=ManualClock(T0))


def heat_ramp(start: float) -> list[Reading]:
    return [reading("h1", start + 30 * i, 20 + 6 * i, "temperature_c") for i in range(5)]


def test_smoke_and_heat_in_one_building_confirm_a_fire() -> None:
    eng = fire_engine()
    eng.process_readings([reading("s1", T0, 50.0)])
    changes = eng.process_readings(heat_ramp(T0 + 60))
    [confirmed] = [c for c in changes if c.type == "fire.confirmed"]
    assert (confirmed.kind, confirmed.severity) == ("fire", "critical")
    # Smoke clears, heat still firing: stays confirmed; both clear: resolved.
    assert kinds(eng.process_readings([reading("s1", T0 + 400, 0.0)]), "fire.confirmed") == []
    flat = [reading("h1", T0 + 400 + 30 * i, 44.0, "temperature_c") for i in range(8)]
    assert kinds(eng.process_readings(flat), "fire.confirmed") == ["resolve"]


def test_smoke_and_heat_further_apart_than_the_window_do_not_confirm() -> None:
    eng = fire_engine(window_s=60.0)
    eng.process_readings([reading("s1", T0, 50.0)])
    assert kinds(eng.process_readings(heat_ramp(T0 + 61)), "fire.confirmed") == []


def agent_engine(n: int) -> DetectorEngine:
    registry = rule_street(
        [device(f"d{i}", interval_s=60.0) for i in range(n)],
        offline=OfflineRuleSpec(factor=2.0, grace_s=10.0),
        correlation=CorrelationSpec(agent_min_devices=5),
    )
    return DetectorEngine(registry, clock=ManualClock(T0))


def test_a_silent_agent_is_one_alert_not_one_per_device() -> None:
    eng = agent_engine(20)
    changes = eng.tick(T0 + 131)
    assert [(c.kind, c.type) for c in changes] == [("fire", "agent.offline")]
    # Some devices come back: the agent alert resolves, the still-silent ones alert now.
    back = eng.process_readings([reading(f"d{i}", T0 + 140, 1.0) for i in range(15)])
    assert kinds(back, "agent.offline") == ["resolve"]
    assert sorted(c.device for c in back if c.type == "device.offline") == [
        f"d{i}" for i in range(15, 20)
    ]


def test_below_the_agent_minimum_devices_alert_one_by_one() -> None:
    eng = agent_engine(4)
    changes = eng.tick(T0 + 131)
    assert kinds(changes, "agent.offline") == [] and len(kinds(changes, "device.offline")) == 4
