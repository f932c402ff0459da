"""Incidents in the operational store: opened or joined by group key, with history and
a timeline.

One joinable (not closed) incident per key is enforced by a unique index, so alerts of
one event join it even when two race. An incident outside its window (no alert firing,
and its last alert longer ago than the group's interval) is retired from its key
(`key#id`) when a new one opens. The alert's `incident_id` is set, and logged for the
SSE streams, in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gridwatch.records import Alert
from store.interfaces import Cursor, IncidentFacts, OpStore, TimelineEntry
from store.opstate_schema import (
    SCOPE_FILTER,
    alert_from_row,
    in_json_list,
    raised_severity,
    save_alert,
)
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
    title: str = ""
    title_en: str = ""
    severity: str = "info"
    location: dict[str, Any] | None = None
    false_alarm: bool = False
    close_reason: str | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)


_SELECT = (
    "SELECT id, dedup_key, status, grid, created_at, updated_at, title, severity, location,"
    " false_alarm, close_reason, title_en FROM incidents"
)
FALSE_ALARM = "false_alarm"


class IncidentStore:
    def __init__(self, ops: OpStore) -> None:
        self.ops = ops

    def open_or_join(
        self, dedup_key: str, grid: str, alert_id: int, now: float, note: str,
        facts: IncidentFacts | None = None,
    ) -> tuple[int, bool, tuple[Alert, int] | None]:
        """(incident id, whether it was opened now, the alert and its log seq when its
        incident_id changed). Serialized with every alert change, so two replicas
        opening the incident of one fire open one."""
        facts = facts or IncidentFacts()
        with self.ops.alert_tx() as cur:
            row = cur.execute(
                "SELECT id, coalesce(last_alert_at, created_at) FROM incidents"
                " WHERE dedup_key = ? AND status != 'closed'",
                (dedup_key,),
            ).fetchone()
            if row is not None and not _joinable(cur, int(row[0]), float(row[1]), now, facts):
                # Retired from the key: it keeps its alerts and history, takes no more.
                cur.execute(
                    "UPDATE incidents SET dedup_key = dedup_key || '#' || id WHERE id = ?",
                    (row[0],),
                )
                row = None
            opened = row is None
            if row is None:
                if not facts.may_open:
                    return 0, False, None
                cur.execute(
                    "INSERT INTO incidents (dedup_key, status, grid, created_at, updated_at,"
                    " title, title_en, severity, location, last_alert_at)"
                    " VALUES (?, 'open', ?, ?, ?, ?, ?, ?, ?, ?)",
                    (dedup_key, grid, now, now, facts.title, facts.title_en, facts.severity,
                     _dumps(facts.location), now),
                )
                incident_id = int(cur.lastrowid or 0)
                _history(cur, incident_id, now, OPENED_BY, None, "open", note)
                _timeline(cur, incident_id, now, "opened", OPENED_BY, note, alert_id)
            else:
                incident_id = int(row[0])
            cur.execute(
                "INSERT OR IGNORE INTO incident_alerts VALUES (?, ?)", (incident_id, alert_id)
            )
            if cur.rowcount:
                _timeline(cur, incident_id, now, "alert_joined", OPENED_BY, note, alert_id)
                (severity,) = cur.execute(
                    "SELECT severity FROM incidents WHERE id = ?", (incident_id,)
                ).fetchone()
                cur.execute(
                    "UPDATE incidents SET severity = ?, last_alert_at = ?, updated_at = ?"
                    " WHERE id = ?",
                    (raised_severity(severity, facts.severity), now, now, incident_id),
                )
            arow = cur.execute(f"{ALERT_SELECT} WHERE id = ?", (alert_id,)).fetchone()
            logged = None
            if arow is not None:
                alert = alert_from_row(arow)
                if alert.incident_id != incident_id:
                    alert.incident_id = incident_id
                    logged = alert, save_alert(cur, alert, "update", now)
            return incident_id, opened, logged

    def incident_of_group(self, dedup_key: str) -> int | None:
        with self.ops.read() as cur:
            row = cur.execute(
                "SELECT id FROM incidents WHERE dedup_key = ? AND status != 'closed'",
                (dedup_key,),
            ).fetchone()
        return None if row is None else int(row[0])

    def add_timeline(
        self, incident_id: int, at: float, kind: str, by: str | None, note: str,
        alert_id: int | None = None,
    ) -> None:
        with self.ops.tx() as cur:
            _timeline(cur, incident_id, at, kind, by, note, alert_id)
            cur.execute("UPDATE incidents SET updated_at = ? WHERE id = ?", (at, incident_id))

    def close_false_alarm(
        self, incident_id: int, who: str, reason: str, now: float
    ) -> list[tuple[Alert, int]]:
        """Closed from any state but closed; its firing alerts are resolved (the summary
        keeps what they said), so no page shows them firing and nothing escalates.
        Serialized with every alert change (it changes alerts)."""
        with self.ops.alert_tx() as cur:
            current = _status(cur, incident_id)
            if current == "closed":
                raise InvalidTransition(f"incident {incident_id} is already closed")
            cur.execute(
                "UPDATE incidents SET status = 'closed', updated_at = ?, false_alarm = 1,"
                " close_reason = ? WHERE id = ?",
                (now, reason, incident_id),
            )
            _history(cur, incident_id, now, who, current, "closed", f"误报：{reason}")
            _timeline(cur, incident_id, now, FALSE_ALARM, who, reason, None)
            rows = cur.execute(
                f"{ALERT_SELECT} WHERE status = 'firing' AND id IN"
                " (SELECT alert_id FROM incident_alerts WHERE incident_id = ?) ORDER BY id",
                (incident_id,),
            ).fetchall()
            resolved: list[tuple[Alert, int]] = []
            for arow in rows:
                alert = alert_from_row(arow)
                alert.status, alert.resolved_at = "resolved", max(now, alert.started_at)
                resolved.append((alert, save_alert(cur, alert, "resolve", now)))
                _timeline(cur, incident_id, now, "alert_resolved", who, reason, alert.id)
            return resolved

    def false_alarm_counts(
        self, scopes: Sequence[str] | None, since: float
    ) -> list[tuple[str, str, int]]:
        where = "i.false_alarm = 1 AND i.updated_at >= ?"
        params: list[object] = [since]
        if scopes is not None:
            where += " AND " + SCOPE_FILTER.replace("grid", "a.grid")
            params.append(in_json_list(scopes))
        sql = (
            "SELECT a.device, a.type, count(*) FROM incidents i"
            " JOIN incident_alerts ia ON ia.incident_id = i.id JOIN alerts a ON a.id = ia.alert_id"
            f" WHERE {where} GROUP BY a.device, a.type ORDER BY count(*) DESC, a.device, a.type"
        )
        with self.ops.read() as cur:
            return [(str(d), str(t), int(n)) for d, t, n in cur.execute(sql, params).fetchall()]

    def transition(self, incident_id: int, to: str, who: str, note: str, now: float) -> Incident:
        """KeyError when there is no such incident; InvalidTransition with the reason."""
        with self.ops.tx() as cur:
            current = _status(cur, incident_id)
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
            _timeline(cur, incident_id, now, "transition", who, f"{current} → {to}: {note}"
                      if note else f"{current} → {to}", None)
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
        timeline = [
            TimelineEntry(*t)
            for t in cur.execute(
                "SELECT at, kind, who, note, alert_id FROM incident_timeline"
                " WHERE incident_id = ? ORDER BY at, id",
                (incident_id,),
            ).fetchall()
        ]
        return Incident(
            incident_id, row[1], row[2], row[3], row[4], row[5], alerts, history,
            title=row[6], severity=row[7], location=None if row[8] is None else json.loads(row[8]),
            false_alarm=bool(row[9]), close_reason=row[10], timeline=timeline, title_en=row[11],
        )


def _history(
    cur: Cursor, incident_id: int, at: float, who: str, frm: str | None, to: str, note: str
) -> None:
    cur.execute(
        "INSERT INTO incident_history (incident_id, at, who, from_status, to_status, note)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (incident_id, at, who, frm, to, note),
    )


def _timeline(
    cur: Cursor, incident_id: int, at: float, kind: str, by: str | None, note: str,
    alert_id: int | None,
) -> None:
    cur.execute(
        "INSERT INTO incident_timeline (incident_id, at, kind, who, note, alert_id)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (incident_id, at, kind, by, note, alert_id),
    )


def _joinable(
    cur: Cursor, incident_id: int, last_alert_at: float, now: float, facts: IncidentFacts
) -> bool:
    if facts.window_s is None or now - last_alert_at <= facts.window_s:
        return True
    firing = cur.execute(
        "SELECT 1 FROM incident_alerts ia JOIN alerts a ON a.id = ia.alert_id"
        " WHERE ia.incident_id = ? AND a.status = 'firing' LIMIT 1",
        (incident_id,),
    ).fetchone()
    return firing is not None


def _dumps(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _status(cur: Cursor, incident_id: int) -> str:
    """The incident's status; KeyError when there is no such incident."""
    row = cur.execute("SELECT status FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    if row is None:
        raise KeyError(incident_id)
    return str(row[0])
