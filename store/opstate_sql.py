"""Operational state over SQL: alerts and their change log, dead letters, API tokens.

`SqlOpStore` holds every query, written once in SQLite's dialect; a subclass supplies
the connection and its transactions: `store.opstate_sqlite` (one embedded file) or
`store.opstate_postgres` (shared by replicas; statements translated by
`store.pg_dialect`). Each write returns only after its commit — the point ingest
acknowledges after.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from gridwatch.records import Alert, AlertChange
from store.interfaces import AlertContext, Cursor, DeadLetter, StoredToken
from store.opstate_schema import (
    ALERT_COLUMNS,
    SCOPE_FILTER,
    alert_from_row,
    alert_from_snapshot,
    in_json_list,
    insert_alert,
    raised_severity,
    save_alert,
)

MAX_PAYLOAD = 64 * 1024
MAX_LIST = 1000
ALERT_SELECT = f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts"
_TOKEN_SELECT = (
    "SELECT id, name, role, grid, maintainer, sha256, created_at, expires_at, revoked_at"
    " FROM tokens"
)


def _clamp(limit: int) -> int:
    return max(1, min(MAX_LIST, limit))


# A fire of an episode already alerted and resolved. A replica that drains its queued
# session after the other one alerted a fire and resolved it decides the same fire again,
# from the same event or reading, at the same device time: that is adopted, as a fire
# both decide at once is. Only the same start of an episode that ended after it matches,
# so a new condition of the same fingerprint is never dropped: it starts later, or (on a
# clock of whole seconds) in the very second an episode of no length ended.
_EPISODE_ALERTED = (
    "SELECT 1 FROM alerts WHERE fingerprint = ? AND started_at = ? AND resolved_at > ?"
)


class SqlOpStore(ABC):
    """The queries of every OpStore method; subclasses own the connection.

    `max_dead_letters` bounds the dead-letter table: the oldest are dropped first,
    since a misbehaving agent could otherwise fill the disk with rejects."""

    # Raised by a unique-key violation on the subclass's driver.
    integrity_errors: tuple[type[Exception], ...] = ()

    def __init__(self, max_dead_letters: int = 10_000) -> None:
        if max_dead_letters < 1:
            raise ValueError("max_dead_letters must be at least 1")
        self._max_dead_letters = max_dead_letters

    # the connection, from the subclass

    @abstractmethod
    def tx(self) -> AbstractContextManager[Cursor]: ...

    @abstractmethod
    def redoable_tx(self) -> AbstractContextManager[Cursor]: ...

    @abstractmethod
    def alert_tx(self) -> AbstractContextManager[Cursor]: ...

    @abstractmethod
    def read(self) -> AbstractContextManager[Cursor]: ...

    @abstractmethod
    def batch(self) -> AbstractContextManager[None]:
        """One alert transaction for this thread's calls in the block (OpStore.batch)."""

    @property
    def claim_clause(self) -> str:
        return ""

    @abstractmethod
    def listen(self, on_seq: Callable[[int], None]) -> None: ...

    def ping(self) -> bool:
        try:
            with self.read() as cur:
                cur.execute("SELECT 1").fetchone()
        except Exception:
            return False
        return True

    @abstractmethod
    def close(self) -> None: ...

    # dead letters

    def add_dead_letter(
        self, topic: str, agent: str | None, reason: str, payload: bytes, received_at: float
    ) -> int:
        with self.tx() as cur:
            cur.execute(
                "INSERT INTO dead_letters (received_at, topic, agent, reason, payload)"
                " VALUES (?, ?, ?, ?, ?)",
                (received_at, topic, agent, reason, bytes(payload[:MAX_PAYLOAD])),
            )
            new_id = int(cur.lastrowid or 0)
            cur.execute(
                "DELETE FROM dead_letters WHERE id <= ?", (new_id - self._max_dead_letters,)
            )
        return new_id

    def add_dead_letters(
        self, rows: Sequence[tuple[str, str | None, str, bytes, float]]
    ) -> None:
        """Many rejects in one transaction (one commit): a batch full of garbage costs
        its lane one commit, not one per message."""
        if not rows:
            return
        with self.tx() as cur:
            for topic, agent, reason, payload, received_at in rows:
                cur.execute(
                    "INSERT INTO dead_letters (received_at, topic, agent, reason, payload)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (received_at, topic, agent, reason, bytes(payload[:MAX_PAYLOAD])),
                )
            newest = int(cur.execute("SELECT max(id) FROM dead_letters").fetchone()[0])
            cur.execute(
                "DELETE FROM dead_letters WHERE id <= ?", (newest - self._max_dead_letters,)
            )

    def dead_letters(
        self, limit: int = 100, agents: Sequence[str] | None = None
    ) -> list[DeadLetter]:
        where = ""
        params: list[object] = [_clamp(limit)]
        if agents is not None:
            where = " WHERE agent IN (SELECT value FROM json_each(?))"
            params.insert(0, in_json_list(agents))
        with self.read() as cur:
            rows = cur.execute(
                "SELECT id, received_at, topic, agent, reason, payload FROM dead_letters"
                f"{where} ORDER BY id DESC LIMIT ?",
                params,
            ).fetchall()
        return [DeadLetter(*row) for row in rows]

    def dead_letter_count(self) -> int:
        with self.read() as cur:
            return int(cur.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    # alerts

    def apply_change(
        self, change: AlertChange, ctx: AlertContext, now: float
    ) -> tuple[Alert, int] | None:
        """Besides the Protocol: a repeat may raise the severity but never lowers it,
        and `updated_at` never moves back when device times arrive out of order.
        The log entry's time is `now` (server time); alert times are device times.
        A change that leaves the alert as it is (the same change decided by another
        replica, already applied) is not logged again: None."""
        with self.alert_tx() as cur:
            row = cur.execute(
                f"{ALERT_SELECT} WHERE fingerprint = ? AND status = 'firing'",
                (change.fingerprint,),
            ).fetchone()
            if row is None:
                if change.kind != "fire" or cur.execute(
                    _EPISODE_ALERTED, (change.fingerprint, change.ts, change.ts)
                ).fetchone() is not None:
                    return None
                alert = Alert(
                    id=0, fingerprint=change.fingerprint, rule=change.rule, type=change.type,
                    severity=change.severity, status="firing", device=change.device,
                    device_type=ctx.device_type, grid=ctx.grid, building=ctx.building,
                    started_at=change.ts, updated_at=change.ts, resolved_at=None,
                    value=change.value, summary=change.summary, receivers=list(ctx.receivers),
                    location=ctx.location,
                )
                return alert, insert_alert(cur, alert, now)
            alert = alert_from_row(row)
            before = alert_from_row(row)
            alert.updated_at = max(alert.updated_at, change.ts)
            if change.kind == "resolve":
                alert.status = "resolved"
                alert.resolved_at = max(change.ts, alert.started_at)
                kind = "resolve"
            else:
                alert.value, alert.summary = change.value, change.summary
                alert.severity = raised_severity(alert.severity, change.severity)
                kind = "update"
            if alert == before:
                return None
            return alert, save_alert(cur, alert, kind, now)

    def ack(self, alert_id: int, by: str, note: str, now: float) -> tuple[Alert, int] | None:
        """Acking a resolved alert is allowed; a second ack overwrites the first.
        `updated_at` is left alone: it tracks the condition, not the people."""

        def edit(_: Cursor, alert: Alert) -> None:
            alert.acked_by, alert.acked_at, alert.ack_note = by, now, note

        return self._edit(alert_id, "ack", now, edit)

    def annotate(
        self,
        alert_id: int,
        now: float,
        *,
        escalation_level: int | None = None,
        incident_id: int | None = None,
        receivers: Sequence[str] | None = None,
    ) -> tuple[Alert, int] | None:
        """Record what dispatch decided (escalation, incident, receivers), logged as an
        'update' so that live consoles see it. None when no such alert."""

        def edit(_: Cursor, alert: Alert) -> None:
            if escalation_level is not None:
                alert.escalation_level = escalation_level
            if incident_id is not None:
                alert.incident_id = incident_id
            if receivers is not None:
                alert.receivers = list(receivers)

        return self._edit(alert_id, "update", now, edit)

    def ack_note(self, alert_id: int) -> str | None:
        with self.read() as cur:
            row = cur.execute("SELECT ack_note FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return None if row is None else row[0]

    def get_alert(self, alert_id: int) -> Alert | None:
        with self.read() as cur:
            row = cur.execute(f"{ALERT_SELECT} WHERE id = ?", (alert_id,)).fetchone()
        return None if row is None else alert_from_row(row)

    def firing_alerts(self) -> list[Alert]:
        with self.read() as cur:
            rows = cur.execute(f"{ALERT_SELECT} WHERE status = 'firing' ORDER BY id").fetchall()
        return [alert_from_row(r) for r in rows]

    def list_alerts(
        self,
        scopes: Sequence[str] | None,
        status: str = "all",
        severity: str | None = None,
        since: float | None = None,
        limit: int = 100,
        devices: Sequence[str] | None = None,
    ) -> list[Alert]:
        """`since` keeps alerts updated at or after it. Unknown `status`: ValueError."""
        if status not in ("firing", "resolved", "all"):
            raise ValueError(f"status must be firing, resolved or all, not {status!r}")
        where: list[str] = ["1 = 1"]
        params: list[object] = []
        if scopes is not None:
            where.append(SCOPE_FILTER)
            params.append(in_json_list(scopes))
        if status != "all":
            where.append("status = ?")
            params.append(status)
        if severity is not None:
            where.append("severity = ?")
            params.append(severity)
        if since is not None:
            where.append("updated_at >= ?")
            params.append(since)
        if devices is not None:
            where.append("device IN (SELECT value FROM json_each(?))")
            params.append(in_json_list(devices))
        sql = (
            f"{ALERT_SELECT} WHERE {' AND '.join(where)} ORDER BY updated_at DESC, id DESC LIMIT ?"
        )
        with self.read() as cur:
            rows = cur.execute(sql, [*params, _clamp(limit)]).fetchall()
        return [alert_from_row(r) for r in rows]

    def alert_log_after(
        self, seq: int, scopes: Sequence[str] | None, limit: int = 500
    ) -> list[tuple[int, Alert]]:
        sql = "SELECT seq, snapshot FROM alert_log WHERE seq > ?"
        params: list[object] = [seq]
        if scopes is not None:
            sql += f" AND {SCOPE_FILTER}"
            params.append(in_json_list(scopes))
        with self.read() as cur:
            rows = cur.execute(f"{sql} ORDER BY seq LIMIT ?", [*params, _clamp(limit)])
            return [(int(s), alert_from_snapshot(snap)) for s, snap in rows]

    def last_log_seq(self) -> int:
        with self.read() as cur:
            return int(cur.execute("SELECT coalesce(max(seq), 0) FROM alert_log").fetchone()[0])

    # tokens

    def add_token(self, token: StoredToken) -> None:
        """Ids and hashes are never reused: adding an existing one raises ValueError."""
        try:
            with self.tx() as cur:
                cur.execute(
                    "INSERT INTO tokens (id, name, role, grid, maintainer, sha256, created_at,"
                    " expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (token.id, token.name, token.role, token.grid, token.maintainer,
                     token.sha256, token.created_at, token.expires_at, token.revoked_at),
                )
        except self.integrity_errors as exc:
            raise ValueError(f"token {token.id!r} or its hash already exists") from exc

    def get_token(self, token_id: str) -> StoredToken | None:
        with self.read() as cur:
            row = cur.execute(f"{_TOKEN_SELECT} WHERE id = ?", (token_id,)).fetchone()
        return None if row is None else StoredToken(*row)

    def list_tokens(self) -> list[StoredToken]:
        with self.read() as cur:
            rows = cur.execute(f"{_TOKEN_SELECT} ORDER BY created_at, id").fetchall()
        return [StoredToken(*row) for row in rows]

    def revoke_token(self, token_id: str, now: float) -> bool:
        """True when the token exists; revoking again keeps the first revocation time."""
        with self.tx() as cur:
            cur.execute(
                "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                (now, token_id),
            )
            return cur.rowcount > 0

    # internals

    def _edit(
        self, alert_id: int, kind: str, now: float, edit: Callable[[Cursor, Alert], None]
    ) -> tuple[Alert, int] | None:
        with self.alert_tx() as cur:
            row = cur.execute(f"{ALERT_SELECT} WHERE id = ?", (alert_id,)).fetchone()
            if row is None:
                return None
            alert = alert_from_row(row)
            edit(cur, alert)
            return alert, save_alert(cur, alert, kind, now)
