"""Device adapters with fake MQTT messages (no broker): Zigbee2MQTT's quirks, Frigate's
documented event payloads (from ../shared), and CSV replay pacing."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from edge.adapters.frigate import FrigateMapper
from edge.adapters.replay import ReplayAdapter
from edge.adapters.values import as_bool, as_number, as_time
from edge.adapters.zigbee2mqtt import Zigbee2MqttMapper

NOW = 1_764_090_000.0


def z2m() -> Zigbee2MqttMapper:
    return Zigbee2MqttMapper("a1", {"hall/smoke 1": "smk-1", "leak": "wl-1"})


def j(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def test_lenient_values() -> None:
    assert [as_number(v) for v in (87, "87", " 21.5 ", None, True, "n/a", float("nan"))] == [
        87.0, 87.0, 21.5, None, None, None, None]
    assert [as_bool(v) for v in (True, "ON", "false", 1, "maybe", None)] == [
        True, True, False, True, None, None]
    assert as_time(1_764_090_000_123) == pytest.approx(1_764_090_000.123)
    assert as_time("2025-11-25T16:20:00Z") == 1_764_087_600.0
    assert as_time("2025-11-25T16:20:00") is None  # no offset: a guess would be wrong


def test_zigbee_state_becomes_readings_and_alarm_transitions() -> None:
    m = z2m()
    first = m.handle("zigbee2mqtt/hall/smoke 1",
                     j({"smoke": "true", "battery": "87", "linkquality": 120,
                       "temperature": None, "tamper": False}), NOW)
    assert {(r.device, r.metric, r.value, r.ts) for r in first.readings} == {
        ("smk-1", "battery_pct", 87.0, NOW), ("smk-1", "link_quality", 120.0, NOW)}
    [alarm] = first.events
    assert (alarm.type, alarm.state, alarm.attrs["cause"]) == ("fire.alarm", "start", "smoke")
    # The same state again (a duplicate, then a repeat later): no new event.
    assert m.handle("zigbee2mqtt/hall/smoke 1", j({"smoke": "true", "battery": "87",
                    "linkquality": 120, "temperature": None, "tamper": False}), NOW + 0.1
                    ).readings == []
    assert m.handle("zigbee2mqtt/hall/smoke 1", j({"smoke": True}), NOW + 5).events == []
    [end] = m.handle("zigbee2mqtt/hall/smoke 1", j({"smoke": False}), NOW + 9).events
    assert (end.state, end.attrs["start_id"], end.ts) == ("end", alarm.id, NOW + 9)
    assert end.id != alarm.id


def test_zigbee_leak_tamper_availability_and_health() -> None:
    m = z2m()
    leak, low = m.handle("zigbee2mqtt/leak", j({"water_leak": True, "battery_low": True}),
                         NOW).events
    assert (leak.device, leak.type) == ("wl-1", "fire.supervisory")
    assert (low.device, low.type, low.attrs["cause"]) == ("wl-1", "fire.fault", "battery_low")
    [tamper] = m.handle("zigbee2mqtt/hall/smoke 1", j({"tamper": "ON"}), NOW).events
    assert (tamper.type, tamper.attrs["cause"]) == ("fire.fault", "tamper")
    [off] = m.handle("zigbee2mqtt/leak/availability", b"offline", NOW + 1).events
    assert (off.type, off.state, off.attrs["cause"]) == ("fire.fault", "start", "offline")
    [on] = m.handle("zigbee2mqtt/leak/availability", j({"state": "online"}), NOW + 2).events
    assert on.state == "end"
    m.handle("zigbee2mqtt/leak/availability", b"offline", NOW + 3)
    health = {h["device"]: h for h in m.health(NOW)}
    assert health["wl-1"]["fault"] == "offline,battery_low"
    assert health["smk-1"]["fault"] == "tamper"


def test_zigbee_ignores_what_it_does_not_map() -> None:
    m = z2m()
    for topic, payload in [
        ("zigbee2mqtt/bridge/state", b"online"),
        ("zigbee2mqtt/leak/set", b"not json at all"),
        ("zigbee2mqtt/leak", b"\xff\xfe garbage"),
        ("zigbee2mqtt/leak", b"[1, 2]"),
        ("zigbee2mqtt/unknown device", j({"smoke": True})),
        ("zigbee2mqtt/leak/availability", b"dunno"),
    ]:
        out = m.handle(topic, payload, NOW)
        assert out.readings == [] and out.events == []
    assert m.ignored == 6


@pytest.mark.parametrize(("key", "cause"), [("gas", "gas"), ("carbon_monoxide", "carbon_monoxide"),
                                           ("smoke", "smoke"), ("heat", "heat")])
def test_zigbee_every_alarm_state_raises_a_fire_alarm(key: str, cause: str) -> None:
    """A gas detector's {"gas": true} (Konke, Heiman) raised nothing before."""
    m = z2m()
    [start] = m.handle("zigbee2mqtt/leak", j({key: True, "battery": 90}), NOW).events
    assert (start.type, start.state, start.attrs["cause"]) == ("fire.alarm", "start", cause)
    [end] = m.handle("zigbee2mqtt/leak", j({key: False}), NOW + 5).events
    assert end.state == "end" and end.attrs["start_id"] == start.id
    assert not m.unmapped


