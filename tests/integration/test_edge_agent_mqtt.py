"""The simulated edge agent against a real Mosquitto: payloads per contract section 3,
seq per topic, the retained status and last will, buffering through an outage, and a
scripted fire played ten times faster than life."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from config.loader import load_registry
from edge.agent import EdgeAgent
from gridwatch.clock import Clock
from gridwatch.mqtt import make_client, parse_mqtt_url
from tests.support.edge_street import AGENT, FastClock, small_registry
from tests.support.mosquitto import Broker

pytestmark = pytest.mark.integration

ROOT = f"gw/v1/{AGENT}"
READING_KEYS = {"device", "metric", "ts", "value"}
EVENT_KEYS = {"id", "device", "ts", "type", "state", "zone", "score", "attrs", "snapshot"}


class Recorder:
    """Subscribes to gw/v1/# at QoS 1 and keeps (topic, payload, retained) in order."""

    def __init__(self, url: str, client_id: str, *, clean: bool = True) -> None:
        target = parse_mqtt_url(url)
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = make_client(target, client_id, clean_session=clean)
        self.client.on_connect = lambda c, *_: c.subscribe("gw/v1/#", qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        self.client.connect(target.host, target.port)
        self.client.loop_start()
        assert self._subscribed.wait(5), "the recorder could not subscribe"

    def _on_message(self, _c: mqtt.Client, _u: Any, m: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((m.topic, bytes(m.payload), bool(m.retain)))

    def payloads(self, topic: str) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(p) for t, p, _ in self.messages if t == topic]

    def wait_for(self, what: str, check: Callable[[], bool], timeout_s: float = 8.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.02)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def recorder(url: str, client_id: str = "test-recorder", clean: bool = True) -> Iterator[Recorder]:
    rec = Recorder(url, client_id, clean=clean)
    try:
        yield rec
    finally:
        rec.close()


@contextmanager
def running_agent(
    broker: Broker, interval_s: float, clock: Clock = time.time, health_s: float = 60.0
) -> Iterator[EdgeAgent]:
    agent = EdgeAgent(
        AGENT,
        small_registry(interval_s),
        broker.url,
        clock=clock,
        seed=11,
        tick_s=0.05,
        health_interval_s=health_s,
    )
    agent.start()
    try:
        yield agent
    finally:
        agent.stop(timeout_s=2.0)


def states(rec: Recorder) -> list[str]:
    return [p["state"] for p in rec.payloads(f"{ROOT}/status")]


def seqs(rec: Recorder) -> set[int]:
    return {p["seq"] for p in rec.payloads(f"{ROOT}/readings")}


def assert_seq_contiguous(payloads: list[dict[str, Any]]) -> None:
    # QoS 1 may deliver a message twice after a reconnect; it may not lose one.
    seqs = sorted({p["seq"] for p in payloads})
    assert seqs == list(range(1, len(seqs) + 1))


def test_payloads_follow_the_contract_and_status_is_retained(broker: Broker) -> None:
    with recorder(broker.url) as rec:
        with running_agent(broker, interval_s=0.5, health_s=1.0) as agent:
            rec.wait_for("readings", lambda: len(rec.payloads(f"{ROOT}/readings")) >= 15)
            rec.wait_for("two health reports", lambda: len(rec.payloads(f"{ROOT}/health")) >= 2)
            with recorder(broker.url, "late-joiner") as late:
                late.wait_for("the retained status", lambda: bool(late.messages))
                assert late.messages[0][2] is True  # retained
                assert json.loads(late.messages[0][1])["state"] == "online"
        rec.wait_for("offline", lambda: states(rec)[-1:] == ["offline"])
        stats = agent.stats()

    readings = rec.payloads(f"{ROOT}/readings")
    assert [p["seq"] for p in readings] == list(range(1, len(readings) + 1))
    devices = set(small_registry().devices)
    for payload in readings:
        assert set(payload) == {"agent", "seq", "readings"} and payload["agent"] == AGENT
        assert 1 <= len(payload["readings"]) <= 10_000
        for r in payload["readings"]:
            assert set(r) == READING_KEYS and r["device"] in devices
            assert isinstance(r["ts"], float) and isinstance(r["value"], int | float)
    # Every device, batched: one message carries the readings of several devices.
    assert {r["device"] for p in readings for r in p["readings"]} == devices
    assert max(len({r["device"] for r in p["readings"]}) for p in readings) > 1
    assert stats.readings == sum(len(p["readings"]) for p in readings)
    assert stats.events == 0 and stats.dropped == 0 and stats.depth == 0

    health = rec.payloads(f"{ROOT}/health")
    # Health is numbered like every topic, so that receipts can cover it (contract 3).
    assert [h["seq"] for h in health] == list(range(1, len(health) + 1))
    for h in health:
        assert set(h) == {"ts", "seq", "devices", "buffer"}
        assert set(h["buffer"]) == {"depth", "dropped", "oldest_ts"}
        assert {d["device"] for d in h["devices"]} == devices
        for d in h["devices"]:
            assert set(d) == {"device", "battery", "rssi", "fault", "last_good_ts"}
            assert d["fault"] is None
            assert d["battery"] is None or 0 <= d["battery"] <= 100
            assert d["rssi"] is None or -120 <= d["rssi"] < 0
    assert stats.messages == len(readings) + len(health)

    status = rec.payloads(f"{ROOT}/status")
    assert [s["state"] for s in status] == ["online", "offline"]
    assert all(set(s) == {"state", "ts", "version"} for s in status)
    with recorder(broker.url, "after-stop") as after:
        after.wait_for("the retained status", lambda: bool(after.messages))
        assert (json.loads(after.messages[0][1])["state"], after.messages[0][2]) == (
            "offline",
            True,
        )


def test_the_last_will_says_offline_when_the_link_dies_and_the_agent_comes_back(
    broker: Broker,
) -> None:
    with recorder(broker.url) as rec, running_agent(broker, interval_s=0.2) as agent:
        rec.wait_for("online", lambda: states(rec) == ["online"])
        rec.wait_for("readings", lambda: len(rec.payloads(f"{ROOT}/readings")) >= 5)
        sock = agent.publisher.client.socket()
        assert isinstance(sock, socket.socket)
        # A dead link, not a goodbye: no DISCONNECT reaches the broker, so the will fires.
        sock.shutdown(socket.SHUT_RDWR)
        rec.wait_for("the will", lambda: states(rec)[:2] == ["online", "offline"])
        rec.wait_for("reconnection", lambda: states(rec)[:3] == ["online", "offline", "online"])
        before = len(rec.payloads(f"{ROOT}/readings"))
        rec.wait_for("readings again", lambda: len(rec.payloads(f"{ROOT}/readings")) > before + 5)
    assert_seq_contiguous(rec.payloads(f"{ROOT}/readings"))


def test_an_outage_is_buffered_and_delivered_without_a_gap(broker: Broker) -> None:
    # A persistent session, so the broker keeps what arrives while we reconnect too.
    with (
        recorder(broker.url, "outage", clean=False) as rec,
        running_agent(broker, interval_s=0.2) as agent,
    ):
        rec.wait_for("readings", lambda: len(seqs(rec)) >= 3)
        broker.stop()
        rec.wait_for("a backlog", lambda: agent.stats().depth >= 5)
        backlog_ends = max(seqs(rec)) + agent.stats().depth
        broker.start()
        rec.wait_for("the backlog", lambda: max(seqs(rec)) > backlog_ends, 12.0)
        stats = agent.stats()
    assert stats.dropped == 0
    assert_seq_contiguous(rec.payloads(f"{ROOT}/readings"))


def test_a_scripted_fire_reaches_the_broker_as_smoke_readings_and_a_panel_alarm(
    broker: Broker,
) -> None:
    with recorder(broker.url) as rec, running_agent(broker, 30.0, clock=FastClock(10)) as agent:
        rec.wait_for("online", lambda: states(rec) == ["online"])
        assert "building 1" in agent.trigger("fire", "wy1-b01-smk-0301")

        def smoke_values() -> list[float]:
            return [
                r["value"]
                for p in rec.payloads(f"{ROOT}/readings")
                for r in p["readings"]
                if r["metric"] == "smoke_obscuration_pct_m"
            ]

        def events() -> list[dict[str, Any]]:
            return [e for p in rec.payloads(f"{ROOT}/events") for e in p["events"]]

        rec.wait_for("smoke above 4 %/m", lambda: max(smoke_values(), default=0) > 4.0, 5.0)
        rec.wait_for("fire.alarm", lambda: any(e["type"] == "fire.alarm" for e in events()), 3.0)
        agent.trigger("clear")
        rec.wait_for("the reset", lambda: len(events()) == 3, 3.0)

    alarm, reset, end = events()
    assert set(alarm) == EVENT_KEYS
    assert (alarm["type"], alarm["state"], alarm["device"]) == (
        "fire.alarm",
        "start",
        "wy1-b02-fap-0101",
    )
    assert (reset["type"], reset["state"]) == ("fire.reset", "instant")
    assert (end["type"], end["state"], end["attrs"]["start_id"]) == (
        "fire.alarm",
        "end",
        alarm["id"],
    )
    assert len({alarm["id"], reset["id"], end["id"]}) == 3
    assert_seq_contiguous(rec.payloads(f"{ROOT}/events"))


def test_run_agent_stops_cleanly_on_sigterm(broker: Broker, tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    sample = repo / "config" / "street"
    agent_id = sorted(load_registry(sample).agents)[0]
    code = "import sys; from app.edge_run import run_agent; run_agent(*sys.argv[1:])"
    with recorder(broker.url) as rec:
        argv = [sys.executable, "-c", code, agent_id, str(sample), broker.url,
                str(tmp_path / "data")]
        proc = subprocess.Popen(argv, cwd=repo)
        try:
            topic = f"gw/v1/{agent_id}/status"
            rec.wait_for("online", lambda: len(rec.payloads(topic)) == 1, 10.0)
            rec.wait_for("readings", lambda: bool(rec.payloads(f"gw/v1/{agent_id}/readings")))
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
        finally:
            proc.kill()
        rec.wait_for("offline", lambda: len(rec.payloads(topic)) == 2, 3.0)
    assert [p["state"] for p in rec.payloads(topic)] == ["online", "offline"]
