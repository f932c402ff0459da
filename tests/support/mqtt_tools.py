"""Publishing and SSE reading for end-to-end tests: the outside view of gridwatch."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from gridwatch.mqtt import make_client, parse_mqtt_url


class TestPublisher:
    """QoS 1 publisher that waits for each PUBACK, like an edge agent."""

    __test__ = False

    def __init__(self, url: str, client_id: str = "test-publisher") -> None:
        target = parse_mqtt_url(url)
        self.client = make_client(target, client_id)
        self.client.connect(target.host, target.port)
        self.client.loop_start()

    def publish(self, topic: str, payload: Any, timeout: float = 10) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        info = self.client.publish(topic, body, qos=1)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise TimeoutError(f"no PUBACK for {topic} within {timeout} s")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def readings_msg(agent: str, seq: int, rows: list[tuple[str, str, float, float]]) -> dict[str, Any]:
    return {"agent": agent, "seq": seq,
            "readings": [{"device": d, "metric": m, "ts": t, "value": v} for d, m, t, v in rows]}


class SseCollector:
    """Reads an SSE stream in a thread; records each alert event and when it arrived."""

    def __init__(self, base: str, token: str, path: str = "/api/v1/alerts/stream",
                 last_event_id: str | None = None) -> None:
        self.events: list[tuple[float, str, dict[str, Any]]] = []  # (arrival, id, alert)
        self.status: int | None = None
        self.last_id: str | None = None  # what a browser would send as Last-Event-ID
        self._stop = threading.Event()
        self._ready = threading.Event()
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self._thread = threading.Thread(target=self._run, args=(base + path, headers),
                                        daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(5, read=60)) as r:
                self.status = r.status_code
                self._ready.set()
                event_id, data = "", ""
                for line in r.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("id:"):
                        event_id = line[3:].strip()
                        self.last_id = event_id  # as EventSource keeps it, data or not
                    elif line.startswith("data:"):
                        data += line[5:].strip()
                    elif line == "" and data:
                        self.events.append((time.time(), event_id, json.loads(data)))
                        event_id, data = "", ""
        except httpx.HTTPError:
            pass
        finally:
            self._ready.set()

    def wait_for(self, pred: Any, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _, _, alert in self.events:
                if pred(alert):
                    return alert
            time.sleep(0.02)
        return None

    def close(self) -> None:
        self._stop.set()