def test_zigbee_co_and_smoke_density_become_readings() -> None:
    out = z2m().handle("zigbee2mqtt/leak", j({"co": 35, "smoke_density": "12"}), NOW)
    assert {(r.metric, r.value) for r in out.readings} == {("co_ppm", 35.0),
                                                           ("smoke_density", 12.0)}


def test_zigbee_counts_and_logs_unmapped_keys_per_key(caplog: pytest.LogCaptureFixture) -> None:
    m = z2m()
    for _ in range(3):
        m.handle("zigbee2mqtt/leak", j({"formaldehyd": 0.2, "pm25": 4, "voltage": 2900,
                                        "battery": 80}), NOW)
        m.dedup_s = 0  # every message counts
    assert m.unmapped == {"formaldehyd": 3, "pm25": 3}
    logged = [r.getMessage() for r in caplog.records if "does not map" in r.getMessage()]
    assert len(logged) == 2 and any("'formaldehyd'" in line for line in logged)


def test_zigbee_uses_last_seen_as_the_reading_time() -> None:
    out = z2m().handle("zigbee2mqtt/leak", j({"battery": 50, "last_seen": 1_764_089_990_500}),
                       NOW)
    assert [r.ts for r in out.readings] == [1_764_089_990.5]


@pytest.fixture
def frigate_update(shared_dir: Path) -> dict[str, Any]:
    path = shared_dir / "data" / "mqtt" / "frigate" / "frigate_mqtt_examples.json"
    if not path.exists():
        pytest.skip(f"{path} is absent: Frigate's documented MQTT examples")
    examples = json.loads(path.read_text())["examples"]
    return next(e["payload"] for e in examples if e["topic"] == "frigate/events")


def as_type(update: dict[str, Any], kind: str, **after: Any) -> bytes:
    msg = copy.deepcopy(update)
    msg["type"] = kind
    msg["after"].update(after)
    return j(msg)


def test_frigate_person_in_a_zone_is_one_intrusion_deduplicated_by_id(
    frigate_update: dict[str, Any],
) -> None:
    after = frigate_update["after"]
    m = FrigateMapper("a1", {after["camera"]: "cam-1"})
    [start] = m.handle("frigate/events", as_type(frigate_update, "new"), NOW).events
    assert (start.type, start.state, start.device) == ("camera.intrusion", "start", "cam-1")
    assert start.zone == after["current_zones"][0]
    assert start.score == after["top_score"] and start.ts == round(after["frame_time"], 3)
    assert start.attrs["frigate_id"] == after["id"]
    # A repeated `new` and an update that changes nothing we carry: nothing.
    assert m.handle("frigate/events", as_type(frigate_update, "new"), NOW).events == []
    assert m.handle("frigate/events", j(frigate_update), NOW).events == []
    [moved] = m.handle("frigate/events",
                       as_type(frigate_update, "update", current_zones=["lane"]), NOW).events
    assert (moved.state, moved.zone, moved.attrs["start_id"]) == ("update", "lane", start.id)
    [end] = m.handle("frigate/events",
                     as_type(frigate_update, "end", end_time=NOW + 30), NOW).events
    assert (end.state, end.ts, end.attrs["start_id"]) == ("end", NOW + 30, start.id)
    assert m.handle("frigate/events", as_type(frigate_update, "end"), NOW).events == []
    assert len({start.id, moved.id, end.id}) == 3


