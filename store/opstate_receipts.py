"""The receipt book's lanes (ingest.receipt_book) in the operational store, so that
after a restart the backend's receipts carry on from where they were instead of from
the first `seq` it sees again. Saved at most once a second and at a clean stop;
a lane saved a moment stale is harmless: the agent resends what a receipt has not
covered, and the resends fill the lane again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from store.interfaces import Cursor, OpStore

# The table is migration 4 of store.opstate_schema. Its rows are per `owner`, the
# replica (ingest client id) whose store the lanes describe: replicas sharing one op
# store each store and acknowledge what they received themselves.
LaneRow = tuple[int, set[int], float | None]  # (upto, above, gap_since)
MAX_ABOVE = 10_000  # seqs kept above a gap; past it the gap is given up on at the next load
# A replica whose last lane save is older than this stops holding receipts back: a
# replica gone for good must not make every agent's outbox fill up to its caps.
LIVE_WINDOW_S = 30.0


class ReceiptLanes:
    def __init__(self, ops: OpStore, owner: str = "") -> None:
        self._ops = ops
        self._owner = owner

    def load(self) -> dict[tuple[str, str], LaneRow]:
        with self._ops.read() as cur:
            rows = cur.execute(
                "SELECT agent, topic, upto, above, gap_since FROM receipt_lanes"
                " WHERE owner = ?",
                (self._owner,),
            ).fetchall()
        return {(a, t): (int(u), set(json.loads(above)), g) for a, t, u, above, g in rows}

    def others_upto(self, agent: str, now: float,
                    window: float = LIVE_WINDOW_S) -> dict[str, int] | None:
        """Per topic, the lowest saved mark among the OTHER replicas that are live (a
        heartbeat within `window` of `now`); 0 (nothing covered) when a live replica has
        no lane for the topic yet, a topic missing when none has; None when no other
        replica is live.
        Saved marks lag what a replica stored, never lead it, so the minimum of these and
        this replica's own mark never covers a message a live replica lacks."""
        with self._ops.read() as cur:
            live = [str(o) for (o,) in cur.execute(
                "SELECT owner FROM receipt_replicas WHERE owner <> ? AND beat >= ?",
                (self._owner, now - window),
            ).fetchall()]
            if not live:
                return None
            rows = cur.execute(
                "SELECT l.owner, l.topic, l.upto FROM receipt_lanes AS l"
                " JOIN receipt_replicas AS r ON r.owner = l.owner"
                " WHERE l.agent = ? AND l.owner <> ? AND r.beat >= ?",
                (agent, self._owner, now - window),
            ).fetchall()
        marks: dict[tuple[str, str], int] = {(str(o), str(t)): int(u) for o, t, u in rows}
        topics = {t for _, t in marks}
        return {t: min(marks.get((o, t), 0) for o in live) for t in topics}

    def beat(self, now: float) -> None:
        """Say this replica is live (also written by every save)."""
        with self._ops.tx() as cur:
            self._beat(cur, now)

    def _beat(self, cur: Cursor, now: float) -> None:
        cur.execute(
            "INSERT INTO receipt_replicas (owner, beat) VALUES (?, ?)"
            " ON CONFLICT (owner) DO UPDATE SET beat = excluded.beat",
            (self._owner, now),
        )

    def save(self, lanes: Mapping[tuple[str, str], LaneRow], now: float | None = None) -> None:
        if not lanes and now is None:
            return
        with self._ops.tx() as cur:
            if now is not None:
                self._beat(cur, now)
            for (a, t), (upto, above, gap_since) in lanes.items():
                cur.execute(
                    "INSERT INTO receipt_lanes (owner, agent, topic, upto, above, gap_since)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (owner, agent, topic)"
                    " DO UPDATE SET upto = excluded.upto, above = excluded.above,"
                    " gap_since = excluded.gap_since",
                    (self._owner, a, t, upto, json.dumps(sorted(above)[:MAX_ABOVE]), gap_since),
                )
