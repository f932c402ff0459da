from __future__ import annotations

from collections.abc import Sequence

from config.models import EventRuleSpec
from detectors.events import FIRE_RESET, EventDetector, event_fingerprint
from detectors.slots import render_summary
from gridwatch.records import AlertChange
from tests.support.tiny_street import T0, device, event, street

RULES = [
    EventRuleSpec(event_type="fire.alarm", severity="critical", summary="{device} alarm {zone}"),
    EventRuleSpec(event_type="fire.fault", severity="minor", summary="{device} fault"),
    EventRuleSpec(
        event_type="camera.vehicle_dwell", severity="warning", summary="{device} {zone} {value}"
    ),
]
# A non-fire family on a fire panel, to show that a reset leaves it alone.
CABINET = EventRuleSpec(event_type="panel.cabinet_open", severity="info", summary="{device}")
RULE = {r.event_type: r for r in RULES}


def detector() -> EventDetector:
    registry = street(
        [
            device("panel1", "fire_panel"),
            device("panel2", "fire_panel"),
            device("smoke1", "smoke_detector"),
            device("cam1", "camera"),
        ],
        events=[*RULES, CABINET],
    )
    return EventDetector(registry.devices, registry.rules.events)


def kinds(changes: Sequence[AlertChange]) -> list[str]:
    return [c.kind for c in changes]


def test_start_fires_and_end_resolves_the_same_fingerprint() -> None:
    det = detector()
    start = event("cam1", "camera.vehicle_dwell", "start", zone="red-line", score=0.8)
    [fire] = det.process(start)
    rule = RULE["camera.vehicle_dwell"]
    assert fire.kind == "fire"
    assert fire.fingerprint == event_fingerprint(start.type, "cam1", "red-line")
    assert (fire.rule, fire.type, fire.severity) == (
        rule.event_type,
        rule.event_type,
        rule.severity,
    )
    assert (fire.device, fire.ts, fire.value) == ("cam1", start.ts, start.score)
    assert fire.summary == render_summary(rule.summary, "cam1", 0.8, rule.event_type, "red-line")
    [end] = det.process(event("cam1", "camera.vehicle_dwell", "end", T0 + 60, zone="red-line"))
    assert (end.kind, end.fingerprint, end.ts) == ("resolve", fire.fingerprint, T0 + 60)


def test_zones_are_separate_alerts_and_missing_zone_is_a_dash() -> None:
    det = detector()
    a = det.process(event("cam1", "camera.vehicle_dwell", zone="a"))
    b = det.process(event("cam1", "camera.vehicle_dwell"))
    assert kinds(a + b) == ["fire", "fire"]
    assert b[0].fingerprint == f"camera.vehicle_dwell:cam1:{'-'}"
    assert a[0].fingerprint != b[0].fingerprint


def test_update_updates_and_a_repeated_start_asks_to_fire_again() -> None:
    # A repeated start is a "fire": the alert store updates a firing alert with it, and
    # raises the alert if the first start never reached the store (issue 17).
    det = detector()
    det.process(event("cam1", "camera.vehicle_dwell", "start"))
    assert kinds(det.process(event("cam1", "camera.vehicle_dwell", "update", T0 + 5))) == ["update"]
    assert kinds(det.process(event("cam1", "camera.vehicle_dwell", "start", T0 + 9))) == ["fire"]


def test_instant_event_fires() -> None:
    assert kinds(detector().process(event("smoke1", "fire.alarm", "instant"))) == ["fire"]


def test_fire_reset_resolves_the_panels_fire_alerts_only() -> None:
    det = detector()
    mine = det.process(event("panel1", "fire.alarm", zone="L1-12"))
    mine += det.process(event("panel1", "fire.fault", "instant"))
    det.process(event("panel2", "fire.alarm"))
    det.process(event("smoke1", "fire.alarm"))
    det.process(event("panel1", CABINET.event_type))
    resolved = det.process(event("panel1", FIRE_RESET, "instant", T0 + 30))
    assert kinds(resolved) == ["resolve", "resolve"]
    assert {c.fingerprint for c in resolved} == {c.fingerprint for c in mine}
    assert {c.ts for c in resolved} == {T0 + 30}
    assert det.process(event("panel1", FIRE_RESET, "instant", T0 + 31)) == []
    # The other panel's alarm and the panel's non-fire alert are still firing.
    assert kinds(det.process(event("panel2", "fire.alarm", "update", T0 + 40))) == ["update"]
    assert kinds(det.process(event("panel1", CABINET.event_type, "update", T0 + 40))) == ["update"]


def test_fire_reset_from_a_non_panel_resolves_nothing() -> None:
    det = detector()
    det.process(event("smoke1", "fire.alarm"))
    assert det.process(event("smoke1", FIRE_RESET, "instant")) == []


def test_events_without_rule_or_device_are_ignored() -> None:
    det = detector()
    assert det.process(event("cam1", "camera.loitering")) == []
    assert det.process(event("ghost", "fire.alarm")) == []


def test_restored_alert_updates_and_is_reset() -> None:
    det = detector()
    fingerprint = event_fingerprint("fire.alarm", "panel1", "L1")
    assert det.restore(fingerprint, "panel1")
    assert not det.restore(event_fingerprint("fire.alarm", "panel2", "L1"), "panel1")
    assert not det.restore(event_fingerprint("camera.loitering", "cam1", None), "cam1")
    assert kinds(det.process(event("panel1", "fire.alarm", "update", zone="L1"))) == ["update"]
    [resolve] = det.process(event("panel1", FIRE_RESET, "instant"))
    assert resolve.fingerprint == fingerprint