def test_frigate_stationary_car_is_vehicle_dwell_and_noise_is_ignored(
    frigate_update: dict[str, Any],
) -> None:
    cam = frigate_update["after"]["camera"]
    m = FrigateMapper("a1", {cam: "cam-1"})
    moving = as_type(frigate_update, "new", id="car-1", label="car", stationary=False)
    assert m.handle("frigate/events", moving, NOW).events == []
    parked = as_type(frigate_update, "update", id="car-1", label="car", stationary=True)
    [dwell] = m.handle("frigate/events", parked, NOW).events
    assert (dwell.type, dwell.state) == ("camera.vehicle_dwell", "start")
    fp = as_type(frigate_update, "new", id="p-2", false_positive=True)
    assert m.handle("frigate/events", fp, NOW).events == []
    # An object that never qualified ends without an event; other topics are ignored.
    assert m.handle("frigate/events", as_type(frigate_update, "end", id="p-2"), NOW).events == []
    other = FrigateMapper("a1", {"elsewhere": "cam-9"})
    assert other.handle("frigate/events", j(frigate_update), NOW).events == []
    assert m.handle("frigate/reviews", j(frigate_update), NOW).events == []
    assert m.handle("frigate/events", b"{broken", NOW).events == []


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_replay_keeps_the_recorded_pace_and_skips_bad_rows(tmp_path: Path) -> None:
    csv = write(tmp_path / "r.csv", "device,metric,ts,value\n"
                "d1,co_ppm,100.0,1\nd1,co_ppm,101.0,2\nd2,co_ppm,101.5,x\n"
                "zz,co_ppm,101.6,3\nd2,co_ppm,103.0,4\n")
    events = write(tmp_path / "e.csv", "device,type,ts,state,id\nd1,fire.alarm,102.0,start,e1\n"
                   "d1,fire.alarm,102.5,bogus,e2\n")
    r = ReplayAdapter("a1", csv, events_csv=events, speed=2.0, devices={"d1", "d2"})
    r.start()
    assert r.skipped == 3  # a bad value, an unknown device, a bad state
    assert [x.ts for x in r.poll(NOW).readings] == [100.0]
    assert [x.ts for x in r.poll(NOW + 0.5).readings] == [101.0]  # 1 s recorded, 0.5 s at 2x
    polled = r.poll(NOW + 1.0)
    assert (polled.readings, [e.id for e in polled.events]) == ([], ["e1"])
    assert not r.done
    assert [x.value for x in r.poll(NOW + 1.5).readings] == [4.0]
    assert r.done


def test_replay_retimed_starts_now_and_at_once_sends_everything(tmp_path: Path) -> None:
    csv = write(tmp_path / "r.csv", "device,metric,ts,value\nd1,co_ppm,100,1\nd1,co_ppm,110,2\n")
    paced = ReplayAdapter("a1", csv, speed=1.0, retime=True)
    paced.start()
    assert [x.ts for x in paced.poll(NOW).readings] == [NOW]
    assert [x.ts for x in paced.poll(NOW + 10).readings] == [NOW + 10]
    at_once = ReplayAdapter("a1", csv, speed=None)
    at_once.start()
    assert [x.ts for x in at_once.poll(NOW).readings] == [100.0, 110.0]
    with pytest.raises(ValueError, match="missing columns"):
        ReplayAdapter("a1", write(tmp_path / "bad.csv", "device,ts\n")).start()
