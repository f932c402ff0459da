"""Which device events have had their alert decision made durable (issue 17).

The time-series store keeps events and the operational store keeps alerts: two files,
so no single transaction covers an event and its alert. The time-series store's dedup
("only new rows") cannot say whether an event already seen was also *decided*: when
the alert write failed after the event write, a retry used to see the event as old and
the alarm never became an alert. This ledger closes that gap. For every event of a
batch, in the operational store:

1. `begin(events)`, before the time-series write: a row per event, undecided, unless
   it has one already. Returns the events still undecided from an earlier attempt
   (the time-series store may already hold them) and the ones it has just added.
2. the time-series write; the caller decides the earlier-undecided events plus those
   just added that the time-series store calls new (an event stored before this ledger
   existed, and resent now, is neither);
3. `finish(events)` after the alert changes are committed: decided.

A failure anywhere before (3) leaves the events undecided, so the retry, or the
redelivery after a restart, decides them again; deciding twice is harmless because the
alert store turns a second `fire` of a firing alert into an update.
Rows older than the decoder accepts (30 days) can never be asked about again and are
pruned, so the table stays the size of a month of events.
"""

from __future__ import annotations

from collections.abc import Sequence

from gridwatch.records import DeviceEvent
from store.opstate_sqlite import SqliteOpStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS event_decisions (
    agent TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL, ts REAL NOT NULL,
    decided INTEGER NOT NULL,
    PRIMARY KEY (agent, id, state, ts)
) WITHOUT ROWID;
"""
KEEP_S = 31 * 86_400.0  # the decoder refuses events older than 30 days
PRUNE_EVERY_S = 3600.0
_Key = tuple[str, str, str, float]


def event_key(e: DeviceEvent) -> _Key:
    """The time-series store's own primary key of an event."""
    return (e.agent, e.id, e.state, e.ts)


class EventLedger:
    def __init__(self, ops: SqliteOpStore) -> None:
        self._ops = ops
        self._pruned_at = 0.0
        with ops.tx() as cur:
            cur.execute(SCHEMA)

    def begin(
        self, events: Sequence[DeviceEvent]
    ) -> tuple[list[DeviceEvent], list[DeviceEvent]]:
        """(undecided from an earlier attempt, added now), each in the given order and
        without repeats."""
        unique = list({event_key(e): e for e in events}.values())
        pending: list[DeviceEvent] = []
        added: list[DeviceEvent] = []
        with self._ops.tx() as cur:
            for e in unique:
                row = cur.execute(
                    "SELECT decided FROM event_decisions"
                    " WHERE agent = ? AND id = ? AND state = ? AND ts = ?",
                    event_key(e),
                ).fetchone()
                if row is None:
                    cur.execute(
                        "INSERT INTO event_decisions VALUES (?, ?, ?, ?, 0)", event_key(e)
                    )
                    added.append(e)
                elif not row[0]:
                    pending.append(e)
        return pending, added

    def finish(self, events: Sequence[DeviceEvent], now: float) -> None:
        with self._ops.tx() as cur:
            cur.executemany(
                "UPDATE event_decisions SET decided = 1"
                " WHERE agent = ? AND id = ? AND state = ? AND ts = ?",
                [event_key(e) for e in events],
            )
            if now - self._pruned_at >= PRUNE_EVERY_S:  # a table scan: not per batch
                cur.execute("DELETE FROM event_decisions WHERE ts < ?", (now - KEEP_S,))
                self._pruned_at = now

    def undecided(self) -> int:
        with self._ops.read() as cur:
            return int(
                cur.execute("SELECT count(*) FROM event_decisions WHERE decided = 0").fetchone()[0]
            )
