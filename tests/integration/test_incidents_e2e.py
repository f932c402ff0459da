"""One fire, one incident, the right room: real Mosquitto, the real `gridwatch serve`
with the sample street. Smoke readings and the fire panel's alarm at a mapped point of
the same building make exactly one incident holding both alerts; the panel's alert
names the point's floor and place, not the panel's; an unmapped point still alerts,
flagged; a guard's ack lands in the incident's timeline; a false-alarm close resolves
the alerts and is counted."""

from __future__ import annotations

import time
from typing import Any

import pytest

from config.registry import Registry
from tests.support.backend_proc import BackendProcess
from tests.support.browser import until
from tests.support.mosquitto import Broker
from tests.support.mqtt_tools import TestPublisher, readings_msg
from tests.support.sample_street import area_path
from tests.support.tokens import make_token

pytestmark = pytest.mark.integration

SMOKE = "smoke_obscuration_pct_m"


def fire_scene(registry: Registry) -> tuple[str, str, Any, Any]:
    """(panel id, agent, a smoke detector's spec, a panel point of another detector of
    the same building, on another floor) in Wenyuan No.1."""
    wy1 = area_path(registry, "wy1")
    panel = next(d for d in registry.devices_in(wy1) if d.type == "fire_panel")
    detectors = {p.device: p for p in panel.points if p.device}
    for smoke in (d for d in registry.devices_in(wy1) if d.type == "smoke_detector"):
        if smoke.building == panel.building:
            continue  # the point of the test: the detector's building, not the panel's
        other = next((p for dev, p in detectors.items() if dev != smoke.id
                      and registry.devices[dev].building == smoke.building
                      and registry.devices[dev].floor != smoke.floor), None)
        if other is not None:
            return panel.id, panel.agent, smoke, other
    raise AssertionError("the sample street has no fire scene in wy1")


def test_smoke_and_a_panel_alarm_in_one_building_make_one_incident(
    backend: BackendProcess, broker: Broker, registry: Registry
) -> None:
    panel, agent, smoke, point = fire_scene(registry)
    detector = registry.devices[point.device]
    pub = TestPublisher(broker.url, "test-incidents-e2e")
    now = time.time()
    try:
        pub.publish(f"gw/v1/{agent}/readings",
                    readings_msg(agent, 1, [(smoke.id, SMOKE, now, 7.5)]))
        alarm = {"id": "alarm-1", "device": panel, "ts": now + 1, "type": "fire.alarm",
                 "state": "start", "attrs": {"loop": point.loop, "point": point.point}}
        unmapped = {"id": "alarm-2", "device": panel, "ts": now + 2, "type": "fire.alarm",
                    "state": "start", "attrs": {"loop": 99, "point": 7}}
        pub.publish(f"gw/v1/{agent}/events",
                    {"agent": agent, "seq": 1, "events": [alarm, unmapped]})
    finally:
        pub.close()
    with backend.client() as api:
        def fire_alerts() -> list[dict[str, Any]] | None:
            found = [a for a in api.get("/api/v1/alerts?status=firing").json()
                     if a["type"] in ("fire.smoke", "fire.alarm")]
            return found if len(found) == 3 and all(a["incident_id"] for a in found) else None

        alerts = until(fire_alerts, 15)
        assert alerts is not None, f"fire alerts missing:\n{backend.log()}"
        smoke_alert = next(a for a in alerts if a["type"] == "fire.smoke")
        at_point = next(a for a in alerts if a["type"] == "fire.alarm" and a["location"]["mapped"])
        flagged = next(a for a in alerts if not a["location"]["mapped"])

        # The panel's alert is where the detector is, not where the panel is.
        loc = at_point["location"]
        assert loc["floor"] == detector.floor != registry.devices[panel].floor
        assert loc["place"] == detector.place and loc["building"] == f"{detector.building}号楼"
        assert f"{detector.floor}层" in loc["text"] and detector.place in loc["text"]
        assert at_point["building"] == smoke.building

        incidents = api.get("/api/v1/incidents").json()
        [fire] = [i for i in incidents if smoke_alert["id"] in i["alerts"]]
        assert sorted(fire["alerts"]) == sorted([smoke_alert["id"], at_point["id"]])
        assert fire["severity"] == "critical" and fire["title"].startswith("火情：文苑一村 ")
        assert fire["location"]["building"] == f"{smoke.building}号楼"
        assert [t["kind"] for t in fire["timeline"]][:3] == ["opened", "alert_joined",
                                                             "alert_joined"]

        # The unmapped point still alerts, at the panel, with its raw loop and point.
        assert flagged["severity"] == "critical" and flagged["device"] == panel
        assert "回路 99 点 7" in flagged["location"]["text"]
        assert flagged["building"] == registry.devices[panel].building
        assert flagged["incident_id"] != fire["id"]  # the panel's building: another one

        devices = api.get(f"/api/v1/devices?type=fire_panel&grid={area_path(registry, 'wy1')}")
        [listed] = devices.json()
        assert {"loop": point.loop, "point": point.point, "device": detector.id} in [
            {k: p[k] for k in ("loop", "point", "device")} for p in listed["points"]
        ]

        # A guard's ack and note reach the incident's timeline.
        wy1 = area_path(registry, "wy1")
        guard = make_token(backend.data_dir, "--role", "guard", "--grid", wy1, "--name", "正门岗")
        acked = api.post(f"/api/v1/alerts/{smoke_alert['id']}/ack", json={"note": "已到场"},
                         headers={"Authorization": f"Bearer {guard}"})
        assert acked.status_code == 200, acked.text
        assert acked.json()["ack_note"] == "已到场"
        timeline = api.get(f"/api/v1/incidents/{fire['id']}").json()["timeline"]
        assert [(t["by"], t["note"], t["alert_id"]) for t in timeline
                if t["kind"] == "alert_acked"] == [("正门岗", "已到场", smoke_alert["id"])]

        # Closed as a false alarm: its alerts are resolved, the reason kept and counted.
        closed = api.post(f"/api/v1/incidents/{fire['id']}/transition",
                          json={"to": "closed", "false_alarm": True, "note": "厨房油烟"})
        assert closed.status_code == 200, closed.text
        assert closed.json()["close_reason"] == "厨房油烟" and closed.json()["false_alarm"]
        for alert_id in fire["alerts"]:
            assert api.get(f"/api/v1/alerts/{alert_id}").json()["status"] == "resolved"
        counts = api.get("/api/v1/incidents/false-alarms").json()
        assert {"device": smoke.id, "type": "fire.smoke", "count": 1} in counts
