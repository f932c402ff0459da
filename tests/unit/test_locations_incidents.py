"""Locations down to the room, and one event as one incident: a panel's point resolves to
the detector's place; alerts of one fire (smoke, the panel's alarm at a point of the same
building) make one incident with a title, the highest severity and a timeline; acks and
false-alarm closes reach it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config.models import EventRuleSpec, PanelPointSpec
from config.registry import Registry
from detectors.events import EventDetector
from dispatch.dispatcher import Dispatcher
from gridwatch.clock import ManualClock
from gridwatch.notify import LogNotifier
from gridwatch.records import Alert, AlertChange, DeviceEvent
from store.opstate_incidents import IncidentStore
from store.opstate_sql import SqlOpStore
from tests.support.op_stores import OpStoreKind
from tests.support.tiny_street import AGENT, T0, device, street

SMOKE = "b4-smk-11"
PANEL = "b2-fap-01"
LIFT = "b4-elv-1"
CAM = "b4-cam-1"


def registry() -> Registry:
    smoke = device(SMOKE).model_copy(
        update={"building": "4", "unit": "2", "floor": 11, "place": "电梯前室"}
    )
    gas = device("b4-gas-01", "gas_detector").model_copy(update={"building": "4"})
    panel = device(PANEL, "fire_panel", 30.0).model_copy(
        update={
            "building": "2", "place": "消防控制室",
            "points": [
                PanelPointSpec(loop=1, point=5, device=SMOKE),
                PanelPointSpec(loop=1, point=6, building="4", floor=3, place="楼梯间"),
                PanelPointSpec(loop=2, point=1, building="7", floor=1),
            ],
        }
    )
    lift = device(LIFT, "elevator", 5.0).model_copy(update={"building": "4"})
    cam = device(CAM, "camera", 30.0).model_copy(update={"building": "4", "place": "小区正门"})
    events = [EventRuleSpec(event_type="fire.alarm", severity="critical", summary="{device} 火警")]
    return street([smoke, gas, panel, lift, cam], events=events)


def panel_event(loop: object, point: object, state: str = "start", ts: float = T0) -> DeviceEvent:
    return DeviceEvent(agent=AGENT, id=f"e{loop}-{point}-{state}-{ts}", device=PANEL, ts=ts,
                       type="fire.alarm", state=state,  # type: ignore[arg-type]
                       attrs={"loop": loop, "point": point})


def change(
    device_id: str, type_: str, severity: str = "critical", ts: float = T0,
    fingerprint: str | None = None, kind: str = "fire",
) -> AlertChange:
    return AlertChange(kind, fingerprint or f"{type_}:{device_id}", type_, type_,  # type: ignore[arg-type]
                       severity, device_id, ts, 1.0, f"{device_id} {type_}")


class World:
    def __init__(self, ops: SqlOpStore) -> None:
        self.registry = registry()
        self.clock = ManualClock(T0)
        self.ops = ops
        self.dispatcher = Dispatcher(self.registry, self.ops, LogNotifier(), [], self.clock)
        self.events = EventDetector(self.registry.devices, self.registry.rules.events)
        self.incidents = IncidentStore(self.ops)

    def raise_(self, *changes: AlertChange) -> list[Alert]:
        return self.dispatcher.apply(changes)

    def panel(self, loop: object, point: object, state: str = "start") -> Alert:
        [alert] = self.dispatcher.apply(self.events.process(panel_event(loop, point, state)))
        return alert


@pytest.fixture
def world(op_kind: OpStoreKind) -> Iterator[World]:
    """On each op store (SQLite, and PostgreSQL in the session's own cluster)."""
    w = World(op_kind.open())
    yield w
    w.ops.close()


def test_device_location_reads_as_people_say_it() -> None:
    loc = registry().location(SMOKE)
    assert loc == {
        "area": "居民区一", "building": "4号楼", "unit": "2单元", "floor": 11,
        "place": "电梯前室", "text": "居民区一 4号楼 2单元 11层 电梯前室",
        "text_en": "居民区一 Bldg 4 Unit 2 11F elevator lobby", "mapped": True,
    }


def test_a_mapped_point_is_the_detectors_place_not_the_panels(world: World) -> None:
    alert = world.panel(1, 5)
    assert alert.location is not None and alert.location["mapped"] is True
    assert alert.location["text"] == "居民区一 4号楼 2单元 11层 电梯前室"
    assert alert.building == "4"  # the point's building, not the panel's (2)
    # A point without a registered detector has its own building, floor and place.
    other = world.panel("1", "06")
    assert other.location is not None and other.location["text"] == "居民区一 4号楼 3层 楼梯间"
    assert other.fingerprint != alert.fingerprint  # two points, two alerts


@pytest.mark.parametrize("loop, point", [(9, 99), ("x", 1), (1, None)])
def test_an_unmapped_point_still_alerts_at_the_panel_flagged(
    world: World, loop: object, point: object
) -> None:
    if point is None:  # no point at all: the panel's own location, as a plain device
        [alert] = world.dispatcher.apply(world.events.process(
            DeviceEvent(AGENT, "e-np", PANEL, T0, "fire.alarm", "start", attrs={"loop": 1})))
        assert alert.location is not None and alert.location["mapped"] is True
        return
    alert = world.panel(loop, point)
    assert alert.status == "firing" and alert.severity == "critical"
    assert alert.location is not None and alert.location["mapped"] is False
    assert alert.location["text"].startswith("居民区一 2号楼 1层 消防控制室")
    assert f"回路 {loop} 点 {point}" in alert.location["text"]
    assert f"loop {loop} point {point}" in alert.location["text_en"]
    assert alert.building == "2"


def test_point_table_in_the_devices_view() -> None:
    reg = registry()
    assert reg.locator is not None
    table = reg.locator.point_table(PANEL)
    assert [(p["loop"], p["point"], p["device"]) for p in table] == [
        (1, 5, SMOKE), (1, 6, None), (2, 1, None)
    ]
    assert table[2]["location"]["text"] == "居民区一 7号楼 1层"


def test_smoke_and_a_panel_alarm_in_one_building_are_one_incident(world: World) -> None:
    [smoke] = world.raise_(change(SMOKE, "fire.smoke"))
    world.clock.advance(5)
    panel = world.panel(1, 6)  # another floor of the same building
    world.clock.advance(5)
    [gas] = world.raise_(change("b4-gas-01", "fire.gas", "major"))  # joins, never opens
    [incident] = world.incidents.list(None)
    assert incident.alerts == [smoke.id, panel.id, gas.id]
    assert incident.title == "火情：居民区一 4号楼 11层"
    assert incident.severity == "critical"
    assert incident.location is not None and incident.location["floor"] == 11
    kinds = [t.kind for t in incident.timeline]
    assert kinds == ["opened", "alert_joined", "alert_joined", "alert_joined"]
    stored = world.ops.get_alert(gas.id)
    assert stored is not None and stored.incident_id == incident.id


def test_a_fire_in_another_building_is_another_incident(world: World) -> None:
    world.raise_(change(SMOKE, "fire.smoke"))
    world.panel(2, 1)  # building 7
    assert sorted(i.title for i in world.incidents.list(None)) == [
        "火情：居民区一 4号楼 11层", "火情：居民区一 7号楼 1层"
    ]


def test_a_late_alert_joins_within_the_window_and_not_after(world: World) -> None:
    [smoke] = world.raise_(change(SMOKE, "fire.smoke"))
    world.clock.advance(60)
    world.raise_(change(SMOKE, "fire.smoke", kind="resolve", ts=T0 + 60))
    world.clock.advance(600)  # nothing firing, but within the fire group's 1800 s
    late = world.panel(1, 5)
    [incident] = world.incidents.list(None)
    assert incident.alerts == [smoke.id, late.id]
    world.panel(1, 5, "end")
    world.clock.advance(1801)
    [again] = world.raise_(change(SMOKE, "fire.smoke", ts=T0 + 3000))
    assert len(world.incidents.list(None)) == 2
    stored = world.ops.get_alert(again.id)
    assert stored is not None and stored.incident_id not in (None, incident.id)


def test_elevator_alerts_join_by_car_and_camera_alerts_by_camera_and_zone(world: World) -> None:
    world.raise_(change(LIFT, "elevator.trapped"))
    world.raise_(change(LIFT, "elevator.door_fault", "minor"))
    world.raise_(change(CAM, "camera.falling_object", fingerprint=f"fo:{CAM}:roof"))
    world.raise_(change(CAM, "camera.intrusion", "major", fingerprint=f"in:{CAM}:roof"))
    world.raise_(change(CAM, "camera.falling_object", fingerprint=f"fo:{CAM}:gate"))
    found = sorted((i.dedup_key, i.title, len(i.alerts)) for i in world.incidents.list(None))
    assert found == [
        (f"camera|{CAM}|gate", "视频：居民区一 4号楼 1层 小区正门", 1),
        (f"camera|{CAM}|roof", "视频：居民区一 4号楼 1层 小区正门", 2),
        (f"elevator|{LIFT}", "电梯：居民区一 4号楼 1层", 2),
    ]


def test_a_lesser_alert_opens_its_incident_only_after_group_wait(world: World) -> None:
    # The built-in groups open at critical; a major CO alert alone opens none at all.
    world.raise_(change("b4-gas-01", "fire.gas", "major"))
    world.clock.advance(60)
    world.dispatcher.tick()
    assert world.incidents.list(None) == []


def test_ack_and_note_reach_the_timeline_and_false_alarm_resolves(world: World) -> None:
    [smoke] = world.raise_(change(SMOKE, "fire.smoke"))
    panel = world.panel(1, 5)
    world.clock.advance(42)
    world.dispatcher.ack(smoke.id, "文苑一村正门岗", "已到现场，厨房油烟")
    [incident] = world.incidents.list(None)
    acked = [t for t in incident.timeline if t.kind == "alert_acked"]
    assert [(t.by, t.note, t.alert_id, t.at) for t in acked] == [
        ("文苑一村正门岗", "已到现场，厨房油烟", smoke.id, T0 + 42)
    ]
    resolved = world.dispatcher.close_false_alarm(incident.id, "城运中心", "厨房油烟触发")
    assert sorted(a.id for a in resolved) == sorted([smoke.id, panel.id])
    assert world.ops.firing_alerts() == []
    closed = world.incidents.get(incident.id)
    assert closed is not None and closed.status == "closed" and closed.false_alarm
    assert closed.close_reason == "厨房油烟触发"
    counts = world.incidents.false_alarm_counts(None, T0 - 1)
    assert sorted(counts) == [(PANEL, "fire.alarm", 1), (SMOKE, "fire.smoke", 1)]
    # The next fire in that building is a new incident, not the closed one.
    [again] = world.raise_(change(SMOKE, "fire.smoke", ts=T0 + 100))
    stored = world.ops.get_alert(again.id)
    assert stored is not None and stored.incident_id not in (None, incident.id)
