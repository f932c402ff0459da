"""The operational store's migration to schema 2 (dispatch tables) and the
incident store's one-open-incident-per-key rule."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from gridwatch.records import AlertChange
from store.interfaces import AlertContext
from store.opstate_incidents import IncidentStore, InvalidTransition
from store.opstate_schema import MIGRATIONS, SCHEMA_VERSION
from store.opstate_sqlite import SqliteOpStore

DISPATCH_TABLES = {"escalations", "incidents", "incident_alerts", "incident_history",
                   "silences", "webhook_deliveries"}


def tables(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as con:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_a_version_1_file_is_migrated_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "ops.sqlite3"
    with closing(sqlite3.connect(path)) as con:
        con.executescript(MIGRATIONS[1])
        con.execute("INSERT INTO dead_letters (received_at, topic, reason, payload)"
                    " VALUES (1, 't', 'r', x'00')")
        con.execute("PRAGMA user_version = 1")
        con.commit()
    assert not DISPATCH_TABLES & tables(path)
    for _ in range(2):  # opening again is harmless
        store = SqliteOpStore(path)
        assert store.dead_letter_count() == 1
        store.close()
    assert tables(path) >= DISPATCH_TABLES
    with closing(sqlite3.connect(path)) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2


def alert(ops: SqliteOpStore, n: int) -> int:
    change = AlertChange("fire", f"fp{n}", "r", "fire.alarm", "critical", f"d{n}", 1.0, None, "s")
    stored = ops.apply_change(change, AlertContext("smoke_detector", "lc/d1", "1", []), 1.0)
    assert stored is not None
    return stored[0].id


def test_one_open_incident_per_key_and_a_closed_one_makes_room(tmp_path: Path) -> None:
    ops = SqliteOpStore(tmp_path / "ops.sqlite3")
    ids = [alert(ops, n) for n in range(3)]
    incidents = IncidentStore(ops)
    first, opened, _ = incidents.open_or_join("k", "lc/d1", ids[0], 10.0, "x")
    again, opened_again, linked = incidents.open_or_join("k", "lc/d1", ids[1], 11.0, "x")
    assert linked is not None and linked[0].incident_id == first
    assert opened and not opened_again and again == first
    for step in ("resolved", "closed"):
        incidents.transition(first, step, "ops", "", 12.0)
    with pytest.raises(InvalidTransition):
        incidents.transition(first, "dispatched", "ops", "", 13.0)
    later, opened_later, _ = incidents.open_or_join("k", "lc/d1", ids[2], 14.0, "x")
    assert opened_later and later != first
    closed = incidents.get(first)
    assert closed is not None and closed.alerts == ids[:2] and closed.status == "closed"
    assert [h.to_status for h in closed.history] == ["open", "resolved", "closed"]
    ops.close()
