"""Dispatch state in the operational store: escalation timers and silences.

A timer fires in the same transaction that records its step on the alert (level,
receivers, log entry for the SSE streams) and moves the timer on, so a crash leaves
either both or neither: after a restart a step is never lost and never repeated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gridwatch.records import Alert
from store.interfaces import OpStore
from store.opstate_schema import alert_from_row, save_alert
from store.opstate_sql import ALERT_SELECT

TimerMode = Literal["escalate", "renotify", "done"]


@dataclass(frozen=True, slots=True)
class Timer:
    alert_id: int
    mode: TimerMode
    due_at: float | None
    escalate_after_s: float
    renotify_after_s: float


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    matchers: dict[str, Any]
    created_by: str
    comment: str
    starts_at: float
    ends_at: float
    created_at: float
    deleted_at: float | None


_TIMER_SELECT = "SELECT alert_id, mode, due_at, escalate_after_s, renotify_after_s FROM escalations"
_SET_TIMER = "UPDATE escalations SET mode = ?, due_at = ? WHERE alert_id = ?"
_SILENCE_SELECT = (
    "SELECT id, matchers, created_by, comment, starts_at, ends_at, created_at, deleted_at"
    " FROM silences"
)


def _silence(row: tuple[Any, ...]) -> Silence:
    return Silence(row[0], json.loads(row[1]), *row[2:])


class DispatchState:
    def __init__(self, ops: OpStore) -> None:
        self.ops = ops

    # escalation timers

    def start_timer(
        self, alert_id: int, due_at: float | None, escalate_s: float, renotify_s: float
    ) -> bool:
        """Arm the escalation of a new alert (no due time: a row that never fires, for
        alerts that notify nobody); False when it already has a timer."""
        with self.ops.tx() as cur:
            cur.execute(
                "INSERT OR IGNORE INTO escalations VALUES (?, ?, ?, ?, ?)",
                (
                    alert_id,
                    "done" if due_at is None else "escalate",
                    due_at,
                    escalate_s,
                    renotify_s,
                ),
            )
            return cur.rowcount > 0

    def start_timers(
        self, rows: Sequence[tuple[int, TimerMode, float | None, float, float]]
    ) -> None:
        """Arm many at once, one statement (issue 16): rows of (alert id, mode, due,
        escalate after, renotify after); an alert that has a timer keeps it."""
        if rows:
            with self.ops.tx() as cur:
                cur.executemany("INSERT OR IGNORE INTO escalations VALUES (?, ?, ?, ?, ?)", rows)

    def set_timers(self, rows: Sequence[tuple[TimerMode, float | None, int]]) -> None:
        """Move many timers at once: rows of (mode, due, alert id), applied in order."""
        if rows:
            with self.ops.tx() as cur:
                cur.executemany(_SET_TIMER, rows)

    def unarmed(self) -> list[tuple[int, float]]:
        """Firing alerts without a timer row, with when they were raised (server time):
        a crash between storing an alert and arming it leaves these to be armed."""
        with self.ops.read() as cur:
            # Usually none; only then is the (unindexed) log searched, per alert.
            ids = cur.execute(
                "SELECT id FROM alerts a WHERE status = 'firing'"
                " AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.alert_id = a.id)"
                " ORDER BY id"
            ).fetchall()
            rows = [
                (i, cur.execute(
                    "SELECT min(at) FROM alert_log WHERE alert_id = ? AND kind = 'fire'", (i,)
                ).fetchone()[0])
                for (i,) in ids
            ]
        return [(int(i), float(at)) for i, at in rows if at is not None]

    def timer(self, alert_id: int) -> Timer | None:
        with self.ops.read() as cur:
            row = cur.execute(f"{_TIMER_SELECT} WHERE alert_id = ?", (alert_id,)).fetchone()
        return None if row is None else Timer(*row)

    def due_timers(self, now: float, limit: int = 500) -> list[Timer]:
        with self.ops.read() as cur:
            rows = cur.execute(
                f"{_TIMER_SELECT} WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at LIMIT ?",
                (now, limit),
            ).fetchall()
        return [Timer(*r) for r in rows]

    def set_timer(self, alert_id: int, mode: TimerMode, due_at: float | None) -> None:
        self.set_timers([(mode, due_at, alert_id)])

    def fire_timer(
        self,
        timer: Timer,
        now: float,
        level: int,
        receivers: list[str],
        mode: TimerMode,
        next_due: float | None,
    ) -> tuple[Alert, int] | None:
        """Record one step on the alert and move its timer on, in one transaction.
        None when the timer has already moved (fired elsewhere, acked, resolved):
        another replica holding the claim is skipped, not waited for."""
        with self.ops.alert_tx() as cur:
            claimed = cur.execute(
                f"SELECT alert_id FROM escalations WHERE alert_id = ?{self.ops.claim_clause}",
                (timer.alert_id,),
            ).fetchone()
            if claimed is None:
                return None
            moved = cur.execute(
                "UPDATE escalations SET mode = ?, due_at = ? WHERE alert_id = ? AND mode = ?"
                " AND due_at = ?",
                (mode, next_due, timer.alert_id, timer.mode, timer.due_at),
            ).rowcount
            row = cur.execute(f"{ALERT_SELECT} WHERE id = ?", (timer.alert_id,)).fetchone()
            if not moved or row is None:
                return None
            alert = alert_from_row(row)
            alert.escalation_level, alert.receivers = level, receivers
            return alert, save_alert(cur, alert, "update", now)

    # silences

    def add_silence(
        self,
        matchers: dict[str, Any],
        by: str,
        comment: str,
        starts_at: float,
        ends_at: float,
        now: float,
    ) -> Silence:
        with self.ops.tx() as cur:
            cur.execute(
                "INSERT INTO silences (matchers, created_by, comment, starts_at, ends_at,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (json.dumps(matchers, ensure_ascii=False), by, comment, starts_at, ends_at, now),
            )
            new_id = int(cur.lastrowid or 0)
        return Silence(new_id, matchers, by, comment, starts_at, ends_at, now, None)

    def silences(self, now: float, active_only: bool = False) -> list[Silence]:
        sql = f"{_SILENCE_SELECT} WHERE deleted_at IS NULL"
        params: list[float] = []
        if active_only:
            sql += " AND starts_at <= ? AND ends_at > ?"
            params = [now, now]
        with self.ops.read() as cur:
            rows = cur.execute(f"{sql} ORDER BY id", params).fetchall()
        return [_silence(r) for r in rows]

    def get_silence(self, silence_id: int) -> Silence | None:
        with self.ops.read() as cur:
            row = cur.execute(f"{_SILENCE_SELECT} WHERE id = ?", (silence_id,)).fetchone()
        return None if row is None else _silence(row)

    def delete_silence(self, silence_id: int, now: float) -> bool:
        """Expire a silence now; False when there is no such live silence."""
        with self.ops.tx() as cur:
            cur.execute(
                "UPDATE silences SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                (now, silence_id),
            )
            return cur.rowcount > 0
