"""The op store's contract: every test runs on SQLite and on PostgreSQL (`op_kind`)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator

import pytest

from gridwatch.records import AlertChange, ChangeKind
from store.interfaces import AlertContext, Cursor, StoredToken
from store.opstate_schema import ALERT_COLUMNS, SCHEMA_VERSION
from store.opstate_sql import MAX_PAYLOAD, SqlOpStore
from store.opstate_sqlite import SqliteOpStore
from tests.support.op_stores import OpStoreKind, column

T0 = 1_764_090_000.0
GRID = "lc/d2/wy1/mg07"


def change(
    kind: ChangeKind,
    ts: float,
    fingerprint: str = "smoke:smoke-1",
    severity: str = "major",
    value: float | None = 1.0,
) -> AlertChange:
    device = fingerprint.split(":")[-1]
    return AlertChange(
        kind, fingerprint, "smoke", "fire.smoke", severity, device, ts, value, f"{kind} at {ts}"
    )


def ctx(grid: str = GRID) -> AlertContext:
    return AlertContext("smoke_detector", grid, "b12", ["guard:wy1", "ops"])


@pytest.fixture
def store(op_kind: OpStoreKind) -> Iterator[SqlOpStore]:
    s = op_kind.open()
    yield s
    s.close()


def fire(store: SqlOpStore, fingerprint: str, grid: str, ts: float = T0) -> int:
    applied = store.apply_change(change("fire", ts, fingerprint), ctx(grid), now=ts)
    assert applied is not None
    return applied[0].id


def log_kinds(store: SqlOpStore) -> list[object]:
    return column(store, "SELECT kind FROM alert_log ORDER BY seq")


def test_repeat_fire_updates_the_one_firing_alert(store: SqlOpStore) -> None:
    first = store.apply_change(change("fire", T0, value=3.0), ctx(), now=T0)
    second = store.apply_change(change("fire", T0 + 5, value=4.0), ctx(), now=T0 + 5)
    assert first is not None and second is not None
    alert = second[0]
    assert alert.id == first[0].id
    assert (alert.started_at, alert.updated_at, alert.value) == (T0, T0 + 5, 4.0)
    assert alert.receivers == ctx().receivers
    assert [a.id for a in store.firing_alerts()] == [alert.id]
    assert log_kinds(store) == ["fire", "update"]


def test_database_refuses_a_second_firing_alert(store: SqlOpStore) -> None:
    alert_id = fire(store, "smoke:smoke-1", GRID)
    columns = ", ".join(c for c in ALERT_COLUMNS if c != "id")
    with pytest.raises(store.integrity_errors), store.tx() as cur:
        cur.execute(
            f"INSERT INTO alerts ({columns}) SELECT {columns} FROM alerts WHERE id = ?",
            (alert_id,),
        )


def test_update_or_resolve_without_a_firing_alert_does_nothing(store: SqlOpStore) -> None:
    assert store.apply_change(change("update", T0), ctx(), now=T0) is None
    assert store.apply_change(change("resolve", T0), ctx(), now=T0) is None
    assert store.last_log_seq() == 0


def test_fire_update_resolve_then_fire_opens_a_new_alert(store: SqlOpStore) -> None:
    steps: list[tuple[ChangeKind, float]] = [
        ("fire", T0), ("update", T0 + 1), ("resolve", T0 + 2), ("fire", T0 + 3)
    ]
    seqs = []
    results = []
    for kind, ts in steps:
        applied = store.apply_change(change(kind, ts), ctx(), now=ts)
        assert applied is not None
        results.append(applied[0])
        seqs.append(applied[1])

    assert results[0].id == results[1].id == results[2].id != results[3].id
    resolved = store.get_alert(results[0].id)
    assert resolved is not None
    assert (resolved.status, resolved.resolved_at) == ("resolved", T0 + 2)
    assert [a.id for a in store.firing_alerts()] == [results[3].id]
    assert seqs == sorted(set(seqs))
    assert store.last_log_seq() == seqs[-1]
    assert log_kinds(store) == ["fire", "update", "resolve", "fire"]


def test_severity_rises_but_never_falls(store: SqlOpStore) -> None:
    store.apply_change(change("fire", T0, severity="minor"), ctx(), now=T0)
    up = store.apply_change(change("fire", T0 + 1, severity="critical"), ctx(), now=T0 + 1)
    down = store.apply_change(change("update", T0 + 2, severity="warning"), ctx(), now=T0 + 2)
    assert up is not None and down is not None
    assert (up[0].severity, down[0].severity) == ("critical", "critical")


def test_resume_returns_only_later_entries_as_they_were(store: SqlOpStore) -> None:
    store.apply_change(change("fire", T0), ctx(), now=T0)
    after_fire = store.last_log_seq()
    store.apply_change(change("update", T0 + 1, value=9.0), ctx(), now=T0 + 1)
    store.apply_change(change("resolve", T0 + 2), ctx(), now=T0 + 2)

    everything = store.alert_log_after(0, None)
    later = store.alert_log_after(after_fire, None)
    assert [s for s, _ in later] == [s for s, _ in everything if s > after_fire]
    assert [a.status for _, a in everything] == ["firing", "firing", "resolved"]
    assert everything[1][1].value == 9.0
    assert store.alert_log_after(everything[-1][0], None) == []
    assert len(store.alert_log_after(0, None, limit=2)) == 2


@pytest.mark.parametrize("use_log", [False, True], ids=["list_alerts", "alert_log_after"])
def test_scope_keeps_the_subtree_only(store: SqlOpStore, use_log: bool) -> None:
    grids = [
        "lc/d2/wy1",
        "lc/d2/wy1/mg07",
        "lc/d2/wy10/mg01",
        "lc/d2/wy1x/mg02",
        "lc/d2/wy2/mg03",
        "LC/d2/wy1/mg04",
    ]
    for i, grid in enumerate(grids):
        fire(store, f"smoke:dev{i}", grid)

    def seen(scopes: list[str] | None) -> set[str]:
        if use_log:
            return {a.grid for _, a in store.alert_log_after(0, scopes)}
        return {a.grid for a in store.list_alerts(scopes)}

    assert seen(["lc/d2/wy1"]) == {"lc/d2/wy1", "lc/d2/wy1/mg07"}
    assert seen(["lc/d2/wy1", "lc/d2/wy2"]) == {"lc/d2/wy1", "lc/d2/wy1/mg07", "lc/d2/wy2/mg03"}
    # LIKE wildcards in a scope are plain characters.
    assert seen(["lc/d2/wy_"]) == set()
    assert seen(["lc/d2/%"]) == set()
    assert seen([]) == set()
    assert seen(None) == set(grids)


def test_list_alerts_filters_and_orders_newest_first(store: SqlOpStore) -> None:
    for i in range(6):
        sev = "critical" if i % 2 else "minor"
        store.apply_change(change("fire", T0 + i, f"smoke:dev{i}", severity=sev), ctx(), now=T0 + i)
    store.apply_change(change("resolve", T0 + 10, "smoke:dev1"), ctx(), now=T0 + 10)
    everything = store.list_alerts(None)

    assert [a.updated_at for a in everything] == sorted(
        (a.updated_at for a in everything), reverse=True
    )
    assert {a.device for a in store.list_alerts(None, status="resolved")} == {"dev1"}
    firing = store.list_alerts(None, status="firing")
    assert all(a.status == "firing" for a in firing) and len(firing) == 5
    critical = store.list_alerts(None, severity="critical")
    assert {a.device for a in critical} == {
        a.device for a in everything if a.severity == "critical"
    }
    recent = store.list_alerts(None, since=T0 + 4)
    assert {a.device for a in recent} == {a.device for a in everything if a.updated_at >= T0 + 4}
    assert {a.device for a in store.list_alerts(None, devices=["dev2", "dev5"])} == {"dev2", "dev5"}
    assert store.list_alerts(None, devices=[]) == []
    assert store.list_alerts(None, limit=2) == everything[:2]
    assert len(store.list_alerts(None, limit=0)) == 1
    with pytest.raises(ValueError):
        store.list_alerts(None, status="open")


def test_ack_records_who_and_logs_even_when_resolved(store: SqlOpStore) -> None:
    alert_id = fire(store, "smoke:smoke-1", GRID)
    store.apply_change(change("resolve", T0 + 1), ctx(), now=T0 + 1)
    acked = store.ack(alert_id, "guard-wy1", "checked, false alarm", now=T0 + 60)
    assert acked is not None
    alert, seq = acked
    assert (alert.acked_by, alert.acked_at, alert.status) == ("guard-wy1", T0 + 60, "resolved")
    assert store.get_alert(alert_id) == alert
    assert store.ack_note(alert_id) == "checked, false alarm"
    assert store.alert_log_after(seq - 1, None) == [(seq, alert)]
    assert log_kinds(store)[-1] == "ack"
    assert store.ack(alert_id + 100, "guard-wy1", "", now=T0) is None


def test_annotate_records_dispatch_decisions(store: SqlOpStore) -> None:
    alert_id = fire(store, "smoke:smoke-1", GRID)
    done = store.annotate(alert_id, T0 + 1, escalation_level=2, incident_id=7, receivers=["ops"])
    assert done is not None
    stored = store.get_alert(alert_id)
    assert stored == done[0]
    assert stored is not None
    assert (stored.escalation_level, stored.incident_id, stored.receivers) == (2, 7, ["ops"])
    assert store.annotate(alert_id + 1, T0) is None


def test_dead_letters_keep_reason_and_truncated_payload(op_kind: OpStoreKind) -> None:
    store = op_kind.open(max_dead_letters=3)
    try:
        big = bytes(range(256)) * (MAX_PAYLOAD // 256 + 10)
        first = store.add_dead_letter("gw/v1/a1/readings", "a1", "not JSON", big, T0)
        kept = store.dead_letters()[0]
        assert (kept.id, kept.reason, kept.agent) == (first, "not JSON", "a1")
        assert kept.payload == big[:MAX_PAYLOAD]

        for i in range(4):
            store.add_dead_letter("gw/v1/a1/events", None, f"bad {i}", b"{}", T0 + i)
        assert store.dead_letter_count() == 3
        assert [d.reason for d in store.dead_letters()] == ["bad 3", "bad 2", "bad 1"]
    finally:
        store.close()


def test_tokens_add_get_list_revoke(store: SqlOpStore) -> None:
    token = StoredToken(
        "t1", "wy1 guard room", "guard", "lc/d2/wy1", None, "ab" * 32, T0, None, None
    )
    other = StoredToken("t2", "ops", "ops", None, None, "cd" * 32, T0 + 1, T0 + 86400, None)
    store.add_token(token)
    store.add_token(other)
    assert store.get_token("t1") == token
    assert store.get_token("nope") is None
    assert store.list_tokens() == [token, other]
    with pytest.raises(ValueError):
        store.add_token(token)

    assert store.revoke_token("t1", T0 + 5)
    assert store.revoke_token("t1", T0 + 9)
    revoked = store.get_token("t1")
    assert revoked is not None and revoked.revoked_at == T0 + 5
    assert not store.revoke_token("nope", T0)


def test_state_survives_reopen_with_schema_version(op_kind: OpStoreKind) -> None:
    first = op_kind.open()
    alert_id = fire(first, "smoke:smoke-1", GRID)
    first.close()
    second = op_kind.open()
    try:
        assert [a.id for a in second.firing_alerts()] == [alert_id]
        again = second.apply_change(change("fire", T0 + 1), ctx(), now=T0 + 1)
        assert again is not None and again[0].id == alert_id
        if op_kind.name == "postgresql":  # each migration recorded once
            assert column(second, "SELECT version FROM schema_migrations ORDER BY version") == [
                *range(1, SCHEMA_VERSION + 1)
            ]
    finally:
        second.close()
    if op_kind.name == "sqlite":
        with sqlite3.connect(op_kind.tmp / "ops.sqlite3") as con:
            assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_two_threads_firing_the_same_fingerprints(store: SqlOpStore) -> None:
    fingerprints = [f"smoke:dev{i}" for i in range(5)]
    errors: list[BaseException] = []
    seqs: list[int] = []

    def work(offset: float) -> None:
        try:
            for round_ in range(20):
                for fp in fingerprints:
                    kind: ChangeKind = "resolve" if round_ % 5 == 4 else "fire"
                    ts = T0 + round_ + offset
                    applied = store.apply_change(change(kind, ts, fp), ctx(), now=ts)
                    if applied is not None:
                        seqs.append(applied[1])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(o,)) for o in (0.0, 0.5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    firing = store.firing_alerts()
    assert sorted(a.fingerprint for a in firing) == sorted(set(a.fingerprint for a in firing))
    assert sorted(seqs) == [s for s, _ in store.alert_log_after(0, None, limit=1000)]
    assert len(set(seqs)) == len(seqs)


def test_a_read_does_not_wait_for_a_write_in_progress(store: SqlOpStore) -> None:
    # The alert streams read while ingest and dispatch write: a write's fsync under a
    # readings load's disk traffic held a fire alarm back from the guard's stream.
    store.apply_change(change("fire", 1.0), ctx(), now=1.0)
    writing, release = threading.Event(), threading.Event()

    def slow_write() -> None:
        with store.tx() as cur:
            cur.execute("DELETE FROM dead_letters")
            writing.set()
            release.wait(10)

    writer = threading.Thread(target=slow_write)
    writer.start()
    try:
        assert writing.wait(5)
        seen: list[int] = []
        reader = threading.Thread(target=lambda: seen.append(store.last_log_seq()))
        reader.start()
        reader.join(5)
        assert seen and seen[0] >= 1, "the read waited for the write transaction"
    finally:
        release.set()
        writer.join(10)


def _sync_setting(cur: Cursor, store: SqlOpStore) -> str:
    if isinstance(store, SqliteOpStore):  # 1 NORMAL, 2 FULL
        return {1: "normal", 2: "full"}[int(cur.execute("PRAGMA synchronous").fetchone()[0])]
    return str(cur.execute("SHOW synchronous_commit").fetchone()[0])


def test_a_redoable_commit_does_not_wait_for_the_disk_and_the_next_durable_one_does(
    store: SqlOpStore,
) -> None:
    # The event ledger's first step (store.opstate_events): its sync stood before a fire
    # alarm's alert under a storm's disk traffic. Every other write still syncs.
    durable = "full" if isinstance(store, SqliteOpStore) else "on"
    relaxed = "normal" if isinstance(store, SqliteOpStore) else "off"
    with store.redoable_tx() as cur:
        cur.execute("DELETE FROM dead_letters")
        assert _sync_setting(cur, store) == relaxed
    with store.tx() as cur:
        assert _sync_setting(cur, store) == durable
    with store.alert_tx() as cur:
        assert _sync_setting(cur, store) == durable
    with pytest.raises(RuntimeError), store.redoable_tx():
        raise RuntimeError("rolled back")
    with store.tx() as cur:  # a failed redoable transaction leaves no setting behind
        assert _sync_setting(cur, store) == durable

