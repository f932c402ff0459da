"""The ingest benchmark: readings/s from publish to durable write through a real
Mosquitto, beside the broker's raw QoS 1 delivery of the same messages."""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from bench.kit import ROUNDS, Result
from config.loader import DEFAULT_CONFIG_DIR, load_registry
from config.registry import Registry
from gridwatch.mqtt import make_client, parse_mqtt_url
from launchers.mosquitto import Broker


class _NullSink:
    def on_events(self, events: object) -> None:
        pass

    def on_readings(self, readings: object) -> None:
        pass

    def on_agent_status(self, agent: str, state: str, ts: float) -> None:
        pass

    def on_agent_garbage(self, agent: str, ts: float, detail: str, over: bool) -> None:
        pass


def _payloads(registry: Registry, messages: int, per_message: int, t0: float) -> list[bytes]:
    agent = sorted(registry.agents)[0]
    devices = [d.id for d in registry.devices_of_agent(agent)]
    out = []
    for m in range(messages):
        rows = []
        for k in range(per_message):
            i = m * per_message + k
            # Unique (device, metric, ts) per row, so every row is a new durable write.
            rows.append({"device": devices[i % len(devices)], "metric": "battery_pct",
                         "ts": t0 + i / 1000.0, "value": float(i % 100)})
        out.append(json.dumps({"agent": agent, "seq": m, "readings": rows}).encode())
    return out


def _publish_all(url: str, topic: str, payloads: list[bytes]) -> None:
    client = make_client(parse_mqtt_url(url), f"bench-pub-{time.monotonic_ns()}")
    client.max_inflight_messages_set(100)
    client.connect(parse_mqtt_url(url).host, parse_mqtt_url(url).port)
    client.loop_start()
    infos = [client.publish(topic, p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def _raw_delivery(url: str, topic: str, payloads: list[bytes], rows: int) -> float:
    """Readings/s the broker alone delivers to a QoS 1 subscriber."""
    target = parse_mqtt_url(url)
    got = threading.Event()
    count = [0]

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        count[0] += 1
        if count[0] == len(payloads):
            got.set()

    sub = make_client(target, f"bench-sub-{time.monotonic_ns()}")
    sub.on_message = on_message
    sub.connect(target.host, target.port)
    sub.subscribe(topic, 1)
    sub.loop_start()
    time.sleep(0.3)
    start = time.perf_counter()
    _publish_all(url, topic, payloads)
    got.wait(120)
    elapsed = time.perf_counter() - start
    sub.disconnect()
    sub.loop_stop()
    return rows / elapsed


def _ingest_delivery(url: str, registry: Registry, topic: str, payloads: list[bytes],
                     rows: int) -> float:
    """Readings/s from publish to durable write through gridwatch's ingest."""
    from ingest.consumer import ConsumerSettings, IngestConsumer
    from ingest.pipeline import IngestPipeline
    from store.factory import open_ops, open_timeseries

    with tempfile.TemporaryDirectory(prefix="gw-bench-") as tmp:
        ts = open_timeseries("embedded", Path(tmp))
        ops = open_ops(Path(tmp))
        pipeline = IngestPipeline(registry, ts, ops, _NullSink())
        consumer = IngestConsumer(parse_mqtt_url(url), pipeline,
                                  ConsumerSettings(client_id=f"bench-ingest-{time.monotonic_ns()}"))
        consumer.start()
        consumer.connected.wait(10)
        time.sleep(0.3)
        start = time.perf_counter()
        _publish_all(url, topic, payloads)
        while ts.reading_count() < rows and time.perf_counter() - start < 300:
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        consumer.stop()
        ts.close()
        ops.close()
    return rows / elapsed


def run(quick: bool) -> list[Result]:
    registry = load_registry(DEFAULT_CONFIG_DIR)
    messages, per_message = (200, 100) if quick else (1000, 200)
    rows = messages * per_message
    agent = sorted(registry.agents)[0]
    topic = f"gw/v1/{agent}/readings"
    ingest, raw = [], []
    with tempfile.TemporaryDirectory(prefix="gw-bench-broker-") as tmp:
        # The production setting the README recommends: ingest acks after each durable
        # write, so the in-flight window is what a write transaction can batch.
        broker = Broker(Path(tmp), "max_inflight_messages 1000\n")
        broker.start()
        try:
            for r in range(ROUNDS):
                # Fresh timestamps each round, so no round is a replay of the last.
                t0 = time.time() - 86_400 + r * 3600
                payloads = _payloads(registry, messages, per_message, t0)
                raw.append(_raw_delivery(broker.url, topic, payloads, rows))
                ingest.append(_ingest_delivery(broker.url, registry, topic, payloads, rows))
        finally:
            broker.stop()
    return [Result(f"ingest end-to-end ({messages} msgs x {per_message} readings, QoS 1, "
                   "publish -> durable write)", "readings/s", statistics.median(ingest),
                   "mosquitto raw QoS 1 delivery of the same messages", statistics.median(raw))]
