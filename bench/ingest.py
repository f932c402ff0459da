"""The ingest benchmark, measured from outside: the real `gridwatch serve` process
(detectors and dispatch on) behind a real Mosquitto, fed by a publisher in a process
of its own.

- Throughput: readings/s from the first publish until serve's receipt (contract
  section 3: published once a batch is durably written) covers the last message's
  `seq`, at 100 and at 500 readings per message, checked against serve's
  `gridwatch_readings_written_total`; the reference is a plain paho subscriber with
  manual acks receiving the same messages from the same publisher, in the same run.
- Alarm latency: fire-panel events at 1/s, event publish to the alert on an SSE stream,
  idle and while readings are offered at twice the throughput just measured.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt

from bench.kit import ROUNDS, Result
from config.loader import DEFAULT_CONFIG_DIR, load_registry
from config.registry import Registry
from gridwatch.mqtt import make_client, parse_mqtt_url
from launchers.backend import BOOTSTRAP, BackendProcess, running_backend
from launchers.mosquitto import Broker

WRITTEN = "gridwatch_readings_written_total"
EVALUATED = "gridwatch_detector_evaluation_seconds_count"  # one per engine hold


def _payloads(registry: Registry, agent: str, messages: int, per_message: int,
              t0: float, seq0: int) -> list[bytes]:
    """`seq` runs on from `seq0`: an agent's `seq` only grows, and the receipts that
    time a round are read off it."""
    devices = [d.id for d in registry.devices_of_agent(agent)]
    out = []
    for m in range(messages):
        rows = []
        for k in range(per_message):
            i = m * per_message + k
            # Unique (device, metric, ts) per row, so every row is a new durable write.
            rows.append({"device": devices[i % len(devices)], "metric": "battery_pct",
                         "ts": round(t0 + i / 1000.0, 3), "value": float(50 + i % 50)})
        out.append(json.dumps({"agent": agent, "seq": seq0 + m, "readings": rows}).encode())
    return out


def _publisher(url: str, topic: str, payloads: list[bytes], per_s: float, ready: Any,
               go: Any) -> None:
    """In its own process: connect, say ready, and on `go` publish at QoS 1 (paced at
    `per_s` messages/s if > 0), so process start-up is not part of what is timed."""
    target = parse_mqtt_url(url)
    client = make_client(target, f"bench-pub-{os.getpid()}-{time.monotonic_ns()}")
    client.max_inflight_messages_set(1000)
    client.connect(target.host, target.port)
    client.loop_start()
    ready.set()
    go.wait(60)
    start = time.monotonic()
    infos = []
    for i, p in enumerate(payloads):
        if per_s > 0:
            lag = start + i / per_s - time.monotonic()
            if lag > 0:
                time.sleep(lag)
        infos.append(client.publish(topic, p, qos=1))
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


class _Publisher:
    """A publisher process, connected and waiting; `go()` starts it."""

    def __init__(self, url: str, topic: str, payloads: list[bytes], per_s: float = 0.0) -> None:
        ctx = mp.get_context("spawn")
        self._ready, self._go = ctx.Event(), ctx.Event()
        self.proc: BaseProcess = ctx.Process(
            target=_publisher, args=(url, topic, payloads, per_s, self._ready, self._go))
        self.proc.start()
        if not self._ready.wait(60):
            raise RuntimeError("the publisher process did not connect within 60 s")

    def go(self) -> None:
        self._go.set()

    def join(self, timeout: float) -> None:
        self.proc.join(timeout)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.join(10)


def _raw_delivery(url: str, topic: str, payloads: list[bytes], rows: int) -> float:
    """Readings/s a plain paho subscriber with manual acks receives."""
    target = parse_mqtt_url(url)
    got = threading.Event()
    count = [0]

    def on_message(c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        c.ack(m.mid, m.qos)
        count[0] += 1
        if count[0] == len(payloads):
            got.set()

    sub = make_client(target, f"bench-sub-{time.monotonic_ns()}", manual_ack=True)
    sub.on_message = on_message
    sub.connect(target.host, target.port)
    sub.subscribe(topic, 1)
    sub.loop_start()
    pub = _Publisher(url, topic, payloads)
    start = time.perf_counter()
    pub.go()
    got.wait(300)
    elapsed = time.perf_counter() - start
    pub.join(60)
    sub.disconnect()
    sub.loop_stop()
    return rows / elapsed


class Metrics:
    """serve's /metrics, read over one kept-alive connection: `httpx.get` builds a client
    (and its TLS context) per call, about 40 ms of CPU each. The rounds are timed by
    receipts (ReceiptWatch); this reads the written-readings count around them."""

    def __init__(self, serve: BackendProcess) -> None:
        self._client = httpx.Client(base_url=serve.base, timeout=10)

    def __enter__(self) -> Metrics:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._client.close()

    def value(self, name: str, label: str = "") -> float:
        """The sum of a metric's samples, or of those whose labels contain `label`."""
        text = self._client.get("/metrics").text
        return sum(float(line.split()[-1]) for line in text.splitlines()
                   if line.split("{")[0].split(" ")[0] == name and label in line)


