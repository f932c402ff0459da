"""`gridwatch bench --only failover --ops postgresql`: kill -9 of a replica to the alarm
on the guard's board.

Two real `gridwatch serve` replicas share one PostgreSQL (`--ops postgresql`: a private
cluster; `--ops postgresql://...`: that database as given, so point it at an empty one)
and one real Mosquitto. A board
(an EventSource as a browser runs it: on a dropped stream it waits the server's `retry`
and reconnects with Last-Event-ID, here to the other replica as the proxy would) is on
replica A. Each round kills A with SIGKILL and at that instant a fire alarm is
published; the figure is the time from the kill to the alarm's event on the board.
The reference is the same alarm-to-board time with nothing killed, in the same run.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

from api.sse import RECONNECT_MS
from bench.kit import Result, arrival
from config.loader import DEFAULT_CONFIG_DIR, load_registry
from gridwatch.mqtt import make_client, parse_mqtt_url
from launchers.backend import BOOTSTRAP, BackendProcess
from launchers.mosquitto import running_broker

ROUNDS_FAILOVER = 10


class Board:
    """An EventSource over a list of replicas: reads alert events, and when a stream
    drops, waits `retry` and reconnects to the next replica with its last event id."""

    def __init__(self, bases: list[str]) -> None:
        self.bases = bases
        self.arrivals: dict[str, float] = {}  # device -> first firing event's arrival
        self.last_id: str | None = None
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        turn = 0
        while not self._stop.is_set():
            base = self.bases[turn % len(self.bases)]
            headers = {"Authorization": f"Bearer {BOOTSTRAP}", "Accept": "text/event-stream"}
            if self.last_id is not None:
                headers["Last-Event-ID"] = self.last_id
            with suppress(httpx.HTTPError):  # the replica died: reconnect, as a browser
                self._read(base, headers)
            self.connected.clear()
            turn += 1
            self._stop.wait(RECONNECT_MS / 1000)

    def _read(self, base: str, headers: dict[str, str]) -> None:
        timeout = httpx.Timeout(2, read=30)
        with httpx.stream("GET", f"{base}/api/v1/alerts/stream", headers=headers,
                          timeout=timeout) as r:
            data = ""
            for line in r.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("id:"):
                    self.last_id = line[3:].strip()
                    self.connected.set()
                elif line.startswith("data:"):
                    data += line[5:].strip()
                elif line == "" and data:
                    alert = json.loads(data)
                    if alert["status"] == "firing":
                        self.arrivals.setdefault(alert["device"], time.time())
                    data = ""

    def wait_for(self, device: str, timeout: float) -> float | None:
        return arrival(self.arrivals, device, timeout)

    def close(self) -> None:
        self._stop.set()


class Panel:
    """Publishes fire alarms as the device's edge agent would (QoS 1, PUBACK awaited)."""

    def __init__(self, mqtt_url: str) -> None:
        self.client = make_client(parse_mqtt_url(mqtt_url), "bench-failover-panel")
        target = parse_mqtt_url(mqtt_url)
        self.client.connect(target.host, target.port)
        self.client.loop_start()
        self.seq = 0

    def alarm(self, agent: str, device: str) -> float:
        self.seq += 1
        at = time.time()
        event: dict[str, Any] = {"id": f"bench-{self.seq}", "device": device, "ts": at,
                                 "type": "fire.alarm", "state": "start", "zone": None,
                                 "score": None, "attrs": {}, "snapshot": None}
        body = {"agent": agent, "seq": self.seq, "events": [event]}
        self.client.publish(f"gw/v1/{agent}/events", json.dumps(body), qos=1).wait_for_publish(10)
        return at

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def _postgres(ops: str) -> Iterator[str]:
    if ops == "postgresql":
        from launchers.postgres import running_postgres

        with running_postgres(fsync=True) as cluster:
            yield cluster.url
    else:
        yield ops


def run(quick: bool, ops: str | None = None) -> list[Result]:
    if ops is None or ops == "embedded":
        print("failover: skipped: needs --ops postgresql (replicas share PostgreSQL)")
        return []
    registry = load_registry(DEFAULT_CONFIG_DIR)
    detectors = [d for d in registry.config.devices if d.type == "smoke_detector"]
    rounds = 3 if quick else ROUNDS_FAILOVER
    failover: list[float] = []
    steady: list[float] = []
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gw-bench-ha-")))
        broker = stack.enter_context(running_broker(root / "broker"))
        url = stack.enter_context(_postgres(ops))
        a = BackendProcess(root / "a", broker.url, None, ops_url=url, client_id="bench-a")
        b = BackendProcess(root / "b", broker.url, None, ops_url=url, client_id="bench-b")
        for replica in (a, b):
            replica.start(timeout=60)
            stack.callback(replica.stop)
        panel = Panel(broker.url)
        stack.callback(panel.close)
        devices = iter(detectors)
        for _ in range(rounds):
            board = Board([a.base, b.base])
            try:
                board.connected.wait(10)
                steady_device = next(devices)
                sent = panel.alarm(steady_device.agent, steady_device.id)
                seen = board.wait_for(steady_device.id, 10)
                if seen is not None:
                    steady.append(seen - sent)
                device = next(devices)
                killed = time.time()
                a.kill()
                panel.alarm(device.agent, device.id)
                seen = board.wait_for(device.id, 15)
                if seen is not None:
                    failover.append(seen - killed)
            finally:
                board.close()
            a.start(timeout=60)  # back for the next round (it catches up meanwhile)
    if not failover or not steady:
        print("failover: no alarm reached the board; see the replicas' logs")
        return []
    return [Result(
        f"kill -9 of the board's replica -> fire alarm on the board, median of {len(failover)}",
        "ms", statistics.median(failover) * 1000,
        "fire alarm -> board with both replicas up, same run", statistics.median(steady) * 1000,
    )]
