"""The on-disk outbox: nothing leaves it before the broker's PUBACK, it survives a
reopen (the agent killed and restarted), `seq` carries on, and its caps drop the oldest
telemetry first and never an event for telemetry, counting every drop on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.outbox import Kind, OutMessage
from edge.outbox_sqlite import SqliteOutbox
from edge.publisher import Publisher
from gridwatch.clock import ManualClock
from gridwatch.mqtt import parse_mqtt_url
from gridwatch.records import Reading


def msg(kind: Kind, ts: float, size: int = 16, seq: int = 0) -> OutMessage:
    body = f"{kind}@{ts}".encode().ljust(size, b".")
    return OutMessage(f"gw/v1/a/{kind}", body, kind, ts, 1, seq)


def drain(box: SqliteOutbox) -> list[OutMessage]:
    out = []
    while (m := box.pop()) is not None:
        out.append(m)
    return out


def test_only_an_ack_removes_a_message_and_a_reopen_resends_the_rest_in_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = SqliteOutbox(path)
    kinds: list[Kind] = ["readings", "events", "health", "readings", "events"]
    for ts, kind in enumerate(kinds):
        box.put(msg(kind, float(ts), seq=ts + 1))
    sent = drain(box)
    assert [(m.kind, m.ts) for m in sent] == [
        ("events", 1.0), ("events", 4.0), ("readings", 0.0), ("health", 2.0), ("readings", 3.0)
    ]
    assert box.depth == 0  # all handed out, none acknowledged yet
    box.ack(sent[0])
    box.ack(sent[2])
    box.close()  # as good as kill -9: nothing more was written

    again = SqliteOutbox(path)
    resent = drain(again)
    assert [(m.kind, m.ts) for m in resent] == [("events", 4.0), ("health", 2.0), ("readings", 3.0)]
    assert [m.payload for m in resent] == [sent[1].payload, sent[3].payload, sent[4].payload]
    assert again.oldest_ts == 2.0
    for m in resent:
        again.ack(m)
    assert again.oldest_ts is None and (again.depth, again.bytes) == (0, 0)


def test_seq_carries_on_after_a_restart(tmp_path: Path) -> None:
    path, clock = tmp_path / "outbox.sqlite3", ManualClock()

    def publisher(box: SqliteOutbox) -> Publisher:
        return Publisher("a", parse_mqtt_url("mqtt://127.0.0.1:9"), clock=clock,
                         version="test", outbox=box)

    box = SqliteOutbox(path)
    pub = publisher(box)
    for i in range(3):
        pub.publish_readings([Reading("a", "d1", "co_ppm", clock() + i, 1.0)])
    box.close()
    box = SqliteOutbox(path)
    assert (box.last_seq("readings"), box.last_seq("events")) == (3, 0)
    publisher(box).publish_readings([Reading("a", "d1", "co_ppm", clock() + 9, 1.0)])
    assert [json.loads(m.payload)["seq"] for m in drain(box)] == [1, 2, 3, 4]


def test_over_the_byte_cap_the_oldest_telemetry_goes_and_events_stay(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = SqliteOutbox(path, max_bytes=80, event_max_bytes=200)
    kinds: list[Kind] = ["readings", "events", "readings", "health", "events", "readings", "events"]
    for ts, kind in enumerate(kinds):
        box.put(msg(kind, float(ts)))  # 16 bytes each: 112 against a cap of 80
    assert (box.depth, box.dropped, box.dropped_events, box.bytes) == (5, 2, 0, 80)
    box.close()
    box = SqliteOutbox(path, max_bytes=80, event_max_bytes=200)
    assert box.dropped == 2  # the count is on disk too
    assert [(m.kind, m.ts) for m in drain(box)] == [
        ("events", 1.0), ("events", 4.0), ("events", 6.0), ("health", 3.0), ("readings", 5.0)
    ]


def test_events_alone_may_pass_the_byte_cap_up_to_their_own_limit(tmp_path: Path) -> None:
    box = SqliteOutbox(tmp_path / "o.sqlite3", max_bytes=32, event_max_bytes=64)
    box.put(msg("readings", 0.0))
    for ts in range(1, 5):
        box.put(msg("events", float(ts)))
    assert (box.depth, box.dropped, box.dropped_events) == (4, 1, 0)
    box.put(msg("events", 5.0))  # 80 bytes of events against 64: the oldest event goes
    assert (box.dropped, box.dropped_events) == (2, 1)
    assert [m.ts for m in drain(box)] == [2.0, 3.0, 4.0, 5.0]


def test_telemetry_past_the_age_cap_goes_but_old_events_stay(tmp_path: Path) -> None:
    box = SqliteOutbox(tmp_path / "o.sqlite3", max_age_s=100.0)
    box.put(msg("readings", 0.0))
    box.put(msg("events", 1.0))
    box.put(msg("readings", 50.0))
    box.put(msg("readings", 120.0))  # now 120: the reading from 0 is too old
    assert box.dropped == 1
    assert [m.ts for m in drain(box)] == [1.0, 50.0, 120.0]


def test_messages_in_flight_are_not_dropped(tmp_path: Path) -> None:
    box = SqliteOutbox(tmp_path / "o.sqlite3", max_bytes=32)
    box.put(msg("readings", 0.0))
    box.put(msg("readings", 1.0))
    inflight = box.pop()
    assert inflight is not None and inflight.ts == 0.0
    box.put(msg("readings", 2.0))  # over the cap: the waiting 1.0 goes, not the one in flight
    assert box.dropped == 1
    assert [m.ts for m in drain(box)] == [2.0]


def test_nonsense_caps_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SqliteOutbox(tmp_path / "o.sqlite3", max_bytes=0)
    with pytest.raises(ValueError):
        SqliteOutbox(tmp_path / "o.sqlite3", max_bytes=10, event_max_bytes=5)
