"""`gridwatch mqtt-acl` files in a real Mosquitto: agents are confined to their own
topics, consoles to their own area's alerts, and the backend still ingests.

Ordering is what makes the "never arrives" checks sound without sleeping: Mosquitto
forwards one client's messages in the order it published them, so once a later
message has arrived, an earlier forbidden one would have arrived before it.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from app.mqtt_acl import (
    ACL,
    BACKEND_USER,
    CREDENTIALS,
    PASSWD,
    read_credentials,
    run_mqtt_acl,
)
from config.registry import Registry
from gridwatch.mqtt import make_client, parse_mqtt_url
from tests.support.backend_proc import running_backend
from tests.support.mosquitto import Broker, running_broker
from tests.support.mqtt_tools import TestPublisher, readings_msg
from tests.support.sample_street import area_path, smoke_detector_in

pytestmark = pytest.mark.integration
SMOKE = "smoke_obscuration_pct_m"


def codes_of(codes: list[Any]) -> Any:
    """An on_connect callback that keeps each CONNACK's reason code."""
    return lambda _c, _u, _f, rc, _p: codes.append(rc)


class Client:
    """A subscriber (or publisher) with a user's credentials; keeps what it receives."""

    def __init__(self, url: str, client_id: str) -> None:
        target = parse_mqtt_url(url)
        self.got: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.subacks: queue.Queue[list[bool]] = queue.Queue()
        self.client = make_client(target, client_id)
        self.client.on_message = lambda _c, _u, m: self.got.put((m.topic, bytes(m.payload)))
        self.client.on_subscribe = lambda _c, _u, _mid, codes, _p: self.subacks.put(
            [not rc.is_failure for rc in codes])
        self.client.connect(target.host, target.port)
        self.client.loop_start()

    def subscribe(self, topic: str) -> bool:
        """Whether the broker granted the subscription."""
        self.client.subscribe(topic, qos=1)
        return self.subacks.get(timeout=10)[0]

    def until(self, topic: str) -> list[str]:
        """Topics received up to and including the first message on `topic`."""
        seen = []
        while True:
            got, _ = self.got.get(timeout=15)
            seen.append(got)
            if got == topic:
                return seen

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def acl_broker(tmp_path: Path, registry: Registry) -> Iterator[tuple[Broker, dict[str, str]]]:
    out = tmp_path / "mqtt"
    assert run_mqtt_acl(registry, out) == 0
    conf = f"allow_anonymous false\npassword_file {out / PASSWD}\nacl_file {out / ACL}\n"
    with running_broker(tmp_path / "broker", conf) as broker:
        yield broker, read_credentials(out / CREDENTIALS)


def url(broker: Broker, user: str, creds: dict[str, str]) -> str:
    return f"mqtt://{user}:{creds[user]}@127.0.0.1:{broker.port}"


def test_rerun_keeps_existing_passwords(tmp_path: Path, registry: Registry) -> None:
    assert run_mqtt_acl(registry, tmp_path) == 0
    first = read_credentials(tmp_path / CREDENTIALS)
    assert run_mqtt_acl(registry, tmp_path) == 0
    assert read_credentials(tmp_path / CREDENTIALS) == first
    assert len(set(first.values())) == len(first)  # each user its own password
    assert (tmp_path / CREDENTIALS).stat().st_mode & 0o777 == 0o600


def test_anonymous_and_wrong_passwords_are_refused(
    acl_broker: tuple[Broker, dict[str, str]],
) -> None:
    broker, _ = acl_broker
    for user, password in ((None, None), (BACKEND_USER, "wrong")):
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="intruder")
        if user:
            client.username_pw_set(user, password)
        assert client.connect("127.0.0.1", broker.port) == 0
        codes: list[Any] = []
        client.on_connect = codes_of(codes)
        deadline = time.monotonic() + 10
        while not codes and time.monotonic() < deadline:
            client.loop(0.1)
        assert codes and codes[0].is_failure
        client.disconnect()


