"""Per agent and topic, the highest `seq` up to which every message is stored.

The receipts the backend publishes (`gw/v1/{agent}/receipts`, contract section 3) are
read off this book. Pure bookkeeping, no I/O, so each rule below is unit-tested:

- a lane starts from the first batch it sees: everything below that batch's lowest
  `seq` counts as stored (a new backend, or the first contact after an upgrade, cannot
  know about earlier messages; the agent resends what it still holds anyway);
- a `seq` at or below the mark is a replay and changes nothing;
- a `seq` above the mark waits in `above` until the gap under it fills;
- a gap that stays open for `gap_timeout_s` is skipped: the agent's outbox drops
  telemetry when full (those `seq`s will never come) and ingest dead-letters a poison
  message without storing it. The agent resends what it sent and did not see receipted
  every few tens of seconds, so a gap left by a lost message is filled long before this.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

TOPICS = ("readings", "events", "health")
GAP_TIMEOUT_S = 300.0


@dataclass(slots=True)
class Lane:
    upto: int
    above: set[int] = field(default_factory=set)
    gap_since: float | None = None  # when the oldest open gap was first seen


class ReceiptBook:
    def __init__(
        self,
        lanes: dict[tuple[str, str], Lane] | None = None,
        gap_timeout_s: float = GAP_TIMEOUT_S,
    ) -> None:
        if gap_timeout_s <= 0:
            raise ValueError("gap_timeout_s must be positive")
        self.lanes: dict[tuple[str, str], Lane] = lanes if lanes is not None else {}
        self.gap_timeout_s = gap_timeout_s

    def note(self, agent: str, topic: str, seqs: Iterable[int], now: float) -> bool:
        """Record stored messages; True when the lane's mark moved (a receipt is due)."""
        got = sorted(set(seqs))
        if not got or topic not in TOPICS:
            return False
        key = (agent, topic)
        lane = self.lanes.get(key)
        if lane is None:
            lane = self.lanes[key] = Lane(upto=got[0] - 1)
        before = lane.upto
        lane.above.update(s for s in got if s > lane.upto)
        self._advance(lane)
        if lane.above and lane.gap_since is not None and now - lane.gap_since >= self.gap_timeout_s:
            lane.upto = min(lane.above) - 1
            lane.gap_since = None
            self._advance(lane)
        if lane.above and lane.gap_since is None:
            lane.gap_since = now
        return lane.upto != before

    @staticmethod
    def _advance(lane: Lane) -> None:
        while lane.upto + 1 in lane.above:
            lane.upto += 1
            lane.above.discard(lane.upto)
        if not lane.above:
            lane.gap_since = None

    def receipt(self, agent: str) -> dict[str, int]:
        """The agent's marks per topic (0 for a topic not yet seen)."""
        return {t: self.lanes[(agent, t)].upto if (agent, t) in self.lanes else 0 for t in TOPICS}
