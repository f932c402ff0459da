"""Camera snapshots through the agent's on-disk outbox, against a real Mosquitto: with the
broker away, a camera hands the agent a JPEG and then the event naming it (the order
`edge.adapters.camera` uses); when the broker is back, the JPEG arrives byte-identical,
exactly once, on `snapshots/{id}`, and the event arrives too. Before, the image was
dropped while the broker was away and only the event got through.
With `restart`, the agent is stopped during the outage and a new one is started on the
same outbox file, so the picture also has to survive on disk."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.adapters.base import DeviceHealth, Polled
from edge.agent import EdgeAgent
from edge.outbox_sqlite import SqliteOutbox
from gridwatch.records import DeviceEvent
from tests.integration.test_edge_agent_mqtt import ROOT, Recorder, recorder
from tests.support.edge_street import AGENT, small_registry
from tests.support.mosquitto import Broker

pytestmark = pytest.mark.integration

CAMERA = "wy1-b01-cam-0101"
SNAPSHOT = f"{CAMERA}-ev-1"


class StubCamera:
    """An adapter that behaves like `CameraAdapter` at its edge: `shoot` calls the
    snapshot sink (the wiring sets it to the publisher's `publish_snapshot`), then
    queues the event naming the snapshot for the agent's next poll."""

    name = "camera"

    def __init__(self) -> None:
        self.snapshot_sink: Callable[[str, bytes], object] = lambda _id, _jpeg: None
        self.sink_said: list[object] = []
        self._events: list[DeviceEvent] = []
        self._lock = threading.Lock()

    def shoot(self, event: DeviceEvent, jpeg: bytes) -> None:
        assert event.snapshot is not None
        self.sink_said.append(self.snapshot_sink(event.snapshot, jpeg))
        with self._lock:
            self._events.append(event)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def poll(self, now: float) -> Polled:
        with self._lock:
            events, self._events = self._events, []
        return Polled(events=events)

    def health(self, now: float) -> list[DeviceHealth]:
        return []


def start_agent(path: Path, url: str, camera: StubCamera) -> tuple[EdgeAgent, SqliteOutbox]:
    box = SqliteOutbox(path)
    # No backend here: the broker's PUBACK ends a message (receipts are tested elsewhere).
    agent = EdgeAgent(AGENT, small_registry(), url, tick_s=0.05, outbox=box,
                      adapters=[camera], simulators=False, receipts=False)
    camera.snapshot_sink = agent.publisher.publish_snapshot  # as edge.wiring does
    agent.start()
    return agent, box


def stored(path: Path) -> dict[str, int]:
    """Rows per kind in the outbox file (read beside the agent: WAL allows it)."""
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT kind, COUNT(*) FROM outbox GROUP BY kind").fetchall())


def snapshots(rec: Recorder) -> list[bytes]:
    return [p for t, p, _ in list(rec.messages) if t == f"{ROOT}/snapshots/{SNAPSHOT}"]


def event_ids(rec: Recorder) -> list[str]:
    return [e["id"] for p in rec.payloads(f"{ROOT}/events") for e in p["events"]]


@pytest.mark.parametrize("restart", [False, True], ids=["running", "restarted"])
def test_a_snapshot_taken_while_the_broker_is_away_arrives_once_with_its_event(
    tmp_path: Path, broker: Broker, restart: bool
) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + os.urandom(300_000) + b"\xff\xd9"
    event = DeviceEvent(AGENT, "ev-1", CAMERA, time.time(), "camera.intrusion", "start",
                        zone="yard", score=0.9, snapshot=SNAPSHOT)
    path = tmp_path / "outbox.sqlite3"
    camera = StubCamera()
    agent, box = start_agent(path, broker.url, camera)
    try:
        with recorder(broker.url, "snapshot-recorder", clean=False) as rec:
            rec.wait_for("the agent online", lambda: agent.publisher.connected)
            broker.stop()
            rec.wait_for("the agent to notice the outage", lambda: not agent.publisher.connected)
            camera.shoot(event, jpeg)
            rec.wait_for("both on disk", lambda: stored(path).get("events") == 1)
            assert camera.sink_said == [True]
            assert stored(path).get("snapshots") == 1 and box.bytes > len(jpeg)
            if restart:
                agent.stop(timeout_s=0.5)
                box.close()
                agent, box = start_agent(path, broker.url, camera)
            broker.start()
            rec.wait_for("the snapshot", lambda: bool(snapshots(rec)), 15.0)
            rec.wait_for("the event", lambda: "ev-1" in event_ids(rec), 5.0)
            rec.wait_for("the outbox to drain", lambda: box.bytes == 0 and box.depth == 0)
            time.sleep(0.5)  # room for a duplicate to show up
            assert snapshots(rec) == [jpeg]
            assert event_ids(rec) == ["ev-1"]
            stats = agent.stats()
            assert (stats.snapshots, stats.dropped, agent.publisher.snapshots_dropped) == (1, 0, 0)
    finally:
        agent.stop(timeout_s=1.0)
        box.close()
