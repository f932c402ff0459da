"""The agent's on-disk outbox (its default): SQLite in WAL mode, one file per agent.

A message stays in the file until the broker's PUBACK (`ack`), so whatever was put and
not acknowledged when the agent died (kill -9, power cut) is sent again at the next
start, in the order it was put. `seq` per topic is stored in the same transaction as the
message, so numbering carries on from where it stopped instead of restarting at 1.

synchronous=FULL: WAL with NORMAL already survives a killed process, but not a power
cut, and a guard-room PC does lose power; an alarm the agent has accepted must still be
there afterwards. Puts come once per tick in batches, so the fsync costs little there.
Acks commit with NORMAL instead: losing one to a power cut only sends that message again
(harmless: ingest is idempotent), and an fsync per PUBACK would cap replay after an
outage at the disk's fsync rate. The next FULL commit syncs the WAL, acks included.

Policy when full (the same as `MemoryOutbox`, counted in `dropped` and persisted):
- over `max_bytes` (payload bytes waiting, snapshots not counted), the oldest telemetry
  (readings, health) goes first; events are never dropped for telemetry;
- telemetry older than `max_age_s` goes (a week-old temperature helps nobody);
- events alone may exceed `max_bytes`, up to `event_max_bytes`, past which the oldest
  event goes (counted in `dropped_events` too: the uplink has been gone for far longer
  than any incident lasts);
- camera snapshots (JPEG BLOBs, class 2, sent after events and before telemetry) have a
  cap of their own, `snapshot_max_bytes`, past which the oldest snapshot goes (counted
  in `dropped_snapshots` too); they are never dropped for age, like the events naming
  them, and never make an event or telemetry give way.
Only messages not yet handed to paho are dropped: one in flight may already be delivered.

The file has no schema version: snapshots took a new `cls` value (2) rather than a new
column or a renumbering, so a file written before snapshots opens unchanged (its rows
keep their 0 and 1) and the table is created by the same statement as before.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import cast

from edge.outbox import SNAPSHOT_MAX_BYTES, Kind, OutMessage

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cls INTEGER NOT NULL,          -- 0 events, 1 telemetry, 2 snapshots (see SEND_ORDER)
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

EVENTS, TELEMETRY, SNAPSHOTS = 0, 1, 2
SEND_ORDER = (EVENTS, SNAPSHOTS, TELEMETRY)


def _cls(kind: Kind) -> int:
    if kind == "events":
        return EVENTS
    return SNAPSHOTS if kind == "snapshots" else TELEMETRY


class SqliteOutbox:
    """Not thread-safe, like every outbox: the publisher serialises the calls (from its
    ticker, sender and paho threads, hence check_same_thread=False)."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 256 << 20,
        max_age_s: float = 7 * 86_400.0,
        event_max_bytes: int | None = None,
        snapshot_max_bytes: int = SNAPSHOT_MAX_BYTES,
    ) -> None:
        event_cap = event_max_bytes if event_max_bytes is not None else 4 * max_bytes
        if max_bytes < 1 or max_age_s <= 0 or event_cap < max_bytes or snapshot_max_bytes < 1:
            raise ValueError("outbox needs max_bytes >= 1, max_age_s > 0, event cap >= "
                             "max_bytes, snapshot_max_bytes >= 1")
        self.path = path
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.event_max_bytes = event_cap
        self.snapshot_max_bytes = snapshot_max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we open transactions ourselves, one per put or ack.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        # Rows up to these ids were handed out in this process; after a restart none were,
        # so everything in the file is sent again.
        self._cursor = dict.fromkeys(SEND_ORDER, 0)
        self._bytes = self._scalar("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM outbox")
        self._event_bytes, self._snapshot_bytes = (self._scalar(
            "SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM outbox WHERE cls = ?", (cls,)
        ) for cls in (EVENTS, SNAPSHOTS))

    def close(self) -> None:
        self._db.close()

    # -- the Outbox interface --------------------------------------------------------

    def put(self, msg: OutMessage) -> None:
        size = len(msg.payload)
        self._db.execute("PRAGMA synchronous=FULL")
        with self._tx():
            self._db.execute(
                "INSERT INTO outbox (cls, kind, topic, ts, items, seq, payload) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_cls(msg.kind), msg.kind, msg.topic, msg.ts, msg.items, msg.seq, msg.payload),
            )
            if msg.seq:
                self._db.execute(
                    "INSERT INTO counters VALUES (?, ?) ON CONFLICT (name) DO UPDATE "
                    "SET value = MAX(value, excluded.value)",
                    (f"seq:{msg.kind}", msg.seq),
                )
            self._bytes += size
            if msg.kind == "events":
                self._event_bytes += size
            elif msg.kind == "snapshots":
                self._snapshot_bytes += size
            self._enforce_caps(msg.ts)

    def pop(self) -> OutMessage | None:
        for cls in SEND_ORDER:
            row = self._db.execute(
                "SELECT id, kind, topic, ts, items, seq, payload FROM outbox "
                "WHERE cls = ? AND id > ? ORDER BY id LIMIT 1",
                (cls, self._cursor[cls]),
            ).fetchone()
            if row is not None:
                key, kind, topic, ts, items, seq, payload = row
                self._cursor[cls] = key
                return OutMessage(topic, bytes(payload), cast(Kind, kind), ts, items, seq, key)
        return None

    def ack(self, msg: OutMessage) -> None:
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._tx():
            gone = self._db.execute("DELETE FROM outbox WHERE id = ?", (msg.key,)).rowcount
        if gone:
            size = len(msg.payload)
            self._bytes -= size
            if msg.kind == "events":
                self._event_bytes -= size
            elif msg.kind == "snapshots":
                self._snapshot_bytes -= size

    def last_seq(self, kind: Kind) -> int:
        return self._counter(f"seq:{kind}")

    @property
    def depth(self) -> int:
        """Messages waiting to be handed out (those in flight are the publisher's)."""
        return self._scalar(
            "SELECT (SELECT COUNT(*) FROM outbox WHERE cls = 0 AND id > ?)"
            " + (SELECT COUNT(*) FROM outbox WHERE cls = 1 AND id > ?)"
            " + (SELECT COUNT(*) FROM outbox WHERE cls = 2 AND id > ?)",
            (self._cursor[EVENTS], self._cursor[TELEMETRY], self._cursor[SNAPSHOTS]),
        )

    @property
    def dropped(self) -> int:
        return self._counter("dropped")

    @property
    def dropped_events(self) -> int:
        return self._counter("dropped_events")

    @property
    def dropped_snapshots(self) -> int:
        return self._counter("dropped_snapshots")

    @property
    def oldest_ts(self) -> float | None:
        row = self._db.execute("SELECT MIN(ts) FROM outbox").fetchone()
        return None if row[0] is None else float(row[0])

    @property
    def bytes(self) -> int:
        """Payload bytes stored, in flight included."""
        return self._bytes

    # -- the caps --------------------------------------------------------------------

    def _enforce_caps(self, now: float) -> None:
        waiting = "id > ? AND cls = ?"
        tcur, ecur = self._cursor[TELEMETRY], self._cursor[EVENTS]
        self._drop(f"{waiting} AND ts < ?", (tcur, TELEMETRY, now - self.max_age_s))
        # Snapshots have their own cap below: they never count against this one.
        if (unsnapped := self._bytes - self._snapshot_bytes) > self.max_bytes:
            self._drop_oldest(TELEMETRY, tcur, unsnapped - self.max_bytes)
        if self._event_bytes > self.event_max_bytes:
            freed = self._drop_oldest(EVENTS, ecur, self._event_bytes - self.event_max_bytes)
            if freed:
                self._bump("dropped_events", freed)
        if self._snapshot_bytes > self.snapshot_max_bytes:
            scur = self._cursor[SNAPSHOTS]
            excess = self._snapshot_bytes - self.snapshot_max_bytes
            freed = self._drop_oldest(SNAPSHOTS, scur, excess)
            if freed:
                self._bump("dropped_snapshots", freed)

    def _drop_oldest(self, cls: int, cursor: int, excess: int) -> int:
        """Drop the oldest waiting messages of `cls` until `excess` bytes are freed."""
        freed, last = 0, None
        rows = self._db.execute(
            "SELECT id, LENGTH(payload) FROM outbox WHERE cls = ? AND id > ? ORDER BY id",
            (cls, cursor),
        )
        for key, size in rows:
            freed, last = freed + size, key
            if freed >= excess:
                break
        if last is None:
            return 0
        return self._drop("id > ? AND cls = ? AND id <= ?", (cursor, cls, last))

    def _drop(self, where: str, args: tuple[float, ...]) -> int:
        size, count, events, snapshots = self._db.execute(
            "SELECT COALESCE(SUM(LENGTH(payload)), 0), COUNT(*), "
            "COALESCE(SUM(LENGTH(payload) * (cls = 0)), 0), "
            f"COALESCE(SUM(LENGTH(payload) * (cls = 2)), 0) FROM outbox WHERE {where}",
            args,
        ).fetchone()
        if count:
            self._db.execute(f"DELETE FROM outbox WHERE {where}", args)
            self._bytes -= size
            self._event_bytes -= events
            self._snapshot_bytes -= snapshots
            self._bump("dropped", count)
        return int(count)

    # -- small helpers ---------------------------------------------------------------

    def _bump(self, name: str, by: int) -> None:
        self._db.execute(
            "INSERT INTO counters VALUES (?, ?) ON CONFLICT (name) DO UPDATE "
            "SET value = value + excluded.value",
            (name, by),
        )

    def _counter(self, name: str) -> int:
        return self._scalar("SELECT COALESCE(MAX(value), 0) FROM counters WHERE name = ?", (name,))

    def _scalar(self, sql: str, args: tuple[object, ...] = ()) -> int:
        return int(self._db.execute(sql, args).fetchone()[0])

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on an exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