class ReceiptWatch:
    """The highest readings `seq` serve's receipts to one agent have covered. A receipt
    goes out once a batch is durably written (what the agent itself waits for), so a
    round ends on an event, as the raw reference's does. Polling `/metrics` every
    20 ms instead took a fifth of serve's CPU samples during a round (py-spy), which
    the reference did not pay."""

    def __init__(self, url: str, agent: str) -> None:
        target = parse_mqtt_url(url)
        self._covered = -1
        self._changed = threading.Condition()
        self._client = make_client(target, f"bench-receipts-{time.monotonic_ns()}")
        self._client.on_message = self._on_message
        self._client.connect(target.host, target.port)
        self._client.subscribe(f"gw/v1/{agent}/receipts", 1)
        self._client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        readings = int(json.loads(m.payload).get("readings", -1))
        with self._changed:
            self._covered = max(self._covered, readings)
            self._changed.notify_all()

    def wait_for(self, seq: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._covered >= seq, timeout)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _ingest_delivery(serve: Metrics, receipts: ReceiptWatch, url: str, topic: str,
                     payloads: list[bytes], rows: int, last_seq: int) -> float:
    before = serve.value(WRITTEN)
    pub = _Publisher(url, topic, payloads)
    start = time.perf_counter()
    pub.go()
    if not receipts.wait_for(last_seq, 600):
        raise RuntimeError(f"no receipt covered seq {last_seq} within 600 s")
    elapsed = time.perf_counter() - start
    pub.join(60)
    written = serve.value(WRITTEN) - before
    if written < rows:
        raise RuntimeError(f"the receipt covered seq {last_seq} with {written:.0f} of {rows}"
                           " readings counted written")
    return rows / elapsed


def settle(serve: BackendProcess, quiet_s: float = 1.0, limit_s: float = 300.0) -> None:
    """Wait until serve has evaluated what it stored: readings are acknowledged once
    written, and the detectors can run on well after the last write. An "idle" figure
    taken before this would be measured behind that backlog."""
    last, quiet_since, deadline = -1.0, time.monotonic(), time.monotonic() + limit_s
    with Metrics(serve) as metrics:
        while time.monotonic() < deadline:
            now = metrics.value(EVALUATED, 'input="readings"')
            if now != last:
                last, quiet_since = now, time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                return
            time.sleep(0.1)


