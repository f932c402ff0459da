"""Incidents in the operational store: opened or joined by dedup key, with history.

One open (not closed) incident per dedup key is enforced by a unique index, so a
repeat of the same fault joins it even when two alerts race. The alert's
`incident_id` is set, and logged for the SSE streams, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gridwatch.records import Alert
from store.interfaces import Cursor, OpStore
from store.opstate_schema import SCOPE_FILTER, alert_from_row, in_json_list, save_alert
from store.opstate_sql import ALERT_SELECT

STATUSES = ("open", "dispatched", "acknowledged", "resolved", "closed")
# Where each status may go next; anything else is refused with the allowed list.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("dispatched", "acknowledged", "resolved"),
    "dispatched": ("acknowledged", "resolved"),
    "acknowledged": ("dispatched", "resolved"),
    "resolved": ("closed", "dispatched"),
    "closed": (),
}
OPENED_BY = "dispatch"


class InvalidTransition(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: float
    who: str
    from_status: str | None
    to_status: str
    note: str


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    dedup_key: str
    status: str
    grid: str
    created_at: float
    updated_at: float
    alerts: list[int] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)


_SELECT = "SELECT id, dedup_key, status, grid, created_at, updated_at FROM incidents"


class IncidentStore:
    def __init__(self, ops: OpStore) -> None:
        self.ops = ops

    def open_or_join(
        self, dedup_key: str, grid: str, alert_id: int, now: float, note: str
    ) -> tuple[int, bool, tuple[Alert, int] | None]:
        """(incident id, whether it was opened now, the alert and its log seq when its
        incident_id changed). Serialized with every alert change, so two replicas
        opening the incident of one fire open one."""
        with self.ops.alert_tx() as cur:
            row = cur.execute(
                "SELECT id FROM incidents WHERE dedup_key = ? AND status != 'closed'",
                (dedup_key,),
            ).fetchone()
            opened = row is None
            if row is None:
                cur.execute(
                    "INSERT INTO incidents (dedup_key, status, grid, created_at, updated_at)"
                    " VALUES (?, 'open', ?, ?, ?)",
                    (dedup_key, grid, now, now),
                )
                incident_id = int(cur.lastrowid or 0)
                _history(cur, incident_id, now, OPENED_BY, None, "open", note)
            else:
                incident_id = int(row[0])
            cur.execute(
                "INSERT OR IGNORE INTO incident_alerts VALUES (?, ?)", (incident_id, alert_id)
            )
            arow = cur.execute(f"{ALERT_SELECT} WHERE id = ?", (alert_id,)).fetchone()
            logged = None
            if arow is not None:
                alert = alert_from_row(arow)
                if alert.incident_id != incident_id:
                    alert.incident_id = incident_id
                    logged = alert, save_alert(cur, alert, "update", now)
            return incident_id, opened, logged

    def transition(self, incident_id: int, to: str, who: str, note: str, now: float) -> Incident:
        """KeyError when there is no such incident; InvalidTransition with the reason."""
        with self.ops.tx() as cur:
            row = cur.execute(
                "SELECT status FROM incidents WHERE id = ?", (incident_id,)
            ).fetchone()
            if row is None:
                raise KeyError(incident_id)
            current = str(row[0])
            if to not in TRANSITIONS.get(current, ()):
                allowed = ", ".join(TRANSITIONS.get(current, ())) or "nothing (it is final)"
                raise InvalidTransition(
                    f"incident {incident_id} is {current}; it may go to {allowed}, not {to}"
                )
            cur.execute(
                "UPDATE incidents SET status = ?, updated_at = ? WHERE id = ?",
                (to, now, incident_id),
            )
            _history(cur, incident_id, now, who, current, to, note)
        found = self.get(incident_id)
        assert found is not None
        return found

    def get(self, incident_id: int) -> Incident | None:
        with self.ops.read() as cur:
            row = cur.execute(f"{_SELECT} WHERE id = ?", (incident_id,)).fetchone()
            if row is None:
                return None
            return self._complete(cur, row)

    def list(
        self, scopes: Sequence[str] | None, status: str | None = None, limit: int = 100
    ) -> list[Incident]:
        where: list[str] = ["1 = 1"]
        params: list[object] = []
        if scopes is not None:
            where.append(SCOPE_FILTER)
            params.append(in_json_list(scopes))
        if status is not None:
            where.append("status = ?")
            params.append(status)
        sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY updated_at DESC, id DESC LIMIT ?"
        with self.ops.read() as cur:
            rows = cur.execute(sql, [*params, max(1, min(limit, 1000))]).fetchall()
            return [self._complete(cur, r) for r in rows]

    @staticmethod
    def _complete(cur: Cursor, row: tuple[Any, ...]) -> Incident:
        incident_id = int(row[0])
        alerts = [
            int(a)
            for (a,) in cur.execute(
                "SELECT alert_id FROM incident_alerts WHERE incident_id = ? ORDER BY alert_id",
                (incident_id,),
            ).fetchall()
        ]
        history = [
            HistoryEntry(*h)
            for h in cur.execute(
                "SELECT at, who, from_status, to_status, note FROM incident_history"
                " WHERE incident_id = ? ORDER BY id",
                (incident_id,),
            ).fetchall()
        ]
        return Incident(incident_id, row[1], row[2], row[3], row[4], row[5], alerts, history)


def _history(
    cur: Cursor, incident_id: int, at: float, who: str, frm: str | None, to: str, note: str
) -> None:
    cur.execute(
        "INSERT INTO incident_history (incident_id, at, who, from_status, to_status, note)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (incident_id, at, who, frm, to, note),
    )
