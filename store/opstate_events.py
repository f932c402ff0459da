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
   Committed without waiting for the disk (`redoable_tx`): it stands before a fire
   alarm's alert on the way to the guard's screen, and under a storm's disk traffic its
   sync alone took 100-180 ms. The alert's commit, or `finish`'s at the latest, syncs
   it (the log is written in order), always before the time-series write; a power cut
   before that loses the row and the decision with it, and the redelivery decides
   again.
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
from store.interfaces import OpStore

# The table is migration 3 of store.opstate_schema. Its rows are per `owner`, the
# replica (ingest client id) that decides: replicas sharing one store each see every
# event and each decides it (the second decision of a change is adopted, not repeated),
# so one replica's "decided" must not make another skip an event its detectors need.
KEEP_S = 31 * 86_400.0  # the decoder refuses events older than 30 days
PRUNE_EVERY_S = 3600.0
_Key = tuple[str, str, str, float]


def event_key(e: DeviceEvent) -> _Key:
    """The time-series store's own primary key of an event."""
    return (e.agent, e.id, e.state, e.ts)


class EventLedger:
    def __init__(self, ops: OpStore, owner: str = "") -> None:
        self._ops = ops
        self._owner = owner
        self._pruned_at = 0.0

    def begin(
        self, events: Sequence[DeviceEvent]
    ) -> tuple[list[DeviceEvent], list[DeviceEvent]]:
        """(undecided from an earlier attempt, added now), each in the given order and
        without repeats."""
        unique = list({event_key(e): e for e in events}.values())
        pending: list[DeviceEvent] = []
        added: list[DeviceEvent] = []
        with self._ops.redoable_tx() as cur:
            for e in unique:
                row = cur.execute(
                    "SELECT decided FROM event_decisions"
                    " WHERE owner = ? AND agent = ? AND id = ? AND state = ? AND ts = ?",
                    (self._owner, *event_key(e)),
                ).fetchone()
                if row is None:
                    cur.execute(
                        "INSERT INTO event_decisions (owner, agent, id, state, ts, decided)"
                        " VALUES (?, ?, ?, ?, ?, 0)",
                        (self._owner, *event_key(e)),
                    )
                    added.append(e)
                elif not row[0]:
                    pending.append(e)
        return pending, added

    def finish(self, events: Sequence[DeviceEvent], now: float) -> None:
        with self._ops.tx() as cur:
            for e in events:
                cur.execute(
                    "UPDATE event_decisions SET decided = 1"
                    " WHERE owner = ? AND agent = ? AND id = ? AND state = ? AND ts = ?",
                    (self._owner, *event_key(e)),
                )
            if now - self._pruned_at >= PRUNE_EVERY_S:  # a table scan: not per batch
                cur.execute(
                    "DELETE FROM event_decisions WHERE owner = ? AND ts < ?",
                    (self._owner, now - KEEP_S),
                )
                self._pruned_at = now

    def undecided(self) -> int:
        with self._ops.read() as cur:
            return int(
                cur.execute(
                    "SELECT count(*) FROM event_decisions WHERE owner = ? AND decided = 0",
                    (self._owner,),
                ).fetchone()[0]
            )