def test_agents_and_consoles_are_confined(
    acl_broker: tuple[Broker, dict[str, str]], registry: Registry, tmp_path: Path
) -> None:
    broker, creds = acl_broker
    area_a, area_b = area_path(registry, "wy1"), area_path(registry, "lc1")
    dev_a, agent_a = smoke_detector_in(registry, area_a)
    dev_b, agent_b = smoke_detector_in(registry, area_b)
    console_a, console_b = (
        next(r.id for r in registry.receivers.values() if r.kind == "console" and r.grid == area)
        for area in (area_a, area_b))

    backend_url = url(broker, BACKEND_USER, creds)
    with running_backend(tmp_path / "data", backend_url) as backend:
        spy = Client(backend_url, "spy")  # reads what the backend may read
        watch_a, watch_b = Client(url(broker, console_a, creds), "console-a"), Client(
            url(broker, console_b, creds), "console-b")
        agent = Client(url(broker, agent_a, creds), "agent-a")
        agent_b_client = Client(url(broker, agent_b, creds), "agent-b")
        alerts = TestPublisher(backend_url, "alert-source")
        try:
            assert spy.subscribe("gw/v1/+/readings")
            # Mosquitto 2.0 grants any subscription and filters each message against
            # the ACL on delivery, so these broad ones are what a snooper would try.
            for snooper in (agent, watch_a, watch_b):
                assert snooper.subscribe("gw/v1/alerts/#")

            # Agent A forges a reading of B's device on B's topic, then sends its own.
            t0 = time.time() - 60
            forged = readings_msg(agent_b, 1, [(dev_b, SMOKE, t0, 42.0)])
            own = readings_msg(agent_a, 1, [(dev_a, SMOKE, t0, 0.25)])
            for topic, msg in ((f"gw/v1/{agent_b}/readings", forged),
                               (f"gw/v1/{agent_a}/readings", own)):
                info = agent.client.publish(topic, json.dumps(msg), qos=1)
                info.wait_for_publish(10)
            assert spy.until(f"gw/v1/{agent_a}/readings") == [f"gw/v1/{agent_a}/readings"]

            # Each console gets its own area's alerts and not the other's.
            for area in (area_a, area_b, area_a, area_b):
                alerts.publish(f"gw/v1/alerts/{area}/x", {"summary": f"test alert {area}"})
            assert watch_a.until(f"gw/v1/alerts/{area_a}/x") == [f"gw/v1/alerts/{area_a}/x"]
            assert watch_b.until(f"gw/v1/alerts/{area_b}/x") == [f"gw/v1/alerts/{area_b}/x"]
            assert watch_b.until(f"gw/v1/alerts/{area_b}/x") == [f"gw/v1/alerts/{area_b}/x"]
            # The agent reads no alerts at all: a round trip on its own connection
            # comes back after anything the broker had queued for it.
            agent.client.publish(f"gw/v1/{agent_a}/health", b"{}", qos=1).wait_for_publish(10)
            assert agent.got.empty()

            # And the backend, with its generated credentials, ingested A's own reading.
            deadline = time.monotonic() + 15
            points: list[dict[str, Any]] = []
            with backend.client() as c:
                while not points and time.monotonic() < deadline:
                    r = c.get("/api/v1/readings", params={
                        "device": dev_a, "metric": SMOKE, "start": t0 - 1, "end": t0 + 1})
                    assert r.status_code == 200, r.text
                    points = r.json()["points"]
                    time.sleep(0.1)
                assert [p["value"] for p in points] == [0.25]
                r = c.get("/api/v1/readings", params={
                    "device": dev_b, "metric": SMOKE, "start": t0 - 1, "end": t0 + 1})
                assert r.json()["points"] == []

            # Receipts: B sends its own reading, so both agents have one (retained). Each
            # agent reads its own receipt and no one else's, even through a wildcard.
            b_own = readings_msg(agent_b, 1, [(dev_b, SMOKE, t0, 0.5)])
            agent_b_client.client.publish(
                f"gw/v1/{agent_b}/readings", json.dumps(b_own), qos=1).wait_for_publish(10)
            assert agent_b_client.subscribe(f"gw/v1/{agent_b}/receipts")
            assert agent_b_client.until(f"gw/v1/{agent_b}/receipts")[-1].endswith("/receipts")
            assert agent.subscribe("gw/v1/+/receipts")
            assert agent.until(f"gw/v1/{agent_a}/receipts") == [f"gw/v1/{agent_a}/receipts"]
            agent.client.publish(f"gw/v1/{agent_a}/health", b"{}", qos=1).wait_for_publish(10)
            time.sleep(0.5)
            assert agent.got.empty(), "an agent read another agent's receipt"
        finally:
            for client in (spy, watch_a, watch_b, agent, agent_b_client):
                client.close()
            alerts.close()
