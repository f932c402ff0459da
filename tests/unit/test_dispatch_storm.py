"""A storm through dispatch (issue 16): a power cut takes whole areas of the sample
street down at once, 1,000 alerts in one batch. Every alert must be stored with
on-duty receivers, logged for the SSE streams and armed; the sinks must get the
critical ones first and one notification per group; all in one transaction."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from config.loader import DEFAULT_CONFIG_DIR, load_registry
from config.models import DeviceSpec
from config.registry import Registry
from dispatch.batch import severity_first
from dispatch.dispatcher import CHUNK, Dispatcher, labels_of
from dispatch.selection import on_duty
from gridwatch.clock import ManualClock
from gridwatch.notify import LogNotifier
from gridwatch.records import Alert, AlertChange
from store.opstate_sqlite import SqliteOpStore
from tests.support.op_stores import OpStoreKind, column

T0 = 1_764_104_400.0  # 21:00 in Shanghai: consoles off duty, guard rooms on
OFFLINE = 900
CRITICAL = 100


class RecordingSink:
    def __init__(self) -> None:
        self.published: list[Alert] = []

    def publish(self, alert: Alert, payload: dict[str, Any]) -> None:
        self.published.append(alert)


def storm_devices(registry: Registry) -> list[DeviceSpec]:
    """Every device of whole areas, area after area, up to OFFLINE devices."""
    by_area: dict[str, list[DeviceSpec]] = {}
    for d in registry.config.devices:
        by_area.setdefault(registry.area_of(d.grid), []).append(d)
    devices = [d for area in sorted(by_area) for d in by_area[area]]
    assert len(devices) >= OFFLINE, "the sample street is too small for this storm"
    return devices[:OFFLINE]


def storm(registry: Registry) -> list[AlertChange]:
    """Every device goes offline (major, grouped per agent); the smoke detectors among
    the first devices also raise a critical fire alarm. Arrival order mixes them."""
    changes: list[AlertChange] = []
    smoke = [d for d in storm_devices(registry) if d.type == "smoke_detector"][:CRITICAL]
    assert len(smoke) == CRITICAL
    critical = {d.id for d in smoke}
    for n, d in enumerate(storm_devices(registry)):
        changes.append(AlertChange("fire", f"device.offline:{d.id}", "device.offline",
                                   "device.offline", "major", d.id, T0 + n * 0.001, None,
                                   f"{d.id} offline"))
        if d.id in critical:
            changes.append(AlertChange("fire", f"fire.alarm:{d.id}", "fire.alarm", "fire.alarm",
                                       "critical", d.id, T0 + n * 0.001, 1.0,
                                       f"fire alarm on {d.id}"))
    return changes


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[SqliteOpStore]:
    store = SqliteOpStore(tmp_path / "ops.sqlite")
    yield store
    store.close()


def test_a_storm_of_1000_alerts_is_delivered_grouped_critical_first(ops: SqliteOpStore) -> None:
    registry = load_registry(DEFAULT_CONFIG_DIR)
    changes = storm(registry)
    assert len(changes) == OFFLINE + CRITICAL == 1000
    sink = RecordingSink()
    notifier = LogNotifier()
    dispatcher = Dispatcher(registry, ops, notifier, [sink], ManualClock(T0))
    commits: list[str] = []
    ops._con.set_trace_callback(
        lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None
    )

    applied = dispatcher.apply(changes)
    ops._con.set_trace_callback(None)

    # One transaction for the whole batch.
    assert len(commits) == 1
    # Nothing lost: every change is a stored, firing alert with on-duty receivers.
    assert len(applied) == 1000
    firing = ops.firing_alerts()
    assert {a.fingerprint for a in firing} == {c.fingerprint for c in changes}
    for alert in firing:
        assert alert.receivers, f"alert {alert.fingerprint} reached nobody"
        for rid in alert.receivers:
            assert on_duty(registry.receivers[rid], T0), f"{rid} is off duty"
    # Every alert is on the SSE log, in order, and the streams were woken for all of it.
    log = ops.alert_log_after(0, None, limit=1000) + ops.alert_log_after(1000, None, limit=1000)
    seqs = [seq for seq, _ in log]
    assert seqs == sorted(seqs) and notifier.last_seq == seqs[-1]
    assert {a.id for _, a in log} == {a.id for a in firing}
    # Critical first: stored and published before any major alert.
    assert [a.severity for a in applied] == sorted(
        (a.severity for a in applied), key=lambda s: s != "critical"
    )
    # (A critical alert is published again when its incident is opened: same rule.)
    published = [a.severity for a in sink.published]
    first_major = published.index("major")
    assert set(published[:first_major]) == {"critical"}
    assert set(published[first_major:]) == {"major"}
    assert len({a.id for a in sink.published if a.severity == "critical"}) == CRITICAL
    # Grouped: the offline alerts notify once per (agent, rule), by the group's first.
    # Offline devices a route does not group (lifts: each car matters) notify each.
    grouped: dict[tuple[str, ...], list[int]] = {}
    single: set[int] = set()
    for alert in firing:
        if alert.type != "device.offline":
            continue
        device = registry.devices[alert.device]
        labels = labels_of(alert.type, alert.severity, alert.rule, device, registry)
        route = dispatcher.routes.match(labels)[0]
        if route.group_by:
            grouped.setdefault(Dispatcher._group_of(route, labels), []).append(alert.id)
        else:
            single.add(alert.id)
    assert len(grouped) >= 10 and sum(map(len, grouped.values())) > len(grouped)
    # A sensor in a building with a confirmed fire is inhibited: stored, armed and held
    # by the escalator, not notified (the fire alarm was, first).
    by_id = {a.id: a for a in firing}
    inhibited = {i for i in by_id if dispatcher._suppressed_now(by_id[i], T0) is not None}
    assert 0 < len(inhibited) < len(by_id)
    offline = [a.id for a in sink.published if a.type == "device.offline"]
    assert len(offline) == len(set(offline))
    assert set(offline) & single == single - inhibited
    for members in grouped.values():
        expected = [] if min(members) in inhibited else [min(members)]
        assert [m for m in members if m in offline] == expected, "one per group, its first"
    # Armed: every alert has its escalation timer row; each critical has its incident.
    with ops.read() as cur:
        timers = cur.execute("SELECT count(*) FROM escalations").fetchone()[0]
        incidents = cur.execute("SELECT count(*) FROM incidents").fetchone()[0]
    assert timers == 1000
    # One incident per real-world event: the criticals of one group (a fire in one
    # building, one lift) share theirs (dispatch.incidents).
    critical = [a for a in firing if a.severity == "critical"]
    assert len(critical) == CRITICAL
    assert incidents == len({dispatcher.grouper.group_of(a).key for a in critical}) > 1
    assert all(getattr(ops.get_alert(a.id), "incident_id", None) is not None for a in critical)


def test_severity_first_keeps_each_fingerprint_in_order() -> None:
    def ch(kind: str, fp: str, severity: str) -> AlertChange:
        return AlertChange(kind, fp, "r", "t", severity, "d", T0, None, "")  # type: ignore[arg-type]

    changes = [ch("fire", "a", "minor"), ch("fire", "b", "major"), ch("fire", "a", "critical"),
               ch("resolve", "b", "major"), ch("fire", "c", "warning")]
    ordered = severity_first(changes)
    assert [(c.fingerprint, c.kind, c.severity) for c in ordered] == [
        ("a", "fire", "minor"), ("a", "fire", "critical"),
        ("b", "fire", "major"), ("b", "resolve", "major"), ("c", "fire", "warning"),
    ]


def test_a_failed_batch_keeps_nothing_and_the_next_one_works(ops: SqliteOpStore) -> None:
    registry = load_registry(DEFAULT_CONFIG_DIR)
    changes = storm(registry)[:50]
    dispatcher = Dispatcher(registry, ops, LogNotifier(), [], ManualClock(T0))
    original = dispatcher.state.start_timers

    def broken(rows: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    dispatcher.state.start_timers = broken  # type: ignore[method-assign]
    with pytest.raises(sqlite3.OperationalError):
        dispatcher.apply(changes)
    assert ops.firing_alerts() == [] and ops.last_log_seq() == 0
    dispatcher.state.start_timers = original  # type: ignore[method-assign]
    assert len(dispatcher.apply(changes)) == 50
    with ops.read() as cur:
        assert cur.execute("SELECT count(*) FROM escalations").fetchone()[0] == 50


def test_the_storm_on_every_store_kind_is_all_stored_logged_and_armed(
    op_kind: OpStoreKind,
) -> None:
    registry = load_registry(DEFAULT_CONFIG_DIR)
    changes = storm(registry)
    ops = op_kind.open()
    try:
        sink = RecordingSink()
        dispatcher = Dispatcher(registry, ops, LogNotifier(), [sink], ManualClock(T0))
        # Ingest hands over batches of its own size: three here, resolves in the last.
        resolves = [AlertChange("resolve", c.fingerprint, c.rule, c.type, c.severity,
                                c.device, c.ts + 60, None, c.summary) for c in changes[:40]]
        dispatcher.apply(changes[:600])
        dispatcher.apply(changes[600:])
        dispatcher.apply(resolves)
        assert len(ops.firing_alerts()) == 1000 - 40
        assert len(column(ops, "SELECT alert_id FROM escalations")) == 1000
        assert len(column(ops, "SELECT alert_id FROM escalations WHERE mode = 'done'")) >= 40
        assert ops.last_log_seq() == len(column(ops, "SELECT seq FROM alert_log"))
        assert {a.severity for a in sink.published[:10]} == {"critical"}
    finally:
        ops.close()


def test_a_store_batch_rolls_back_whole_and_nested_calls_join_it(op_kind: OpStoreKind) -> None:
    ops = op_kind.open()
    try:
        with pytest.raises(RuntimeError), ops.batch():
            ops.add_dead_letter("t", None, "r", b"x", T0)
            with ops.batch(), ops.tx() as cur:
                cur.execute("SELECT 1")
            raise RuntimeError("the batch fails")
        assert ops.dead_letter_count() == 0
        with ops.batch():
            ops.add_dead_letter("t", None, "r", b"x", T0)
            ops.add_dead_letter("t", None, "r", b"y", T0)
            assert ops.dead_letter_count() == 2  # a read inside sees the batch's writes
        assert ops.dead_letter_count() == 2
    finally:
        ops.close()


class GatedNotifier(LogNotifier):
    """Holds the first wake-up (dispatch's, after its first commit) until released, so
    a test can submit while that batch is still in progress."""

    def __init__(self) -> None:
        super().__init__()
        self.first = threading.Event()
        self.release = threading.Event()

    def notify(self, seq: int, urgent: Sequence[int] = ()) -> None:
        if not self.first.is_set():
            self.first.set()
            assert self.release.wait(10), "the test never released the first batch"
        super().notify(seq, urgent)


def test_a_fire_alarm_decided_during_a_storm_batch_goes_after_one_chunk_of_it(
    ops: SqliteOpStore,
) -> None:
    """The readings lane hands a storm chunk's changes over as one batch; a fire alarm
    decided while dispatch works on it is stored after one `CHUNK` of the storm, not
    after the whole batch (it was after all 800 here)."""
    registry = load_registry(DEFAULT_CONFIG_DIR)
    detectors = [d.id for d in registry.config.devices
                 if d.type in ("smoke_detector", "heat_detector")]
    warnings = [AlertChange("fire", f"battery-low:{d}", "battery-low", "device.battery_low",
                            "warning", d, T0, 8.0, f"{d} battery") for d in detectors[1:801]]
    assert len(warnings) == 800
    alarm = AlertChange("fire", f"fire.alarm:{detectors[0]}", "fire.alarm", "fire.alarm",
                        "critical", detectors[0], T0, 1.0, "fire alarm")
    notifier = GatedNotifier()
    dispatcher = Dispatcher(registry, ops, notifier, [], ManualClock(T0))
    storm_ticket = dispatcher.enqueue(warnings)
    lane = threading.Thread(target=dispatcher.finish, args=(storm_ticket,))
    lane.start()
    assert notifier.first.wait(10)  # the storm's first batch is committed, not yet done
    alarm_ticket = dispatcher.enqueue([alarm])
    alarm_lane = threading.Thread(target=dispatcher.finish, args=(alarm_ticket,))
    alarm_lane.start()
    notifier.release.set()
    lane.join(30)
    alarm_lane.join(30)
    assert not lane.is_alive() and not alarm_lane.is_alive()
    logged = [a.fingerprint for _, a in ops.alert_log_after(0, None, 2000)]
    # nothing lost (the alarm is logged again when its incident opens)
    assert set(logged) == {c.fingerprint for c in [*warnings, alarm]}
    assert logged.index(alarm.fingerprint) == CHUNK

