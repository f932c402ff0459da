"""Dispatcher on the real SqliteOpStore: store, wake the SSE log, publish to sinks."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from config.models import ReceiverSpec
from config.registry import Registry
from dispatch.dispatcher import Dispatcher
from gridwatch.alert_json import alert_json
from gridwatch.clock import ManualClock
from gridwatch.notify import LogNotifier
from gridwatch.records import Alert, AlertChange, ChangeKind
from store.opstate_sqlite import SqliteOpStore
from tests.support.tiny_street import lc_street

T0 = 1_764_090_000.0  # 2025-11-25 17:00 UTC, 01:00 in Shanghai
FP = "smoke.high:a1-smoke-1"


def change(
    kind: ChangeKind,
    ts: float,
    fingerprint: str = FP,
    severity: str = "major",
    value: float | None = 12.0,
    device: str = "a1-smoke-1",
) -> AlertChange:
    return AlertChange(
        kind,
        fingerprint,
        "smoke.high",
        "fire.smoke",
        severity,
        device,
        ts,
        value,
        f"{device} {kind} {value}",
    )


class RecordingSink:
    def __init__(self) -> None:
        self.published: list[tuple[Alert, dict[str, Any]]] = []

    def publish(self, alert: Alert, payload: dict[str, Any]) -> None:
        self.published.append((alert, payload))


class BrokenSink:
    def __init__(self) -> None:
        self.calls = 0

    def publish(self, alert: Alert, payload: dict[str, Any]) -> None:
        self.calls += 1
        raise ConnectionError("broker away")


def registry() -> Registry:
    receivers = [
        ReceiverSpec(id="guard-a1", name="guard", kind="guard_room", grid="lc/d1/a1"),
        ReceiverSpec(id="ops", name="ops", kind="operations", grid="lc"),
    ]
    return Registry.from_config(lc_street().config.model_copy(update={"receivers": receivers}))


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[SqliteOpStore]:
    store = SqliteOpStore(tmp_path / "ops.sqlite")
    yield store
    store.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0 + 1)


@pytest.fixture
def notifier() -> LogNotifier:
    return LogNotifier()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def dispatcher(
    ops: SqliteOpStore, notifier: LogNotifier, sink: RecordingSink, clock: ManualClock
) -> Dispatcher:
    return Dispatcher(registry(), ops, notifier, [sink], clock)


def test_one_firing_alert_per_fingerprint_through_fire_update_resolve(
    dispatcher: Dispatcher, ops: SqliteOpStore, clock: ManualClock
) -> None:
    [fired] = dispatcher.apply([change("fire", T0, value=12.0)])
    assert (fired.status, fired.value, fired.started_at) == ("firing", 12.0, T0)
    clock.advance(5)
    [again] = dispatcher.apply([change("fire", T0 + 5, value=14.0)])  # a repeat fire
    [updated] = dispatcher.apply([change("update", T0 + 10, value=15.0)])
    assert again.id == updated.id == fired.id
    assert [(a.id, a.value) for a in ops.firing_alerts()] == [(fired.id, 15.0)]
    [resolved] = dispatcher.apply([change("resolve", T0 + 20, value=3.0)])
    assert (resolved.id, resolved.status, resolved.resolved_at) == (fired.id, "resolved", T0 + 20)
    assert ops.firing_alerts() == []
    # A new fire after the resolve opens a new alert; the old one stays resolved.
    [refired] = dispatcher.apply([change("fire", T0 + 30)])
    assert refired.id != fired.id
    assert [a.id for a in ops.firing_alerts()] == [refired.id]
    stored = ops.get_alert(fired.id)
    assert stored is not None and stored.status == "resolved"


def test_the_registry_decides_grid_building_type_and_receivers(dispatcher: Dispatcher) -> None:
    [alert] = dispatcher.apply([change("fire", T0, severity="critical")])
    device = registry().devices["a1-smoke-1"]
    assert (alert.grid, alert.building, alert.device_type) == (
        device.grid,
        device.building,
        device.type,
    )
    assert alert.receivers == ["guard-a1", "ops"]
    [other] = dispatcher.apply([change("fire", T0, "hydrant:wy1-tank-1", device="wy1-tank-1")])
    assert other.grid == "lc/d2/wy1/mg08"
    assert other.receivers == ["ops"]  # nobody front-line in lc/d2: the fallback


def test_update_or_resolve_without_a_firing_alert_changes_nothing(
    dispatcher: Dispatcher, notifier: LogNotifier, sink: RecordingSink, ops: SqliteOpStore
) -> None:
    assert dispatcher.apply([change("update", T0), change("resolve", T0 + 1)]) == []
    assert sink.published == []
    assert notifier.last_seq == 0
    assert ops.last_log_seq() == 0


def test_a_change_for_an_unknown_device_is_dropped_and_the_rest_go_on(
    dispatcher: Dispatcher, sink: RecordingSink
) -> None:
    out = dispatcher.apply([change("fire", T0, "x:ghost", device="ghost"), change("fire", T0)])
    assert [a.device for a in out] == ["a1-smoke-1"]
    assert [a.device for a, _ in sink.published] == ["a1-smoke-1"]


def test_notifier_follows_the_alert_log(
    dispatcher: Dispatcher, notifier: LogNotifier, ops: SqliteOpStore
) -> None:
    seqs = []
    for c in (change("fire", T0), change("update", T0 + 1), change("resolve", T0 + 2)):
        dispatcher.apply([c])
        seqs.append(notifier.last_seq)
    assert seqs == [1, 2, 3]
    assert notifier.last_seq == ops.last_log_seq()
    dispatcher.apply([change("fire", T0 + 3, "other:a1-smoke-1"), change("fire", T0 + 3)])
    assert notifier.last_seq == ops.last_log_seq() == 5


def test_sinks_get_the_alert_json(
    dispatcher: Dispatcher, sink: RecordingSink, ops: SqliteOpStore, clock: ManualClock
) -> None:
    [fired] = dispatcher.apply([change("fire", T0, severity="critical", value=12.5)])
    [resolved] = dispatcher.apply([change("resolve", T0 + 60, value=1.0)])
    # A critical alert opens an incident at once; the alert's new incident_id is
    # published as an update between the fire and the resolve.
    assert [(a.id, a.status) for a, _ in sink.published] == [
        (fired.id, "firing"),
        (fired.id, "firing"),
        (fired.id, "resolved"),
    ]
    assert sink.published[0][0].incident_id is None
    assert sink.published[1][0].incident_id is not None
    for alert, payload in sink.published:
        assert payload == alert_json(alert)
    payload = sink.published[0][1]
    assert payload == {
        "id": fired.id,
        "fingerprint": FP,
        "rule": "smoke.high",
        "type": "fire.smoke",
        "severity": "critical",
        "status": "firing",
        "device": "a1-smoke-1",
        "device_type": "smoke_detector",
        "grid": "lc/d1/a1/m1",
        "building": fired.building,
        "location": registry().location("a1-smoke-1"),
        "started_at": "2025-11-25T17:00:00+00:00",
        "updated_at": "2025-11-25T17:00:00+00:00",
        "resolved_at": None,
        "value": 12.5,
        "summary": "a1-smoke-1 fire 12.5",
        "acked_by": None,
        "acked_at": None,
        "ack_note": None,
        "escalation_level": 0,
        "incident_id": None,
        "receivers": ["guard-a1", "ops"],
    }
    assert payload["location"]["text"] == "居民区一 1号楼 1层"
    assert sink.published[-1][1]["resolved_at"] == "2025-11-25T17:01:00+00:00"
    # What was published is what is stored.
    stored = ops.get_alert(fired.id)
    assert stored is not None and alert_json(stored) == sink.published[-1][1]
    assert resolved.id == fired.id


def test_a_raising_sink_does_not_stop_dispatch(
    ops: SqliteOpStore, notifier: LogNotifier, clock: ManualClock
) -> None:
    broken, good = BrokenSink(), RecordingSink()
    dispatcher = Dispatcher(registry(), ops, notifier, [broken, good], clock)
    out = dispatcher.apply(
        [change("fire", T0, "a:a1-smoke-1"), change("fire", T0, "b:a1-elev-1", device="a1-elev-1")]
    )
    assert [a.fingerprint for a in out] == ["a:a1-smoke-1", "b:a1-elev-1"]
    assert broken.calls == 2
    assert [a.fingerprint for a, _ in good.published] == ["a:a1-smoke-1", "b:a1-elev-1"]
    assert len(ops.firing_alerts()) == 2
    assert notifier.last_seq == 2
    # And the next call works too.
    acked = dispatcher.ack(out[0].id, "guard-1", "on my way")
    assert acked is not None and broken.calls == 3 and len(good.published) == 3


def test_ack_returns_the_acked_alert_and_none_for_an_unknown_id(
    dispatcher: Dispatcher,
    sink: RecordingSink,
    notifier: LogNotifier,
    clock: ManualClock,
    ops: SqliteOpStore,
) -> None:
    [fired] = dispatcher.apply([change("fire", T0)])
    clock.advance(90)
    acked = dispatcher.ack(fired.id, "guard-1", "checked, burnt toast")
    assert acked is not None
    assert (acked.id, acked.acked_by, acked.acked_at) == (fired.id, "guard-1", T0 + 91)
    assert acked.status == "firing"  # an ack does not resolve
    assert ops.ack_note(fired.id) == "checked, burnt toast"
    assert sink.published[-1] == (acked, alert_json(acked))
    assert notifier.last_seq == 2
    published = len(sink.published)
    assert dispatcher.ack(fired.id + 1000, "guard-1", "?") is None
    assert len(sink.published) == published  # nothing fanned out
    assert notifier.last_seq == 2


def test_the_clock_stamps_the_log_not_the_alert(
    dispatcher: Dispatcher, ops: SqliteOpStore, clock: ManualClock, tmp_path: Path
) -> None:
    clock.now = T0 + 500
    [fired] = dispatcher.apply([change("fire", T0)])
    assert (fired.started_at, fired.updated_at) == (T0, T0)  # device time
    assert [(seq, a.id) for seq, a in ops.alert_log_after(0, None)] == [(1, fired.id)]
    with closing(sqlite3.connect(tmp_path / "ops.sqlite")) as con:
        logged = [at for (at,) in con.execute("SELECT at FROM alert_log ORDER BY seq")]
    assert logged == [T0 + 500]  # server time


def test_a_fire_raised_during_a_storm_of_lesser_alerts_is_stored_next(
    dispatcher: Dispatcher, sink: RecordingSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power cut silences buildings: 600 lesser alerts decided in batches of 10 (the
    readings lane hands changes over per chunk) and queued at once; a fire handed over
    from another thread while the first batch is stored goes next."""
    storm = [dispatcher.enqueue([change("fire", T0, fingerprint=f"offline:{b}-{i}",
                                        severity="minor") for i in range(10)])
             for b in range(60)]
    started = threading.Event()
    original = dispatcher._apply_one

    def watched(*args: Any) -> Alert | None:
        started.set()
        return original(*args)

    monkeypatch.setattr(dispatcher, "_apply_one", watched)
    worker = threading.Thread(target=lambda: [dispatcher.finish(t) for t in storm])
    worker.start()
    started.wait(5)
    [fire] = dispatcher.finish(dispatcher.enqueue([change("fire", T0, severity="critical")]))
    worker.join(60)
    order = list(dict.fromkeys(alert.fingerprint for alert, _ in sink.published))
    assert len(order) == 601  # (the fire is published twice: it opens an incident)
    # Only the batches already in progress when the fire was handed over went first.
    assert order.index(fire.fingerprint) <= 20, order.index(fire.fingerprint)
