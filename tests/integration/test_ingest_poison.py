"""Poison never blocks an alarm: a real Mosquitto, the real `gridwatch serve`, and the
guard's SSE stream as the only judge.

One agent sends payloads that break the JSON parser (nesting deep enough for a
RecursionError): once, then as a flood of a thousand a second. A fire panel on another
agent raises an alarm right after; it must reach the guard of its area within 2 s.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from config.registry import Registry
from gridwatch.mqtt import make_client, parse_mqtt_url
from tests.support.backend_proc import BackendProcess
from tests.support.mosquitto import Broker
from tests.support.mqtt_tools import SseCollector, TestPublisher
from tests.support.tokens import make_token
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

NESTED = b"[" * 5_000 + b"]" * 5_000  # json.loads raises RecursionError on it
ALARM_WITHIN_S = 2.0


def fire_panels(registry: Registry) -> tuple[str, str, str]:
    """(bad agent, panel device, its agent): a fire panel on another agent than the bad one."""
    panels = [d for d in registry.config.devices if d.type == "fire_panel"]
    bad_agent = panels[0].agent
    panel = next(d for d in panels if d.agent != bad_agent)
    return bad_agent, panel.id, panel.agent


def fire_event(agent: str, device: str, seq: int) -> dict[str, object]:
    return {"agent": agent, "seq": seq, "events": [
        {"id": f"poison-test-{seq}", "device": device, "ts": time.time(), "type": "fire.alarm",
         "state": "start", "attrs": {}}]}


def alarm_delay(backend: BackendProcess, registry: Registry, device: str, agent: str) -> float:
    """Publish a fire alarm from `device`; seconds until the guard of its grid sees it."""
    guard = make_token(backend.data_dir, "--role", "guard", "--grid",
                       registry.devices[device].grid)
    stream = SseCollector(backend.base, guard)
    assert stream.status == 200
    pub = TestPublisher(backend.mqtt_url, client_id="poison-test-panel")
    try:
        sent = time.time()
        pub.publish(f"gw/v1/{agent}/events", fire_event(agent, device, 1))
        alert = stream.wait_for(lambda a: a["device"] == device, timeout=30)
    finally:
        pub.close()
        stream.close()
    assert alert is not None, f"the alarm never reached the guard:\n{backend.log()}"
    arrived = next(t for t, _, a in stream.events if a["id"] == alert["id"])
    assert alert["type"] == "fire.alarm" and alert["severity"] == "critical"
    return arrived - sent


def dead_letters(backend: BackendProcess) -> list[dict[str, object]]:
    with backend.client() as c:
        r = c.get("/api/v1/dead-letters", params={"limit": 1000})
        assert r.status_code == 200, r.text
        return list(r.json())


def test_an_alarm_right_after_a_parser_breaking_message_is_not_held_up(
    backend: BackendProcess, broker: Broker, registry: Registry
) -> None:
    bad_agent, panel, agent = fire_panels(registry)
    pub = TestPublisher(broker.url, client_id="poison-test-bad")
    try:
        pub.publish(f"gw/v1/{bad_agent}/events", NESTED)
    finally:
        pub.close()
    delay = alarm_delay(backend, registry, panel, agent)
    assert delay < ALARM_WITHIN_S, f"the alarm took {delay:.2f} s behind one poison message"
    letters = wait_for(lambda: [d for d in dead_letters(backend) if d["agent"] == bad_agent], 5)
    assert letters, "the poison message was not dead-lettered"
    assert len(letters) == 1, "dead-lettered once: a decode error is never retried"
    assert str(letters[0]["reason"]).startswith("undecodable: RecursionError")


class Flood:
    """Publishes `per_s` poison messages a second from one agent until stopped."""

    def __init__(self, url: str, agent: str, per_s: int) -> None:
        target = parse_mqtt_url(url)
        self.client = make_client(target, "poison-test-flood")
        self.client.max_inflight_messages_set(1000)
        self.client.connect(target.host, target.port)
        self.client.loop_start()
        self.topic = f"gw/v1/{agent}/events"
        self.per_s = per_s
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            second = time.monotonic()
            for _ in range(self.per_s):
                self.client.publish(self.topic, NESTED, qos=1)
                self.sent += 1
            self._stop.wait(max(0.0, 1.0 - (time.monotonic() - second)))

    def __enter__(self) -> Flood:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def ops_stream(backend: BackendProcess) -> Iterator[SseCollector]:
    stream = SseCollector(backend.base, make_token(backend.data_dir, "--role", "ops"))
    yield stream
    stream.close()


def test_a_flood_of_poison_does_not_delay_another_agents_alarm(
    backend: BackendProcess, broker: Broker, registry: Registry, ops_stream: SseCollector
) -> None:
    bad_agent, panel, agent = fire_panels(registry)
    with Flood(broker.url, bad_agent, per_s=1_000) as flood:
        time.sleep(2.0)  # the flood is in full swing
        delay = alarm_delay(backend, registry, panel, agent)
        time.sleep(1.0)
    assert delay < ALARM_WITHIN_S, f"the alarm took {delay:.2f} s behind a poison flood"

    # The operations centre hears of the garbage sender, once.
    garbage = ops_stream.wait_for(lambda a: a["type"] == "agent.garbage", timeout=10)
    assert garbage is not None, f"no garbage alert on the ops stream:\n{backend.log()}"
    time.sleep(0.5)
    assert [a["type"] for _, _, a in ops_stream.events].count("agent.garbage") == 1
    assert registry.devices[garbage["device"]].agent == bad_agent
    # The dead-letter store kept only the agent's budget; the rest were counted.
    letters = [d for d in dead_letters(backend) if d["agent"] == bad_agent]
    assert 0 < len(letters) < flood.sent / 2
    dropped = metric_sum(backend, "gridwatch_ingest_dead_letters_dropped_total")
    assert dropped > 0, "drops beyond the budget are counted"


def test_an_alarm_overtakes_a_readings_backlog(
    backend: BackendProcess, broker: Broker, registry: Registry
) -> None:
    """Readings offered far faster than ingest stores them (300,000 in 3,000 messages at
    once); a fire panel's alarm published right after them goes through its own lane."""
    bad_agent, panel, agent = fire_panels(registry)
    sensor = next(d for d in registry.config.devices
                  if d.agent == bad_agent and d.type == "smoke_detector")
    target = parse_mqtt_url(broker.url)
    burst = make_client(target, "backlog-test-readings")
    burst.max_inflight_messages_set(3_000)
    burst.connect(target.host, target.port)
    burst.loop_start()
    try:
        t0 = time.time() - 3_600
        infos = []
        for seq in range(3_000):
            rows = [{"device": sensor.id, "metric": "smoke_obscuration_pct_m",
                     "ts": t0 + seq + i / 100, "value": 0.1} for i in range(100)]
            body = {"agent": bad_agent, "seq": seq, "readings": rows}
            infos.append(burst.publish(f"gw/v1/{bad_agent}/readings", json.dumps(body), qos=1))
        for info in infos:
            info.wait_for_publish(30)
        delay = alarm_delay(backend, registry, panel, agent)
        written = metric_sum(backend, "gridwatch_readings_written_total")
    finally:
        burst.disconnect()
        burst.loop_stop()
    assert written < 300_000, "no backlog: every reading was stored before the alarm came"
    assert delay < ALARM_WITHIN_S, (
        f"the alarm took {delay:.2f} s behind a readings backlog:\n{backend.log()}")


def metric_sum(backend: BackendProcess, name: str) -> float:
    text = httpx.get(f"{backend.base}/metrics", timeout=10).text
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.split("{")[0].split(" ")[0] == name)
