"""The receipt book's lanes (ingest.receipt_book) in the operational store, so that
after a restart the backend's receipts carry on from where they were instead of from
the first `seq` it sees again. Saved at most once a second and at a clean stop;
a lane saved a moment stale is harmless: the agent resends what a receipt has not
covered, and the resends fill the lane again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from store.interfaces import OpStore

# The table is migration 4 of store.opstate_schema. Its rows are per `owner`, the
# replica (ingest client id) whose store the lanes describe: replicas sharing one op
# store each store and acknowledge what they received themselves.
LaneRow = tuple[int, set[int], float | None]  # (upto, above, gap_since)
MAX_ABOVE = 10_000  # seqs kept above a gap; past it the gap is given up on at the next load


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

    def save(self, lanes: Mapping[tuple[str, str], LaneRow]) -> None:
        if not lanes:
            return
        with self._ops.tx() as cur:
            for (a, t), (upto, above, gap_since) in lanes.items():
                cur.execute(
                    "INSERT INTO receipt_lanes (owner, agent, topic, upto, above, gap_since)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (owner, agent, topic)"
                    " DO UPDATE SET upto = excluded.upto, above = excluded.above,"
                    " gap_since = excluded.gap_since",
                    (self._owner, a, t, upto, json.dumps(sorted(above)[:MAX_ABOVE]), gap_since),
                )
