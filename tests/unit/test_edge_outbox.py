"""The outbox policy (bounded, telemetry dropped before alarms, alarms sent first) and
how the publisher batches and numbers what it puts in it. Nothing here connects."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edge.outbox import Kind, MemoryOutbox, OutMessage
from edge.publisher import Publisher
from gridwatch.clock import ManualClock
from gridwatch.mqtt import MAX_ITEMS, MAX_PAYLOAD_BYTES, parse_mqtt_url
from gridwatch.records import DeviceEvent, Reading


def msg(kind: Kind, ts: float) -> OutMessage:
    return OutMessage(f"gw/v1/a/{kind}", f"{kind}@{ts}".encode(), kind, ts, 1)


def drain(box: MemoryOutbox) -> list[OutMessage]:
    out = []
    while (m := box.pop()) is not None:
        out.append(m)
    return out


def test_full_outbox_drops_the_oldest_telemetry_and_keeps_every_event() -> None:
    box = MemoryOutbox(capacity=5)
    kinds: list[Kind] = ["readings", "events", "readings", "health", "events", "readings", "events"]
    for ts, kind in enumerate(kinds):
        box.put(msg(kind, float(ts)))
    assert (box.depth, box.dropped, box.dropped_events) == (5, 2, 0)
    assert box.oldest_ts == 1.0  # readings@0 and readings@2 gave way
    sent = drain(box)
    # Events leave first, each class oldest first.
    assert [(m.kind, m.ts) for m in sent] == [
        ("events", 1.0),
        ("events", 4.0),
        ("events", 6.0),
        ("health", 3.0),
        ("readings", 5.0),
    ]
    assert box.depth == 0
    assert box.oldest_ts is None


def test_when_only_events_wait_new_telemetry_gives_way_and_events_still_get_in() -> None:
    box = MemoryOutbox(capacity=3, event_limit=4)
    for ts in range(3):
        box.put(msg("events", float(ts)))
    box.put(msg("readings", 10.0))
    assert (box.depth, box.dropped) == (3, 1)
    box.put(msg("events", 11.0))
    assert (box.depth, box.dropped, box.dropped_events) == (4, 1, 0)
    box.put(msg("events", 12.0))  # past the hard limit: the oldest event finally goes
    assert (box.depth, box.dropped, box.dropped_events) == (4, 2, 1)
    assert [m.ts for m in drain(box)] == [1.0, 2.0, 11.0, 12.0]


def test_outbox_refuses_nonsense_bounds() -> None:
    with pytest.raises(ValueError):
        MemoryOutbox(capacity=0)
    with pytest.raises(ValueError):
        MemoryOutbox(capacity=10, event_limit=5)


def make_publisher(box: MemoryOutbox, clock: ManualClock) -> Publisher:
    return Publisher(
        "wy1-edge", parse_mqtt_url("mqtt://127.0.0.1:9"), clock=clock, version="test", outbox=box
    )


def payloads(box: MemoryOutbox) -> list[tuple[str, dict[str, Any]]]:
    return [(m.topic, json.loads(m.payload)) for m in drain(box)]


def test_readings_are_split_at_the_item_limit_and_numbered_per_topic() -> None:
    box, clock = MemoryOutbox(), ManualClock()
    pub = make_publisher(box, clock)
    count = 2 * MAX_ITEMS + 5
    pub.publish_readings(
        [Reading("wy1-edge", f"d{i}", "co_ppm", clock(), 1.0) for i in range(count)]
    )
    pub.publish_events([DeviceEvent("wy1-edge", "e1", "d1", clock(), "fire.alarm", "start")])
    pub.publish_readings([Reading("wy1-edge", "d1", "co_ppm", clock() + 1, 2.0)])
    sent = payloads(box)
    assert sent[0] == (
        "gw/v1/wy1-edge/events",
        {
            "agent": "wy1-edge",
            "seq": 1,
            "events": [
                {
                    "id": "e1",
                    "device": "d1",
                    "ts": clock(),
                    "type": "fire.alarm",
                    "state": "start",
                    "zone": None,
                    "score": None,
                    "attrs": {},
                    "snapshot": None,
                }
            ],
        },
    )
    readings = [p for topic, p in sent if topic == "gw/v1/wy1-edge/readings"]
    assert [p["seq"] for p in readings] == [1, 2, 3, 4]
    assert [len(p["readings"]) for p in readings] == [MAX_ITEMS, MAX_ITEMS, 5, 1]
    assert readings[0]["readings"][0] == {
        "device": "d0",
        "metric": "co_ppm",
        "ts": clock(),
        "value": 1.0,
    }
    assert sorted(r["device"] for p in readings[:3] for r in p["readings"]) == sorted(
        f"d{i}" for i in range(count)
    )


def test_a_batch_over_one_mebibyte_is_halved_without_a_gap_in_seq() -> None:
    box, clock = MemoryOutbox(), ManualClock()
    pub = make_publisher(box, clock)
    long_id = "x" * 120  # ~170 bytes a reading: 8,000 of them are over 1 MiB
    pub.publish_readings(
        [Reading("wy1-edge", f"{long_id}{i}", "fps", clock(), 25.0) for i in range(8000)]
    )
    sent = [m for m in drain(box)]
    assert len(sent) >= 2 and all(len(m.payload) <= MAX_PAYLOAD_BYTES for m in sent)
    bodies = [json.loads(m.payload) for m in sent]
    assert [b["seq"] for b in bodies] == list(range(1, len(sent) + 1))
    assert sum(len(b["readings"]) for b in bodies) == 8000


def test_health_reports_the_buffer_as_it_stands() -> None:
    box, clock = MemoryOutbox(capacity=2), ManualClock()
    pub = make_publisher(box, clock)
    for i in range(3):
        clock.advance(1)
        pub.publish_readings([Reading("wy1-edge", "d1", "co_ppm", clock(), float(i))])
    pub.publish_health([{"device": "d1", "battery": 80, "rssi": -70, "fault": None}])
    health = [p for topic, p in payloads(box) if topic.endswith("/health")]
    assert health == [
        {
            "ts": clock(),
            "seq": 1,  # health carries a seq too, so receipts can cover it
            "devices": [{"device": "d1", "battery": 80, "rssi": -70, "fault": None}],
            "buffer": {"depth": 2, "dropped": 1, "oldest_ts": clock() - 1},
        }
    ]
    stats = pub.stats()
    assert (stats.messages, stats.dropped, stats.depth) == (0, 2, 0)


def snap(ts: float, size: int) -> OutMessage:
    return OutMessage(f"gw/v1/a/snapshots/s{ts}", bytes([int(ts) % 256]) * size, "snapshots",
                      ts, 1)


def test_snapshots_leave_after_the_events_and_before_the_telemetry() -> None:
    box = MemoryOutbox()
    box.put(msg("readings", 0.0))
    box.put(snap(1.0, 10))
    box.put(msg("health", 2.0))
    box.put(msg("events", 3.0))
    box.put(snap(4.0, 10))
    box.put(msg("events", 5.0))
    assert (box.depth, box.oldest_ts) == (6, 0.0)
    assert [(m.kind, m.ts) for m in drain(box)] == [
        ("events", 3.0), ("events", 5.0), ("snapshots", 1.0), ("snapshots", 4.0),
        ("readings", 0.0), ("health", 2.0),
    ]


def test_the_snapshot_cap_drops_the_oldest_snapshot_and_nothing_else() -> None:
    box = MemoryOutbox(capacity=3, snapshot_max_bytes=250)
    box.put(msg("readings", 0.0))
    box.put(msg("events", 1.0))
    for ts in (2.0, 3.0, 4.0):
        box.put(snap(ts, 100))  # the third is over 250 bytes of snapshots: 2.0 goes
    assert (box.depth, box.dropped, box.dropped_snapshots, box.dropped_events) == (4, 1, 1, 0)
    box.put(msg("readings", 5.0))  # snapshots are outside `capacity`: nothing gives way
    assert (box.depth, box.dropped) == (5, 1)
    box.put(msg("readings", 6.0))  # now telemetry and events are full: a reading goes
    assert (box.depth, box.dropped, box.dropped_snapshots) == (5, 2, 1)
    assert [(m.kind, m.ts) for m in drain(box)] == [
        ("events", 1.0), ("snapshots", 3.0), ("snapshots", 4.0), ("readings", 5.0),
        ("readings", 6.0),
    ]
    box.put(snap(6.0, 250))  # the popped ones no longer count against the cap
    assert (box.depth, box.dropped_snapshots) == (1, 1)
    box.put(snap(7.0, 300))  # alone over the cap: it cannot be kept either
    assert (box.depth, box.dropped_snapshots) == (0, 3)


def test_a_snapshot_is_queued_raw_without_seq_and_leaves_the_numbering_alone() -> None:
    box, clock = MemoryOutbox(), ManualClock()
    pub = make_publisher(box, clock)
    jpeg = b"\xff\xd8" + bytes(range(256)) * 40 + b"\xff\xd9"
    pub.publish_readings([Reading("wy1-edge", "d1", "co_ppm", clock(), 1.0)])
    assert pub.publish_snapshot("cam-1-ev-7", jpeg) is True
    pub.publish_events([DeviceEvent("wy1-edge", "ev-7", "cam-1", clock(), "camera.intrusion",
                                    "start", snapshot="cam-1-ev-7")])
    pub.publish_readings([Reading("wy1-edge", "d1", "co_ppm", clock() + 1, 2.0)])
    assert (box.last_seq("readings"), box.last_seq("events"), box.last_seq("snapshots")) == (
        2, 1, 0)
    sent = drain(box)
    assert [m.kind for m in sent] == ["events", "snapshots", "readings", "readings"]
    shot = sent[1]
    assert (shot.topic, shot.payload, shot.seq) == (
        "gw/v1/wy1-edge/snapshots/cam-1-ev-7", jpeg, 0)
    assert [json.loads(m.payload)["seq"] for m in sent if m.kind == "readings"] == [1, 2]


def test_a_snapshot_over_one_mebibyte_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    box = MemoryOutbox()
    pub = make_publisher(box, ManualClock())
    assert pub.publish_snapshot("big", b"\xff" * (MAX_PAYLOAD_BYTES + 1)) is False
    assert "over 1 MiB" in caplog.text
    assert box.depth == 0 and pub.snapshots_dropped == 0


@pytest.mark.parametrize("snap_id", ["../x", "a/b", ".hidden", ""])
def test_a_snapshot_id_the_backend_would_refuse_is_not_sent(
    caplog: pytest.LogCaptureFixture, snap_id: str
) -> None:
    box = MemoryOutbox()
    pub = make_publisher(box, ManualClock())
    assert pub.publish_snapshot(snap_id, b"\xff\xd8\xff\xd9") is False
    assert "never a path" in caplog.text and box.depth == 0


def test_dropped_snapshots_show_in_health_and_in_snapshots_dropped() -> None:
    box, clock = MemoryOutbox(snapshot_max_bytes=1000), ManualClock()
    pub = make_publisher(box, clock)
    for i in range(3):
        assert pub.publish_snapshot(f"s{i}", b"\xff" * 600)
    assert pub.snapshots_dropped == 2
    pub.publish_health([])
    health = [json.loads(m.payload) for m in drain(box) if m.kind == "health"]
    assert health[0]["buffer"] == {"depth": 1, "dropped": 2, "oldest_ts": clock()}
    assert pub.stats().dropped == 2
