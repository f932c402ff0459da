"""The operational store's numbered migrations (SQLite and PostgreSQL) and the
incident store's one-open-incident-per-key rule, on both stores."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from gridwatch.records import AlertChange
from store.interfaces import AlertContext
from store.opstate_incidents import IncidentStore, InvalidTransition
from store.opstate_postgres import PostgresOpStore
from store.opstate_schema import MIGRATIONS, SCHEMA_VERSION, migration_statements
from store.opstate_sql import SqlOpStore
from store.opstate_sqlite import SqliteOpStore
from store.pg_dialect import translate_ddl
from tests.support.op_stores import OpStoreKind, column
from tests.support.postgres import PostgresCluster

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
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 7


def test_a_version_2_file_with_the_old_event_ledger_gets_the_per_replica_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ops.sqlite3"
    with closing(sqlite3.connect(path)) as con:
        con.executescript(MIGRATIONS[1] + MIGRATIONS[2])
        con.execute("CREATE TABLE event_decisions (agent TEXT, id TEXT, state TEXT, ts REAL,"
                    " decided INTEGER, PRIMARY KEY (agent, id, state, ts))")
        con.execute("PRAGMA user_version = 2")
        con.commit()
    SqliteOpStore(path).close()
    with closing(sqlite3.connect(path)) as con:
        cols = [r[1] for r in con.execute("PRAGMA table_info(event_decisions)")]
        assert cols[0] == "owner"
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_postgres_database_at_version_1_is_migrated_keeping_its_data(
    postgres_cluster: PostgresCluster,
) -> None:
    """The same numbered steps as SQLite's, recorded in schema_migrations."""
    postgres_cluster.reset()
    with psycopg.connect(postgres_cluster.url, autocommit=True) as con:
        con.execute(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        for statement in migration_statements(1):
            con.execute(translate_ddl(statement).encode())
        con.execute("INSERT INTO schema_migrations (version) VALUES (1)")
        con.execute("INSERT INTO dead_letters (received_at, topic, reason, payload)"
                    " VALUES (1, 't', 'r', '\\x00')")
    for _ in range(2):  # opening again is harmless
        store = PostgresOpStore(postgres_cluster.url)
        assert store.dead_letter_count() == 1
        tables = set(column(store, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        versions = column(store, "SELECT version FROM schema_migrations ORDER BY version")
        store.close()
        assert tables >= DISPATCH_TABLES
        assert versions == [*range(1, SCHEMA_VERSION + 1)]


def test_a_newer_postgres_schema_is_refused(postgres_cluster: PostgresCluster) -> None:
    postgres_cluster.reset()
    PostgresOpStore(postgres_cluster.url).close()
    with psycopg.connect(postgres_cluster.url, autocommit=True) as con:
        con.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(RuntimeError, match="newer gridwatch"):
        PostgresOpStore(postgres_cluster.url)


def alert(ops: SqlOpStore, n: int) -> int:
    change = AlertChange("fire", f"fp{n}", "r", "fire.alarm", "critical", f"d{n}", 1.0, None, "s")
    stored = ops.apply_change(change, AlertContext("smoke_detector", "lc/d1", "1", []), 1.0)
    assert stored is not None
    return stored[0].id


def test_one_open_incident_per_key_and_a_closed_one_makes_room(op_kind: OpStoreKind) -> None:
    ops = op_kind.open()
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
