"""The agent's outbox: messages waiting for the broker, bounded, alarms first.

While the broker is unreachable the outbox fills. When it is full the oldest telemetry
(readings, health) makes room; an events message is never dropped for telemetry, and
events leave before any telemetry, so a backlog of readings cannot delay an alarm.
Camera snapshots (raw JPEGs, no `seq`) wait here too, between the two: after events,
so an image never delays an alarm, and before telemetry, so the picture an event names
follows it at once. They have a byte cap of their own; past it the oldest snapshot goes
(counted in `dropped` and `dropped_snapshots`), and a snapshot never makes an event or
telemetry give way, nor counts against their caps.
`Outbox` is the small interface the publisher needs, so that the on-disk store
(`edge.outbox_sqlite.SqliteOutbox`, the agent's default) can replace `MemoryOutbox`
without touching the publisher. A popped message is in flight until `ack` (the broker's
PUBACK); the memory outbox forgets it at `pop`, the on-disk one only at `ack`, so a
crash in between sends it again on restart.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal, Protocol

Kind = Literal["readings", "events", "health", "snapshots"]

SNAPSHOT_MAX_BYTES = 64 << 20  # the default byte cap of waiting snapshots


@dataclass(frozen=True, slots=True)
class OutMessage:
    topic: str
    payload: bytes
    kind: Kind
    ts: float  # when the agent made it
    items: int = 0  # readings or events it carries (a snapshot: 1)
    seq: int = 0  # its `seq` on its topic (0: health and snapshots, which carry none)
    key: int = 0  # the outbox's own handle, set by `pop` (the on-disk row id)


class Outbox(Protocol):
    """Not thread-safe: the publisher serialises every call."""

    def put(self, msg: OutMessage) -> None: ...

    def pop(self) -> OutMessage | None:
        """The next message to send: events first, then snapshots, then telemetry, each
        oldest first."""
        ...

    def ack(self, msg: OutMessage) -> None:
        """The broker has `msg` (a popped message): forget it for good."""
        ...

    def last_seq(self, kind: Kind) -> int:
        """The highest `seq` put for `kind`, so numbering carries on after a restart."""
        ...

    @property
    def depth(self) -> int: ...

    @property
    def dropped(self) -> int:
        """Messages of any kind thrown away by the caps."""
        ...

    @property
    def dropped_snapshots(self) -> int:
        """Snapshots thrown away by their own cap (also counted in `dropped`)."""
        ...

    @property
    def oldest_ts(self) -> float | None: ...


class MemoryOutbox:
    def __init__(
        self,
        capacity: int = 10_000,
        event_limit: int = 100_000,
        snapshot_max_bytes: int = SNAPSHOT_MAX_BYTES,
    ) -> None:
        """`capacity` bounds events and telemetry messages. Events may go past it, because
        losing an alarm is worse than the memory; `event_limit` still bounds them, and past
        it the oldest event goes (counted in `dropped_events`, which means the broker has
        been away for far longer than any incident lasts). Snapshots are outside
        `capacity`: `snapshot_max_bytes` bounds their JPEG bytes, past which the oldest
        snapshot goes (counted in `dropped_snapshots`)."""
        if capacity < 1 or event_limit < capacity or snapshot_max_bytes < 1:
            raise ValueError(
                "outbox needs capacity >= 1, event_limit >= capacity, snapshot_max_bytes >= 1"
            )
        self.capacity = capacity
        self.event_limit = event_limit
        self.snapshot_max_bytes = snapshot_max_bytes
        self._events: deque[OutMessage] = deque()
        self._snapshots: deque[OutMessage] = deque()
        self._telemetry: deque[OutMessage] = deque()
        self._snapshot_bytes = 0
        self._dropped = 0
        self.dropped_events = 0
        self._dropped_snapshots = 0
        self._seq: dict[Kind, int] = {}

    def put(self, msg: OutMessage) -> None:
        self._seq[msg.kind] = max(msg.seq, self._seq.get(msg.kind, 0))
        if msg.kind == "snapshots":
            self._put_snapshot(msg)
            return
        if len(self._events) + len(self._telemetry) >= self.capacity:
            if self._telemetry:
                self._telemetry.popleft()
                self._dropped += 1
            elif msg.kind != "events":
                self._dropped += 1  # only events are waiting: the new telemetry gives way
                return
        if msg.kind == "events":
            if len(self._events) >= self.event_limit:
                self._events.popleft()
                self._dropped += 1
                self.dropped_events += 1
            self._events.append(msg)
        else:
            self._telemetry.append(msg)

    def _put_snapshot(self, msg: OutMessage) -> None:
        self._snapshots.append(msg)
        self._snapshot_bytes += len(msg.payload)
        while self._snapshot_bytes > self.snapshot_max_bytes:
            gone = self._snapshots.popleft()
            self._snapshot_bytes -= len(gone.payload)
            self._dropped += 1
            self._dropped_snapshots += 1

    def pop(self) -> OutMessage | None:
        if self._events:
            return self._events.popleft()
        if self._snapshots:
            msg = self._snapshots.popleft()
            self._snapshot_bytes -= len(msg.payload)
            return msg
        if self._telemetry:
            return self._telemetry.popleft()
        return None

    def ack(self, msg: OutMessage) -> None:
        pass  # nothing kept: a memory outbox cannot outlive the process anyway

    def last_seq(self, kind: Kind) -> int:
        return self._seq.get(kind, 0)

    @property
    def depth(self) -> int:
        return len(self._events) + len(self._snapshots) + len(self._telemetry)

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def dropped_snapshots(self) -> int:
        return self._dropped_snapshots

    @property
    def oldest_ts(self) -> float | None:
        heads = [q[0].ts for q in (self._events, self._snapshots, self._telemetry) if q]
        return min(heads) if heads else None
