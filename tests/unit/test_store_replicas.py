"""The op store's contract for replicas: two store objects on one database (two
replicas) decide every change once. Runs on SQLite (two connections to one file) and on
PostgreSQL (two pools); the LISTEN/NOTIFY wake-up is PostgreSQL's alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from typing import cast

import pytest

from gridwatch.records import Alert, AlertChange, DeviceEvent
from ingest.decode import Decoded
from ingest.receipts import Receipts
from store.interfaces import AlertContext
from store.opstate_dispatch import DispatchState
from store.opstate_events import EventLedger
from store.opstate_incidents import IncidentStore
from store.opstate_receipts import LIVE_WINDOW_S, ReceiptLanes
from store.opstate_sql import SqlOpStore
from store.opstate_webhooks import Delivery, WebhookLog
from tests.support.op_stores import OpStoreKind, column

T0 = 1_764_090_000.0
CTX = AlertContext("smoke_detector", "lc/d2/wy1/mg07", "b12", ["guard:wy1"])


def fire(n: int, ts: float = T0) -> AlertChange:
    return AlertChange(
        "fire", f"smoke:dev{n}", "smoke", "fire.alarm", "critical", f"dev{n}", ts, 1.0, "fire"
    )


@pytest.fixture
def pair(op_kind: OpStoreKind) -> Iterator[tuple[SqlOpStore, SqlOpStore]]:
    a, b = op_kind.open(), op_kind.open()
    yield a, b
    a.close()
    b.close()


def together(*work: Callable[[], object]) -> list[object]:
    """Run each callable in its own thread, released at once; their results in order."""
    gate = threading.Barrier(len(work))
    results: list[object] = [None] * len(work)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        gate.wait()
        try:
            results[i] = work[i]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


def test_the_same_change_from_a_second_replica_is_not_logged_again(
    pair: tuple[SqlOpStore, SqlOpStore],
) -> None:
    a, b = pair
    first = a.apply_change(fire(1), CTX, T0)
    assert first is not None
    assert b.apply_change(fire(1), CTX, T0 + 0.1) is None  # adopted, nothing new
    later = b.apply_change(fire(1, T0 + 5), CTX, T0 + 5)  # a real repeat still updates
    assert later is not None and later[0].id == first[0].id
    assert column(a, "SELECT kind FROM alert_log ORDER BY seq") == ["fire", "update"]


def test_a_late_replica_s_fire_of_an_episode_already_resolved_adds_nothing(
    pair: tuple[SqlOpStore, SqlOpStore],
) -> None:
    """Replica B, back from a crash, drains its queued session after A alerted a fire
    and resolved it: B's detectors decide the same fire again, from the same event at
    the same device time. That is the episode A already alerted (one fire, one alert);
    a new fire of the same fingerprint afterwards is a new alert."""
    a, b = pair
    first = a.apply_change(fire(1), CTX, T0)
    assert first is not None
    end = replace(fire(1, T0 + 30), kind="resolve")
    assert a.apply_change(end, CTX, T0 + 30) is not None
    assert b.apply_change(fire(1), CTX, T0 + 60) is None
    assert b.apply_change(end, CTX, T0 + 60) is None
    again = b.apply_change(fire(1, T0 + 90), CTX, T0 + 90)
    assert again is not None and again[0].id != first[0].id
    assert column(a, "SELECT kind FROM alert_log ORDER BY seq") == ["fire", "resolve", "fire"]
    assert column(a, "SELECT count(*) FROM alerts") == [2]


def test_race_both_replicas_decide_the_same_fire_100_times(
    pair: tuple[SqlOpStore, SqlOpStore],
) -> None:
    """Each round both replicas fire the same fingerprint at once, then open its
    incident at once: one alert, one 'fire' log entry and one incident every time."""
    a, b = pair
    for n in range(100):
        results = together(*(partial(s.apply_change, fire(n), CTX, T0) for s in (a, b)))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1, f"round {n}: {results}"
        alert_id = cast(tuple[Alert, int], winners[0])[0].id
        opened = together(
            *(partial(IncidentStore(s).open_or_join, f"k{n}", CTX.grid, alert_id, T0, "x")
              for s in (a, b))
        )
        assert sorted(cast(tuple[int, bool, object], o)[1] for o in opened) == [False, True]
    assert column(a, "SELECT count(*) FROM alerts") == [100]
    assert column(a, "SELECT count(*) FROM alert_log WHERE kind = 'fire'") == [100]
    assert column(a, "SELECT count(*) FROM incidents") == [100]
    assert column(a, "SELECT count(DISTINCT incident_id) FROM alerts") == [100]


def test_an_escalation_step_fires_once_across_replicas(
    pair: tuple[SqlOpStore, SqlOpStore],
) -> None:
    a, b = pair
    stored = a.apply_change(fire(1), CTX, T0)
    assert stored is not None
    alert_id = stored[0].id
    DispatchState(a).start_timer(alert_id, T0 + 60, 60, 600)
    for _ in range(20):
        due = [DispatchState(s).due_timers(T0 + 61) for s in (a, b)]
        assert [len(d) for d in due] == [1, 1]  # both see it due
        steps = together(
            *(partial(DispatchState(s).fire_timer, d[0], T0 + 61, 1, ["guard:wy1", "area"],
                      "escalate", T0 + 61 + 60)
              for s, d in zip((a, b), due, strict=True))
        )
        assert sum(step is not None for step in steps) == 1
        DispatchState(a).set_timer(alert_id, "escalate", T0 + 60)  # due again
    assert column(a, "SELECT count(*) FROM alert_log WHERE kind = 'update'") == [20]


def test_webhook_deliveries_are_claimed_by_one_replica(
    pair: tuple[SqlOpStore, SqlOpStore],
) -> None:
    a, b = pair
    for i in range(50):
        assert WebhookLog(a).enqueue("unit", "http://x", f"alert-log-{i}", "{}", T0)
    assert not WebhookLog(b).enqueue("unit", "http://x", "alert-log-0", "{}", T0)  # once
    claims = together(*(partial(WebhookLog(s).due, T0, limit=30) for s in (a, b)))
    ids = [d.id for claim in claims for d in cast(list[Delivery], claim)]
    assert len(ids) == len(set(ids)) == 50  # every delivery once, none twice
    assert WebhookLog(a).due(T0 + 1) == []  # claimed: leased, not due again yet


def test_a_replica_is_woken_by_the_other_ones_changes(op_kind: OpStoreKind) -> None:
    if op_kind.name != "postgresql":
        pytest.skip("one process owns an embedded store: its own dispatcher wakes its streams")
    a, b = op_kind.open(), op_kind.open()
    seen: list[int] = []
    woke = threading.Event()

    def on_seq(seq: int) -> None:
        seen.append(seq)
        if seq > 0:
            woke.set()

    try:
        b.listen(on_seq)
        time.sleep(0.3)  # LISTEN issued
        stored = a.apply_change(fire(1), CTX, T0)
        assert stored is not None
        assert woke.wait(5), "no NOTIFY reached the other replica"
        assert stored[1] in seen
    finally:
        a.close()
        b.close()


def test_each_replica_keeps_its_own_event_decisions(
    pair: tuple[SqlOpStore, SqlOpStore],
) -> None:
    """Replica A having decided an event must not make B skip it: B's detectors need
    it too (and B's repeat of the alert change is adopted, not logged)."""
    a, b = pair
    event = DeviceEvent("agent-1", "e1", "panel-1", T0, "fire.alarm", "start")
    ledger_a, ledger_b = EventLedger(a, owner="replica-a"), EventLedger(b, owner="replica-b")
    assert ledger_a.begin([event]) == ([], [event])
    ledger_a.finish([event], T0)
    assert ledger_a.begin([event]) == ([], [])  # A: decided
    assert ledger_b.begin([event]) == ([], [event])  # B: still to decide
    assert (ledger_a.undecided(), ledger_b.undecided()) == (0, 1)


def test_each_replica_keeps_its_own_receipt_lanes(pair: tuple[SqlOpStore, SqlOpStore]) -> None:
    """A lane says what this replica's store holds: another's must not be loaded."""
    a, b = pair
    lanes_a, lanes_b = ReceiptLanes(a, owner="replica-a"), ReceiptLanes(b, owner="replica-b")
    lanes_a.save({("agent-1", "readings"): (41, {43, 44}, T0)})
    lanes_a.save({("agent-1", "readings"): (44, set(), None)})  # moved on: replaced
    assert ReceiptLanes(b, owner="replica-a").load() == {("agent-1", "readings"): (44, set(), None)}
    assert lanes_b.load() == {}


def test_receipts_cover_only_what_every_live_replica_saved(
    pair: tuple[SqlOpStore, SqlOpStore],
) -> None:
    """Issue 17 (replicas): the min over live replicas; a dead one stops counting after
    the liveness window; a live one with no lane holds the topic at 0."""
    a, b = pair
    lanes_a, lanes_b = ReceiptLanes(a, owner="replica-a"), ReceiptLanes(b, owner="replica-b")
    assert lanes_a.others_upto("agent-1", T0) is None  # alone: unchanged
    lanes_b.save({("agent-1", "readings"): (40, set(), None)}, T0)
    assert lanes_a.others_upto("agent-1", T0 + 1) == {"readings": 40}
    # B's heartbeat is older than the window: B no longer holds receipts back.
    assert lanes_a.others_upto("agent-1", T0 + LIVE_WINDOW_S + 1) is None
    ReceiptLanes(b, owner="replica-c").beat(T0)  # live, stored nothing yet
    assert lanes_a.others_upto("agent-1", T0 + 1) == {"readings": 0}


def test_a_receipt_is_the_min_of_this_replica_and_the_live_others(
    pair: tuple[SqlOpStore, SqlOpStore],
) -> None:
    a, b = pair
    now = [T0]
    sent: list[tuple[str, dict[str, float]]] = []
    lanes_b = ReceiptLanes(b, owner="replica-b")
    lanes_b.save({("agent-1", "readings"): (3, set(), None)}, T0)
    rec = Receipts(lambda ag, body: sent.append((ag, body)), lambda: now[0],
                   ReceiptLanes(a, owner="replica-a"))
    rec.after_write([Decoded(agent="agent-1", kind="readings", seq=s) for s in range(1, 11)])
    assert sent[-1][1]["readings"] == 3  # B has saved only up to 3
    now[0] = T0 + LIVE_WINDOW_S + 1  # B dead for good: A's own mark counts
    rec.after_write([Decoded(agent="agent-1", kind="readings", seq=11)])
    assert sent[-1][1]["readings"] == 11


def test_a_fire_timed_by_the_ticker_and_by_a_late_replica_s_backlog_is_one_alert(
    pair: tuple[SqlOpStore, SqlOpStore],
) -> None:
    """Hydrant pressure low for 45 s, readings every 30 s. Replica A is live: its ticker
    finds the condition due 45 s after it began. Replica B was down and drains the
    readings afterwards: the reading 60 s in finds it due. Both date the fire when it
    became due, so A's resolved episode is matched and B adds nothing."""
    from detectors.engine import DetectorEngine
    from gridwatch.clock import ManualClock
    from tests.support.tiny_street import device, pressure_rule, reading, street

    registry = street([device("h1", "hydrant_pressure", 30.0)],
                      thresholds=[pressure_rule(min_duration_s=45.0)])
    metric = "water_pressure_mpa"
    low = [reading("h1", T0 + dt, 0.05, metric) for dt in (0.0, 30.0, 60.0)]
    back = reading("h1", T0 + 90.0, 0.30, metric)
    live = DetectorEngine(registry, clock=ManualClock(T0))
    a_changes = live.process_readings(low[:2]) + live.tick(T0 + 46.0)
    a_changes += live.process_readings([*low[2:], back])
    late = DetectorEngine(registry, clock=ManualClock(T0))
    b_changes = late.process_readings([*low, back])
    a_fire = [c for c in a_changes if c.kind == "fire"]
    b_fire = [c for c in b_changes if c.kind == "fire"]
    assert [c.ts for c in a_fire] == [c.ts for c in b_fire] == [T0 + 45.0]
    a, b = pair
    ctx = replace(CTX, device_type="hydrant_pressure")
    for change in a_changes:
        a.apply_change(change, ctx, T0 + 100)
    assert [b.apply_change(change, ctx, T0 + 200) for change in b_changes] == [None, None]
    assert column(a, "SELECT kind FROM alert_log ORDER BY seq") == ["fire", "resolve"]
