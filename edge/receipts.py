"""Messages the broker has acknowledged and the backend has not yet receipted.

A broker's PUBACK is not a durable write: Mosquitto writes its queues to disk only every
`autosave_interval`, so a broker crash can lose what it acknowledged (issue 17). The
backend publishes receipts (`gw/v1/{agent}/receipts`, contract section 3) once it has
stored a message; until one covers a message, the agent keeps it. This book holds such
messages between the PUBACK and the receipt, and says when to send them again:

- at a reconnect, all of them (the broker may have restarted empty);
- when the receipt marks have not moved for `timeout_s` (a message lost while the link
  stayed up), all of that topic's, after which the wait doubles up to `max_timeout_s`
  so that a backend down for an hour does not get its backlog sent forty times; a
  receipt that moves resets it. While the backend is merely behind, its receipts keep
  moving and nothing is sent twice.
Resends go events first. The book is bounded by `max_bytes` of payload: past it the
oldest telemetry is let go unreceipted (counted in `forgotten`), events only when
nothing else is left, as the outbox caps do. A message is forgotten for good through
the outbox's `ack` (the on-disk outbox keeps its row until then, so a message waiting
for its receipt is sent again after an agent restart too).
Not thread-safe: the publisher calls it under its lock.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from edge.outbox import Kind, OutMessage

log = logging.getLogger(__name__)
RECEIPTED: tuple[Kind, ...] = ("readings", "events", "health")  # kinds that carry a seq
TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 900.0
MAX_BYTES = 64 << 20


def takes_receipt(msg: OutMessage) -> bool:
    return msg.kind in RECEIPTED and msg.seq > 0


@dataclass(slots=True)
class _Lane:
    """One topic's messages awaiting a receipt, and its resend clock."""

    waiting: dict[int, OutMessage] = field(default_factory=dict)  # seq -> sent message
    resend: deque[OutMessage] = field(default_factory=deque)  # queued to go again
    mark: int = 0  # the highest seq receipted
    since: float = 0.0  # when the mark last moved (or the lane last resent)
    timeout: float = TIMEOUT_S


class ReceiptBook:
    def __init__(
        self,
        timeout_s: float = TIMEOUT_S,
        max_timeout_s: float = MAX_TIMEOUT_S,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        if not 0 < timeout_s <= max_timeout_s or max_bytes < 1:
            raise ValueError("receipts need 0 < timeout_s <= max_timeout_s and max_bytes >= 1")
        self.timeout_s = timeout_s
        self.max_timeout_s = max_timeout_s
        self.max_bytes = max_bytes
        self._lanes: dict[Kind, _Lane] = {k: _Lane(timeout=timeout_s) for k in RECEIPTED}
        self._bytes = 0
        self.resent = 0  # messages handed out again
        self.forgotten = 0  # let go unreceipted over `max_bytes`

    # -- what the publisher reports --------------------------------------------------

    def sent(self, msg: OutMessage, now: float) -> list[OutMessage]:
        """The broker acknowledged `msg`; returns the messages the outbox may forget:
        `msg` itself if a receipt already covers it, and any let go over the cap."""
        lane = self._lanes[msg.kind]
        if msg.seq <= lane.mark:
            return [msg]
        if not lane.waiting and not lane.resend:
            lane.since = now  # the resend clock runs from the oldest unreceipted message
        old = lane.waiting.pop(msg.seq, None)
        if old is not None:
            self._bytes -= len(old.payload)
        lane.waiting[msg.seq] = msg
        self._bytes += len(msg.payload)
        return self._over_cap()

    def receipt(
        self, marks: Mapping[str, object], numbered: Mapping[Kind, int], now: float
    ) -> list[OutMessage]:
        """A receipt arrived; returns the messages it covers. A mark beyond the highest
        seq this agent ever numbered comes from another life of its numbering (a wiped
        outbox): it would cover messages the backend never saw, so it is ignored."""
        done: list[OutMessage] = []
        for kind, lane in self._lanes.items():
            mark = marks.get(kind)
            if not isinstance(mark, int) or isinstance(mark, bool) or mark <= lane.mark:
                continue
            if mark > numbered.get(kind, 0):
                log.warning("receipt for %s up to %d, beyond the %d this agent has numbered; "
                            "ignored", kind, mark, numbered.get(kind, 0))
                continue
            lane.mark, lane.since, lane.timeout = mark, now, self.timeout_s
            for seq in [s for s in lane.waiting if s <= mark]:
                done.append(lane.waiting.pop(seq))
            if lane.resend and lane.resend[0].seq <= mark:
                done += [m for m in lane.resend if m.seq <= mark]
                lane.resend = deque(m for m in lane.resend if m.seq > mark)
        self._bytes -= sum(len(m.payload) for m in done)
        return done

    def covered(self, msg: OutMessage) -> bool:
        return msg.seq <= self._lanes[msg.kind].mark

    # -- what to send again ----------------------------------------------------------

    def reconnected(self, now: float) -> None:
        for lane in self._lanes.values():
            self._queue_all(lane, now)

    def tick(self, now: float) -> None:
        """Queue the topics whose receipts have stalled for their timeout."""
        for lane in self._lanes.values():
            if lane.waiting and now - lane.since >= lane.timeout:
                self._queue_all(lane, now)
                lane.timeout = min(lane.timeout * 2, self.max_timeout_s)

    def _queue_all(self, lane: _Lane, now: float) -> None:
        lane.resend.extend(lane.waiting[s] for s in sorted(lane.waiting))
        lane.waiting.clear()
        lane.since = now

    def next_resend(self, kinds: tuple[Kind, ...]) -> OutMessage | None:
        """The oldest message queued for resending among `kinds`, taken out of the book
        (it comes back through `sent` at its PUBACK)."""
        for kind in kinds:
            lane = self._lanes[kind]
            if lane.resend:
                msg = lane.resend.popleft()
                self._bytes -= len(msg.payload)
                self.resent += 1
                return msg
        return None

    def has_resend(self) -> bool:
        return any(lane.resend for lane in self._lanes.values())

    @property
    def waiting(self) -> int:
        return sum(len(lane.waiting) + len(lane.resend) for lane in self._lanes.values())

    def _over_cap(self) -> list[OutMessage]:
        gone: list[OutMessage] = []
        for kind in ("readings", "health", "events"):  # telemetry first, events last
            lane = self._lanes[kind]
            while self._bytes > self.max_bytes and (lane.resend or lane.waiting):
                if lane.resend:
                    msg = lane.resend.popleft()
                else:
                    msg = lane.waiting.pop(next(iter(lane.waiting)))
                self._bytes -= len(msg.payload)
                self.forgotten += 1
                gone.append(msg)
        return gone
