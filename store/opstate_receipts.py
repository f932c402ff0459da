"""The receipt book's lanes (ingest.receipt_book) in the operational store, so that
after a restart the backend's receipts carry on from where they were instead of from
the first `seq` it sees again. Saved after each stored batch, only the lanes it moved;
a lane saved a moment stale is harmless: the agent resends what a receipt has not
covered, and the resends fill the lane again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from store.opstate_sqlite import SqliteOpStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS receipt_lanes (
    agent TEXT NOT NULL, topic TEXT NOT NULL, upto INTEGER NOT NULL,
    above TEXT NOT NULL, gap_since REAL,
    PRIMARY KEY (agent, topic)
) WITHOUT ROWID;
"""
LaneRow = tuple[int, set[int], float | None]  # (upto, above, gap_since)
MAX_ABOVE = 10_000  # seqs kept above a gap; past it the gap is given up on at the next load


class ReceiptLanes:
    def __init__(self, ops: SqliteOpStore) -> None:
        self._ops = ops
        with ops.tx() as cur:
            cur.execute(SCHEMA)

    def load(self) -> dict[tuple[str, str], LaneRow]:
        with self._ops.read() as cur:
            rows = cur.execute(
                "SELECT agent, topic, upto, above, gap_since FROM receipt_lanes"
            ).fetchall()
        return {(a, t): (int(u), set(json.loads(above)), g) for a, t, u, above, g in rows}

    def save(self, lanes: Mapping[tuple[str, str], LaneRow]) -> None:
        if not lanes:
            return
        with self._ops.tx() as cur:
            cur.executemany(
                "INSERT INTO receipt_lanes VALUES (?, ?, ?, ?, ?) ON CONFLICT (agent, topic)"
                " DO UPDATE SET upto = excluded.upto, above = excluded.above,"
                " gap_since = excluded.gap_since",
                [
                    (a, t, upto, json.dumps(sorted(above)[:MAX_ABOVE]), gap_since)
                    for (a, t), (upto, above, gap_since) in lanes.items()
                ],
            )
