"""Stopping an agent keeps what its adapters heard last: it goes into the outbox."""

from __future__ import annotations

import json

from edge.adapters.base import DeviceHealth, Polled
from edge.agent import EdgeAgent
from edge.outbox import MemoryOutbox
from gridwatch.records import DeviceEvent
from tests.support.edge_street import AGENT, small_registry


class LateAdapter:
    """Hears one event while it is being stopped, as a camera finishing its last clip."""

    name = "late"

    def __init__(self, device: str) -> None:
        self.device = device
        self.pending: list[DeviceEvent] = []

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.pending.append(DeviceEvent(AGENT, "last-1", self.device, 1.0, "camera.intrusion",
                                        "instant"))

    def poll(self, now: float) -> Polled:
        events, self.pending = self.pending, []
        return Polled(events=events)

    def health(self, now: float) -> list[DeviceHealth]:
        return []


def test_an_event_heard_while_stopping_reaches_the_outbox() -> None:
    device = next(iter(small_registry().devices))
    outbox = MemoryOutbox()
    # Port 9 on loopback: nothing listens, so everything stays in the outbox.
    agent = EdgeAgent(AGENT, small_registry(), "mqtt://127.0.0.1:9", simulators=False,
                      outbox=outbox, adapters=[LateAdapter(device)], tick_s=0.05)
    agent.start()
    agent.stop(timeout_s=0.1)
    sent = []
    while (msg := outbox.pop()) is not None:
        if msg.kind == "events":
            sent += [e["id"] for e in json.loads(msg.payload)["events"]]
    assert sent == ["last-1"]
