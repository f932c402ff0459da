"""The Zigbee2MQTT bridge against a real Mosquitto: what a Zigbee smoke detector says on
`zigbee2mqtt/<name>` reaches gw/v1 as readings and a fire alarm, through the agent."""

from __future__ import annotations

import time

import pytest

from edge.adapters.mqtt_bridge import MqttBridge
from edge.adapters.zigbee2mqtt import Zigbee2MqttMapper
from edge.agent import EdgeAgent
from tests.integration.test_edge_agent_mqtt import ROOT, recorder
from tests.support.edge_street import AGENT, small_registry
from tests.support.mosquitto import Broker
from tests.support.mqtt_tools import TestPublisher

pytestmark = pytest.mark.integration

DEVICE = "wy1-b01-smk-0301"


def test_a_zigbee_smoke_alarm_reaches_the_agents_topics(broker: Broker) -> None:
    mapper = Zigbee2MqttMapper(AGENT, {"stair 3 smoke": DEVICE})
    bridge = MqttBridge("zigbee2mqtt", mapper, broker.url, "gw-z2m-test", clock=time.time)
    agent = EdgeAgent(AGENT, small_registry(), broker.url, tick_s=0.05, adapters=[bridge],
                      simulators=False, health_interval_s=0.3)
    with recorder(broker.url) as rec:
        agent.start()
        pub = TestPublisher(broker.url, "fake-zigbee2mqtt")
        try:
            rec.wait_for("the agent online", lambda: bool(rec.payloads(f"{ROOT}/status")))
            topic = "zigbee2mqtt/stair 3 smoke"
            rec.wait_for("the bridge subscribed", bridge.subscribed.is_set)
            pub.publish(topic + "/availability", b"online")
            pub.publish(topic, {"smoke": False, "battery": "91", "linkquality": 87})
            pub.publish(topic, {"smoke": "true", "battery": 91, "linkquality": None})
            pub.publish(topic, {"smoke": "true", "battery": 91, "linkquality": None})  # dup

            def events() -> list[dict[str, object]]:
                return [e for p in rec.payloads(f"{ROOT}/events") for e in p["events"]]

            rec.wait_for("the alarm", lambda: len(events()) >= 1)
            rec.wait_for("health", lambda: any(
                d["device"] == DEVICE and d["battery"] == 91
                for h in rec.payloads(f"{ROOT}/health") for d in h["devices"]))
        finally:
            pub.close()
            agent.stop(timeout_s=2.0)
    [alarm] = events()
    assert (alarm["device"], alarm["type"], alarm["state"]) == (DEVICE, "fire.alarm", "start")
    readings = [r for p in rec.payloads(f"{ROOT}/readings") for r in p["readings"]]
    assert sorted((r["metric"], r["value"]) for r in readings) == [
        ("battery_pct", 91.0), ("battery_pct", 91.0), ("link_quality", 87.0)]
    health = [d for h in rec.payloads(f"{ROOT}/health") for d in h["devices"]]
    assert health[-1]["lqi"] == 87.0 and health[-1]["last_good_ts"] is not None
