"""The schema of the operational store, and alerts to and from rows.

The numbered migrations are written in SQLite's dialect; the PostgreSQL store runs the
same list, translated by `store.pg_dialect`, so both stores go through one sequence."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import fields
from operator import attrgetter
from typing import Any

from gridwatch.records import Alert
from store.interfaces import Cursor

SCHEMA_VERSION = 7

_DDL = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    topic TEXT NOT NULL,
    agent TEXT,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    rule TEXT NOT NULL,
    type TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
    device TEXT NOT NULL,
    device_type TEXT NOT NULL,
    grid TEXT NOT NULL,
    building TEXT NOT NULL,
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    resolved_at REAL,
    value REAL,
    summary TEXT NOT NULL,
    acked_by TEXT,
    acked_at REAL,
    ack_note TEXT,
    escalation_level INTEGER NOT NULL DEFAULT 0,
    incident_id INTEGER,
    receivers TEXT NOT NULL DEFAULT '[]'
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_firing ON alerts (fingerprint)
    WHERE status = 'firing';
CREATE INDEX IF NOT EXISTS alerts_newest ON alerts (updated_at, id);
CREATE TABLE IF NOT EXISTS alert_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL REFERENCES alerts (id),
    kind TEXT NOT NULL CHECK (kind IN ('fire', 'update', 'resolve', 'ack')),
    at REAL NOT NULL,
    snapshot TEXT NOT NULL,
    grid TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    grid TEXT,
    maintainer TEXT,
    sha256 TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL
);
"""

# Version 2 (dispatch): escalation timers, incidents and their history, silences and the
# webhook delivery log. Only new tables, so the migration from 1 is creating them.
_DDL_V2 = """
CREATE TABLE IF NOT EXISTS escalations (
    alert_id INTEGER PRIMARY KEY REFERENCES alerts (id),
    mode TEXT NOT NULL CHECK (mode IN ('escalate', 'renotify', 'done')),
    due_at REAL,
    escalate_after_s REAL NOT NULL,
    renotify_after_s REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS escalations_due ON escalations (due_at) WHERE due_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY,
    dedup_key TEXT NOT NULL,
    status TEXT NOT NULL,
    grid TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_one_open ON incidents (dedup_key)
    WHERE status != 'closed';
CREATE TABLE IF NOT EXISTS incident_alerts (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    alert_id INTEGER NOT NULL REFERENCES alerts (id),
    PRIMARY KEY (incident_id, alert_id)
);
CREATE TABLE IF NOT EXISTS incident_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    at REAL NOT NULL,
    who TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver TEXT NOT NULL,
    url TEXT NOT NULL,
    key TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    delivered_at REAL,
    UNIQUE (receiver, key)
);
CREATE INDEX IF NOT EXISTS webhook_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    matchers TEXT NOT NULL,
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL,
    starts_at REAL NOT NULL,
    ends_at REAL NOT NULL,
    created_at REAL NOT NULL,
    deleted_at REAL
);
"""
# Version 3 (issue 17): which device events have had their alert decision committed,
# per deciding replica (store.opstate_events). A version-2 file of a build that made
# this table on the fly (without `owner`) has it replaced: the ledger only ever asks
# about the last month, and an empty one decides again, which the alert store adopts.
_DDL_V3 = """
DROP TABLE IF EXISTS event_decisions;
CREATE TABLE IF NOT EXISTS event_decisions (
    owner TEXT NOT NULL DEFAULT '',
    agent TEXT NOT NULL,
    id TEXT NOT NULL,
    state TEXT NOT NULL,
    ts REAL NOT NULL,
    decided INTEGER NOT NULL,
    PRIMARY KEY (owner, agent, id, state, ts)
)
"""
# Version 4 (issue 11): the receipt book's lanes (store.opstate_receipts), per replica;
# replaces the owner-less table a version-2 file may have (a lost lane is refilled by
# the agents' resends).
_DDL_V4 = """
DROP TABLE IF EXISTS receipt_lanes;
CREATE TABLE receipt_lanes (
    owner TEXT NOT NULL DEFAULT '',
    agent TEXT NOT NULL,
    topic TEXT NOT NULL,
    upto INTEGER NOT NULL,
    above TEXT NOT NULL,
    gap_since REAL,
    PRIMARY KEY (owner, agent, topic)
)
"""
# Version 5 (issue 12: locations, incidents people act on): the alert's location; an
# incident's title, severity, location, last alert, false-alarm close and reason; its
# timeline (`who`, not `by`: a reserved word in PostgreSQL).
_DDL_V5 = """
CREATE TABLE IF NOT EXISTS incident_timeline (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    who TEXT,
    note TEXT NOT NULL DEFAULT '',
    alert_id INTEGER
);
CREATE INDEX IF NOT EXISTS incident_timeline_of ON incident_timeline (incident_id, at, id);
CREATE INDEX IF NOT EXISTS incident_alerts_alert ON incident_alerts (alert_id);
ALTER TABLE alerts ADD COLUMN location TEXT;
ALTER TABLE incidents ADD COLUMN title TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN title_en TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN severity TEXT NOT NULL DEFAULT 'info';
ALTER TABLE incidents ADD COLUMN location TEXT;
ALTER TABLE incidents ADD COLUMN last_alert_at REAL;
ALTER TABLE incidents ADD COLUMN false_alarm INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN close_reason TEXT
"""
# Version 6 (issue 17, replicas): each replica's heartbeat, written with its lane save,
# so a receipt covers only what every live replica has stored (store.opstate_receipts).
_DDL_V6 = """
CREATE TABLE IF NOT EXISTS receipt_replicas (
    owner TEXT PRIMARY KEY,
    beat REAL NOT NULL
)
"""
# Version 7: alerts by (fingerprint, started_at), so that a fire is looked up against the
# episodes already alerted (store.opstate_sql.SqlOpStore.apply_change).
_DDL_V7 = """
CREATE INDEX IF NOT EXISTS alerts_episode ON alerts (fingerprint, started_at)
"""
MIGRATIONS: dict[int, str] = {
    1: _DDL, 2: _DDL_V2, 3: _DDL_V3, 4: _DDL_V4, 5: _DDL_V5, 6: _DDL_V6, 7: _DDL_V7,
}

