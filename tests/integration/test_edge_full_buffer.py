"""The full-buffer policy against a real Mosquitto: an agent with a small on-disk cap
fills it while the broker is away; the oldest telemetry is dropped, every event is kept,
and the health topic's buffer field counts the drops."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest

from edge.adapters.replay import ReplayAdapter
from edge.agent import EdgeAgent
from edge.outbox_sqlite import SqliteOutbox
from tests.integration.test_edge_agent_mqtt import ROOT, recorder
from tests.support.edge_street import AGENT, small_registry
from tests.support.mosquitto import Broker

pytestmark = pytest.mark.integration

DEVICE = "wy1-b01-smk-0301"


def test_a_full_outbox_drops_the_oldest_telemetry_keeps_events_and_counts(
    tmp_path: Path, broker: Broker
) -> None:
    t0 = time.time()
    readings, events = tmp_path / "r.csv", tmp_path / "e.csv"
    with readings.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["device", "metric", "ts", "value"])
        w.writerows([DEVICE, "co_ppm", round(t0 + k / 40, 3), k] for k in range(120))
    with events.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["device", "type", "ts", "state", "id"])
        w.writerows([DEVICE, "fire.fault", round(t0 + k, 3), "instant", f"ev-{k}"]
                    for k in range(3))
    box = SqliteOutbox(tmp_path / "outbox.sqlite3", max_bytes=3000)
    replay = ReplayAdapter(AGENT, readings, events_csv=events, speed=1.0)
    agent = EdgeAgent(AGENT, small_registry(), broker.url, tick_s=0.05, health_interval_s=0.5,
                      outbox=box, adapters=[replay], simulators=False)
    with recorder(broker.url, "full-buffer", clean=False) as rec:
        broker.stop()
        agent.start()
        try:
            rec.wait_for("the recording to be read", lambda: replay.done, 10.0)
            time.sleep(0.2)  # one more tick hands the last rows to the outbox
            dropped = box.dropped
            assert dropped > 0, "the cap never bit"
            broker.start()

            def health_counts() -> list[int]:
                return [h["buffer"]["dropped"] for h in rec.payloads(f"{ROOT}/health")]

            rec.wait_for("health with the drops", lambda: dropped in health_counts(), 20.0)
            rec.wait_for("the backlog", lambda: box.depth == 0 and agent.stats().depth == 0)
        finally:
            agent.stop(timeout_s=2.0)

    sent = [e["id"] for p in rec.payloads(f"{ROOT}/events") for e in p["events"]]
    assert sorted(set(sent)) == ["ev-0", "ev-1", "ev-2"]  # no event was given up
    got = sorted({r["ts"] for p in rec.payloads(f"{ROOT}/readings") for r in p["readings"]})
    recorded = [round(t0 + k / 40, 3) for k in range(120)]
    assert got and len(got) < len(recorded)
    # What was dropped is the oldest: everything delivered is a contiguous newest tail.
    assert got == recorded[len(recorded) - len(got):]
    # Health reports kept coming (and filling the cap) during the outage: the counts
    # they carry only grow, and never pass the outbox's own.
    counts = health_counts()
    assert counts == sorted(counts) and counts[-1] <= box.dropped
