"""The backbone end to end, through MQTT and HTTP only: a real Mosquitto, the real
`gridwatch serve` process with its embedded stores, the sample street's config."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from config.registry import Registry, in_scope
from tests.support.backend_proc import BackendProcess
from tests.support.mosquitto import Broker
from tests.support.mqtt_tools import SseCollector, TestPublisher, readings_msg
from tests.support.sample_street import area_path, smoke_detector_in
from tests.support.tokens import make_token
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

SMOKE = "smoke_obscuration_pct_m"


def test_fire_reaches_the_areas_guard_within_2s_and_no_other_area(
    backend: BackendProcess, broker: Broker, registry: Registry
) -> None:
    wy1 = area_path(registry, "wy1")
    other = next(a.area for a in registry.agents.values() if a.area != wy1)
    guard = make_token(backend.data_dir, "--role", "guard", "--grid", wy1)
    outsider = make_token(backend.data_dir, "--role", "guard", "--grid", other)
    mine = SseCollector(backend.base, guard)
    theirs = SseCollector(backend.base, outsider)
    assert mine.status == 200 and theirs.status == 200
    device, agent = smoke_detector_in(registry, wy1)
    pub = TestPublisher(broker.url)
    try:
        now = time.time()
        # Smoke rising: the first readings are below the threshold, the last crosses it.
        pub.publish(f"gw/v1/{agent}/readings",
                    readings_msg(agent, 1, [(device, SMOKE, now - 2, 0.3),
                                            (device, SMOKE, now - 1, 2.5)]))
        sent = time.time()
        pub.publish(f"gw/v1/{agent}/readings", readings_msg(agent, 2, [(device, SMOKE, now, 6.0)]))
        alert = mine.wait_for(lambda a: a["device"] == device, timeout=5)
    finally:
        pub.close()
    assert alert is not None, f"no alert on the guard's stream:\n{backend.log()}"
    arrival = next(t for t, _, a in mine.events if a["id"] == alert["id"])
    assert arrival - sent < 2.0, f"alert took {arrival - sent:.2f} s"
    assert alert["severity"] == "critical" and alert["status"] == "firing"
    assert alert["grid"] == registry.devices[device].grid
    assert alert["receivers"], "routed to nobody"
    assert all(r in registry.receivers for r in alert["receivers"])

    time.sleep(0.5)
    assert [a for _, _, a in theirs.events if a["device"] == device] == []
    mine.close()
    theirs.close()
    with backend.client(guard) as c:
        firing = [a for a in c.get("/api/v1/alerts").json() if a["device"] == device]
        assert len(firing) == 1, "one critical alert per fire"
    with backend.client(outsider) as c:
        assert all(a["device"] != device for a in c.get("/api/v1/alerts").json())
        assert c.get(f"/api/v1/alerts/{alert['id']}").status_code == 404


def series(backend: BackendProcess, device: str, metric: str, start: float) -> list[float]:
    with backend.client() as c:
        r = c.get("/api/v1/readings", params={"device": device, "metric": metric,
                                              "start": start, "end": time.time() + 60})
        assert r.status_code == 200, r.text
        return [p["ts"] for p in r.json()["points"]]


def test_replaying_messages_twice_duplicates_nothing(
    backend: BackendProcess, broker: Broker, registry: Registry
) -> None:
    area = area_path(registry, "wy1")
    device, agent = smoke_detector_in(registry, area)
    t0 = time.time() - 100
    msgs = [readings_msg(agent, i, [(device, SMOKE, t0 + i, 0.2 if i < 5 else 7.0)])
            for i in range(10)]
    pub = TestPublisher(broker.url)
    try:
        for _ in range(2):
            for m in msgs:
                pub.publish(f"gw/v1/{agent}/readings", m)
    finally:
        pub.close()
    assert wait_for(lambda: len(series(backend, device, SMOKE, t0 - 1)) >= 10, 10)
    time.sleep(0.5)
    assert series(backend, device, SMOKE, t0 - 1) == [t0 + i for i in range(10)]
    with backend.client() as c:
        alerts = [a for a in c.get("/api/v1/alerts", params={"status": "all"}).json()
                  if a["device"] == device]
    assert len(alerts) == 1, alerts


def test_sigkill_mid_stream_loses_no_acknowledged_reading(
    tmp_path: Path, broker: Broker, registry: Registry
) -> None:
    area = area_path(registry, "wy1")
    devices = [d for d in registry.config.devices if in_scope(d.grid, area)][:20]
    agent = devices[0].agent
    t0 = time.time() - 1000
    backend = BackendProcess(tmp_path / "data", broker.url)
    backend.start()
    pub = TestPublisher(broker.url, "test-publisher-kill")
    total = 0
    try:
        for i in range(300):
            rows = [(d.id, "battery_pct", t0 + i, float(i % 100)) for d in devices]
            pub.publish(f"gw/v1/{agent}/readings", readings_msg(agent, i, rows))
            total += len(rows)
            if i == 150:
                backend.kill()  # acknowledged by the broker, the rest queue there
        backend.start()
        def count() -> int:
            return sum(len(series(backend, d.id, "battery_pct", t0 - 1)) for d in devices)
        assert wait_for(lambda: count() >= total, 30), f"{count()} of {total}\n{backend.log()}"
        time.sleep(0.5)
        assert count() == total
    finally:
        pub.close()
        backend.stop()


def test_bad_messages_are_dead_lettered_and_valid_traffic_flows(
    backend: BackendProcess, broker: Broker, registry: Registry
) -> None:
    area = area_path(registry, "wy1")
    device, agent = smoke_detector_in(registry, area)
    foreign = next(d.id for d in registry.config.devices if d.agent != agent)
    topic = f"gw/v1/{agent}/readings"
    t = time.time() - 50
    pub = TestPublisher(broker.url)
    try:
        pub.publish(topic, b"{not json")
        pub.publish(topic, b"x" * (1024 * 1024 + 1))
        pub.publish(topic, readings_msg(agent, 1, [("no-such-device", SMOKE, t, 1.0),
                                                   (device, SMOKE, t + 1, 0.5)]))
        pub.publish(topic, {"agent": agent, "seq": 2,
                            "readings": [{"device": device, "metric": SMOKE, "ts": t + 2,
                                          "value": "high"}]})
        pub.publish(topic, readings_msg(agent, 3, [(foreign, SMOKE, t + 3, 1.0)]))
        pub.publish(topic, readings_msg(agent, 4, [(device, SMOKE, t + 4, 0.6)]))
    finally:
        pub.close()
    assert wait_for(lambda: len(series(backend, device, SMOKE, t - 1)) == 2, 10)
    expected = sorted(["bad_json", "oversized", "unknown_device", "bad_item", "foreign_device"])

    def reasons() -> list[str]:
        with backend.client() as c:
            r = c.get("/api/v1/dead-letters", params={"limit": 50})
            assert r.status_code == 200, r.text
            return sorted(d["reason"].split(":")[0] for d in r.json())

    # A batch's rejects are kept right after its readings are written, so the readings
    # can be visible a moment before the dead letters of the same batch.
    wait_for(lambda: reasons() == expected, 10)
    assert reasons() == expected
    assert series(backend, device, SMOKE, t - 1) == [t + 1, t + 4]