ALERT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Alert))

# A grid is in scope when it equals a scope or lies below it. substr rather than LIKE:
# LIKE is case-insensitive in SQLite and would need its wildcards escaped.
SCOPE_FILTER = (
    "EXISTS (SELECT 1 FROM json_each(?) AS s WHERE grid = s.value"
    " OR substr(grid, 1, length(s.value) + 1) = s.value || '/')"
)

_SEVERITY_RANK = {"info": 0, "warning": 1, "minor": 2, "major": 3, "critical": 4}


def create_schema(cur: Cursor) -> None:
    """Create what is missing; refuse a file written by a newer schema."""
    version = int(cur.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"operational store has schema version {version}, this build knows {SCHEMA_VERSION}"
        )
    # Each open runs the steps the file lacks, in the transaction that records the new
    # version, so a step is never half-applied nor run twice.
    for step in range(version + 1, SCHEMA_VERSION + 1):
        for statement in migration_statements(step):
            cur.execute(statement)
    cur.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def migration_statements(step: int) -> list[str]:
    """The statements of migration `step`, one by one (no `;` inside a statement)."""
    return [st for st in MIGRATIONS[step].split(";") if st.strip()]


def alert_from_row(row: Sequence[Any]) -> Alert:
    values = list(row)
    values[_RECEIVERS] = json.loads(values[_RECEIVERS])
    if values[_LOCATION] is not None:
        values[_LOCATION] = json.loads(values[_LOCATION])
    return Alert(*values)


# Hot path (issue 16): an alert's values are read with one attrgetter, not
# `dataclasses.asdict`, which deep-copies every field and was 41 % of dispatch.
_alert_values = attrgetter(*ALERT_COLUMNS)
# Made once: json.dumps with options builds a new encoder on every call.
_SNAPSHOT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_LIST_JSON = json.JSONEncoder(ensure_ascii=False)
_RECEIVERS = ALERT_COLUMNS.index("receivers")
_LOCATION = ALERT_COLUMNS.index("location")
_INSERT_ALERT = (
    f"INSERT INTO alerts ({', '.join(ALERT_COLUMNS[1:])})"
    f" VALUES ({', '.join('?' * (len(ALERT_COLUMNS) - 1))})"
)
_UPDATE_ALERT = f"UPDATE alerts SET {', '.join(f'{c} = ?' for c in ALERT_COLUMNS[1:])} WHERE id = ?"
_INSERT_LOG = "INSERT INTO alert_log (alert_id, kind, at, snapshot, grid) VALUES (?, ?, ?, ?, ?)"
assert ALERT_COLUMNS[0] == "id"


def _alert_params(alert: Alert) -> list[Any]:
    """Column values in ALERT_COLUMNS order, receivers as JSON text."""
    values = list(_alert_values(alert))
    values[_RECEIVERS] = _LIST_JSON.encode(values[_RECEIVERS])
    if values[_LOCATION] is not None:
        values[_LOCATION] = _LIST_JSON.encode(values[_LOCATION])
    return values


def insert_alert(cur: Cursor, alert: Alert, now: float) -> int:
    """Insert a new alert (setting its id) and log it as 'fire'; returns the log seq."""
    cur.execute(_INSERT_ALERT, _alert_params(alert)[1:])
    alert.id = int(cur.lastrowid or 0)
    return _log(cur, alert, "fire", now)


def save_alert(cur: Cursor, alert: Alert, kind: str, now: float) -> int:
    """Write every field of an existing alert and log the change; returns the log seq."""
    params = _alert_params(alert)
    cur.execute(_UPDATE_ALERT, [*params[1:], params[0]])
    return _log(cur, alert, kind, now)


def alert_snapshot(alert: Alert) -> str:
    """The alert as the log's JSON snapshot: every field, in field order."""
    return _SNAPSHOT_JSON.encode(dict(zip(ALERT_COLUMNS, _alert_values(alert), strict=True)))


def _log(cur: Cursor, alert: Alert, kind: str, now: float) -> int:
    cur.execute(_INSERT_LOG, (alert.id, kind, now, alert_snapshot(alert), alert.grid))
    return int(cur.lastrowid or 0)


def alert_from_snapshot(text: str) -> Alert:
    # Unknown keys are dropped so that old log entries still load after a field is removed.
    values = {k: v for k, v in json.loads(text).items() if k in ALERT_COLUMNS}
    return Alert(**values)


def in_json_list(items: Iterable[str]) -> str:
    """One SQL parameter for a whole list, read back with json_each, so that a long
    device list never hits SQLite's limit on bound variables."""
    return json.dumps(list(items), ensure_ascii=False)


def raised_severity(current: str, new: str) -> str:
    """The more severe of the two; on a tie or unknown names the current one stays."""
    return new if _SEVERITY_RANK.get(new, -1) > _SEVERITY_RANK.get(current, -1) else current
