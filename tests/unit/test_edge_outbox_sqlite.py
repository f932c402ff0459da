"""The on-disk outbox: nothing leaves it before the broker's PUBACK, it survives a
reopen (the agent killed and restarted), `seq` carries on, and its caps drop the oldest
telemetry first and never an event for telemetry, counting every drop on disk."""

from __future__ import annotations

import json
import sqlite3
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


def snap(ts: float, size: int) -> OutMessage:
    return OutMessage(f"gw/v1/a/snapshots/s{ts}", bytes([0xFF, 0xD8, int(ts) % 256]) * size,
                      "snapshots", ts, 1)


def test_snapshots_leave_between_events_and_telemetry_and_survive_a_kill(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = SqliteOutbox(path)
    box.put(msg("readings", 0.0, seq=1))
    box.put(snap(1.0, 1000))
    box.put(msg("health", 2.0))
    box.put(msg("events", 3.0, seq=1))
    box.put(snap(4.0, 2000))
    sent = drain(box)
    assert [(m.kind, m.ts) for m in sent] == [
        ("events", 3.0), ("snapshots", 1.0), ("snapshots", 4.0), ("readings", 0.0),
        ("health", 2.0),
    ]
    assert sent[1].payload == snap(1.0, 1000).payload and sent[1].seq == 0
    box.ack(sent[0])
    box.ack(sent[1])
    assert (box.last_seq("events"), box.last_seq("readings")) == (1, 1)
    box.close()  # kill -9: snapshot 4.0 was handed out but never acknowledged

    again = SqliteOutbox(path)
    assert (again.depth, again.bytes) == (3, 6000 + 16 + 16)
    resent = drain(again)
    assert [(m.kind, m.ts) for m in resent] == [
        ("snapshots", 4.0), ("readings", 0.0), ("health", 2.0)
    ]
    assert (resent[0].topic, resent[0].payload) == (sent[2].topic, sent[2].payload)
    assert again.last_seq("snapshots") == 0
    for m in resent:
        again.ack(m)
    assert (again.depth, again.bytes) == (0, 0)
    again.close()
    assert drain(SqliteOutbox(path)) == []


def test_the_snapshot_cap_drops_the_oldest_snapshot_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"

    def open_box() -> SqliteOutbox:
        return SqliteOutbox(path, max_bytes=32, event_max_bytes=32, snapshot_max_bytes=1000)

    box = open_box()
    box.put(msg("readings", 0.0))
    box.put(msg("events", 1.0))  # telemetry and events now fill their 32 bytes exactly
    for ts in (2.0, 3.0, 4.0):
        box.put(snap(ts, 150))  # 450 bytes each: the third is past 1000, so 2.0 goes
    assert (box.depth, box.dropped, box.dropped_snapshots, box.dropped_events) == (4, 1, 1, 0)
    assert box.bytes == 32 + 900
    inflight = box.pop()
    assert inflight is not None and inflight.kind == "events"
    box.put(snap(5.0, 150))  # past the cap again: 3.0 goes, the reading and event stay
    box.close()
    box = open_box()  # the counts are on disk, and so are the snapshot bytes
    assert (box.dropped, box.dropped_snapshots, box.dropped_events) == (2, 2, 0)
    box.put(snap(6.0, 150))  # 1350 bytes of snapshots after the reopen: 4.0 goes
    assert (box.dropped, box.dropped_snapshots, box.dropped_events) == (3, 3, 0)
    assert [(m.kind, m.ts) for m in drain(box)] == [
        ("events", 1.0), ("snapshots", 5.0), ("snapshots", 6.0), ("readings", 0.0)
    ]


def test_a_snapshot_in_flight_is_not_dropped_for_a_newer_one(tmp_path: Path) -> None:
    box = SqliteOutbox(tmp_path / "o.sqlite3", snapshot_max_bytes=2000)
    box.put(snap(0.0, 300))
    inflight = box.pop()
    assert inflight is not None
    box.put(snap(1.0, 300))
    assert box.dropped_snapshots == 0
    box.put(snap(2.0, 300))  # 2700 stored bytes: the oldest *waiting* one (1.0) goes
    assert box.dropped_snapshots == 1
    assert [m.ts for m in drain(box)] == [2.0]
    box.ack(inflight)
    assert box.bytes == 900
    box.put(snap(3.0, 300))  # the acknowledged one no longer counts: 1800 bytes, kept
    assert (box.dropped_snapshots, box.depth) == (1, 1)


# The outbox file as the agent wrote it before snapshots existed: the same DDL, rows of
# class 0 (events) and 1 (telemetry) only, and its counters.
PREVIOUS_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cls INTEGER NOT NULL,          -- 0 events, 1 telemetry: the order they leave in
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    ts REAL NOT NULL,
    items INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_cls ON outbox (cls, id);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def test_an_outbox_file_from_before_snapshots_opens_and_sends_in_order(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute("PRAGMA journal_mode=WAL")
        old.executescript(PREVIOUS_SCHEMA)
        old.executemany(
            "INSERT INTO outbox (cls, kind, topic, ts, items, seq, payload) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(1, "readings", "gw/v1/a/readings", 0.0, 1, 7, b"r" * 16),
             (0, "events", "gw/v1/a/events", 1.0, 1, 3, b"e" * 16),
             (1, "health", "gw/v1/a/health", 2.0, 0, 0, b"h" * 16)],
        )
        old.executemany("INSERT INTO counters VALUES (?, ?)",
                        [("seq:readings", 7), ("seq:events", 3), ("dropped", 5)])
    old.close()

    box = SqliteOutbox(path, max_bytes=48, snapshot_max_bytes=1000)
    assert (box.depth, box.bytes, box.dropped, box.dropped_snapshots) == (3, 48, 5, 0)
    assert (box.last_seq("readings"), box.last_seq("events")) == (7, 3)
    box.put(snap(3.0, 300))  # the telemetry cap is full, yet nothing gives way to it
    assert (box.depth, box.dropped) == (4, 5)
    assert [(m.kind, m.ts, m.seq) for m in drain(box)] == [
        ("events", 1.0, 3), ("snapshots", 3.0, 0), ("readings", 0.0, 7), ("health", 2.0, 0)
    ]