class AlertStream:
    """The operations centre's SSE stream: when each alert first arrived, by device."""

    def __init__(self, base: str) -> None:
        self.first_seen: dict[str, float] = {}
        # Every alert event as it came: (arrival, device, status), for a storm's count.
        self.events: list[tuple[float, str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(base,), daemon=True)
        self._thread.start()
        time.sleep(0.5)

    def _run(self, base: str) -> None:
        headers = {"Authorization": f"Bearer {BOOTSTRAP}", "Accept": "text/event-stream"}
        try:
            with httpx.stream("GET", f"{base}/api/v1/alerts/stream", headers=headers,
                              timeout=httpx.Timeout(10, read=None)) as r:
                for line in r.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("data:"):
                        alert = json.loads(line[5:])
                        now = time.time()
                        self.events.append((now, alert["device"], alert["status"]))
                        if alert["status"] == "firing":
                            self.first_seen.setdefault(alert["device"], now)
        except httpx.HTTPError:
            return  # serve stopped under the stream: the figures are taken by then

    def close(self) -> None:
        self._stop.set()


def _alarm_latencies(url: str, stream: AlertStream, panels: list[tuple[str, str]]
                     ) -> tuple[list[float], int]:
    """One fire alarm a second from each panel in turn: (latencies, alarms lost)."""
    target = parse_mqtt_url(url)
    pub = make_client(target, f"bench-panel-{time.monotonic_ns()}")
    pub.connect(target.host, target.port)
    pub.loop_start()
    sent: dict[str, float] = {}
    for n, (device, agent) in enumerate(panels):
        event = {"id": f"bench-{device}-{time.time_ns()}", "device": device, "ts": time.time(),
                 "type": "fire.alarm", "state": "start", "attrs": {}}
        sent[device] = time.time()
        pub.publish(f"gw/v1/{agent}/events",
                    json.dumps({"agent": agent, "seq": n, "events": [event]}), qos=1)
        time.sleep(1.0)
    deadline = time.time() + 30
    while time.time() < deadline and any(d not in stream.first_seen for d in sent):
        time.sleep(0.05)
    pub.disconnect()
    pub.loop_stop()
    latencies = [stream.first_seen[d] - t for d, t in sent.items() if d in stream.first_seen]
    return latencies, len(sent) - len(latencies)


def _p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextmanager
def serve_behind_mosquitto(tmp: Path, config: Path | None = None
                           ) -> Iterator[tuple[Broker, BackendProcess]]:
    broker = Broker(tmp / "broker", "max_inflight_messages 1000\n")
    broker.start()
    try:
        with running_backend(tmp / "data", broker.url,
                             None if config is None else str(config)) as serve:
            yield broker, serve
    finally:
        broker.stop()


def run(quick: bool) -> list[Result]:
    registry = load_registry(DEFAULT_CONFIG_DIR)
    panels = sorted((d.id, d.agent) for d in registry.config.devices if d.type == "fire_panel")
    load_agent = sorted(registry.agents)[0]
    topic = f"gw/v1/{load_agent}/readings"
    rows = 20_000 if quick else 200_000
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="gw-bench-ingest-") as tmp_name:
        tmp = Path(tmp_name)
        with serve_behind_mosquitto(tmp) as (broker, serve):
            capacity = 0.0
            seq = 0
            receipts = ReceiptWatch(broker.url, load_agent)
            for per_message in (100, 500):
                messages = rows // per_message
                ingest, raw = [], []
                for r in range(ROUNDS):
                    t0 = time.time() - 86_400 + r * 3600 + per_message * 10
                    payloads = _payloads(registry, load_agent, messages, per_message, t0, seq)
                    seq += messages
                    # A topic serve does not read: the reference must not feed it.
                    raw.append(_raw_delivery(broker.url, "bench/raw", payloads, rows))
                    with Metrics(serve) as metrics:
                        ingest.append(_ingest_delivery(
                            metrics, receipts, broker.url, topic, payloads, rows, seq - 1))
                if per_message == 100:
                    capacity = statistics.median(ingest)
                results.append(Result(
                    f"ingest through serve ({messages} msgs x {per_message} readings, QoS 1, "
                    "publish -> durable write, detectors and dispatch on)", "readings/s",
                    statistics.median(ingest),
                    "plain paho subscriber, manual acks, same messages", statistics.median(raw)))
            settle(serve)
            stream = AlertStream(serve.base)
            idle_panels, load_panels = panels[: len(panels) // 3], panels[len(panels) // 3:]
            idle, idle_lost = _alarm_latencies(broker.url, stream, idle_panels)
            # Readings offered at twice the measured capacity, for as long as the alarms run.
            per_s = 2 * capacity / 100
            seconds = len(load_panels) + 2
            t0 = time.time() - 7_200
            receipts.close()
            payloads = _payloads(registry, load_agent, int(per_s * seconds), 100, t0, seq)
            load = _Publisher(broker.url, topic, payloads, per_s)
            load.go()
            loaded, lost = _alarm_latencies(broker.url, stream, load_panels)
            load.stop()
            stream.close()
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        results.append(Result(
            f"alarm event -> SSE {name} with readings offered at 2x ingest capacity "
            f"({len(loaded)} of {len(load_panels)} alarms arrived; {lost} lost)", "s",
            _p(loaded, q), f"idle {name} ({len(idle)} alarms, {idle_lost} lost)", _p(idle, q)))
    return results
