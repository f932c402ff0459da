from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from config.models import EventRuleSpec, OfflineRuleSpec
from config.registry import Registry
from detectors.engine import DetectorEngine
from detectors.events import event_fingerprint
from detectors.lifecycle import UPDATE_INTERVAL_S
from detectors.offline import offline_fingerprint
from detectors.threshold import threshold_fingerprint
from gridwatch.clock import ManualClock
from gridwatch.records import AlertChange
from tests.support.tiny_street import (
    T0,
    device,
    event,
    pressure_rule,
    reading,
    smoke_rule,
    street,
)

SMOKE = smoke_rule(min_duration_s=20.0)
PRESSURE = pressure_rule()
OFFLINE = OfflineRuleSpec(factor=2.0, grace_s=10.0, severity="major")
ALARM = EventRuleSpec(event_type="fire.alarm", severity="critical", summary="{device} alarm")


def small_street() -> Registry:
    return street(
        [
            device("s1", interval_s=60.0),
            device("s2", interval_s=60.0),
            device("p1", "hydrant_pressure", interval_s=60.0),
            device("panel1", "fire_panel", interval_s=60.0),
        ],
        thresholds=[SMOKE, PRESSURE],
        events=[ALARM],
        offline=OFFLINE,
    )


def engine(registry: Registry | None = None) -> tuple[DetectorEngine, ManualClock]:
    clock = ManualClock(T0)
    return DetectorEngine(registry or small_street(), clock=clock), clock


def kinds(changes: Sequence[AlertChange]) -> list[str]:
    return [c.kind for c in changes]


def test_readings_reach_every_rule_with_the_rule_summary() -> None:
    eng, _ = engine()
    low = PRESSURE.fire_at / 2
    changes = eng.process_readings(
        [
            reading("p1", T0, low, metric=PRESSURE.metric),
            reading("s1", T0, SMOKE.fire_at),
        ]
    )
    [change] = changes
    assert change.fingerprint == threshold_fingerprint(PRESSURE.id, "p1")
    assert change.summary == PRESSURE.summary.format(device="p1", value=low, metric=PRESSURE.metric)


def test_unknown_devices_and_metrics_are_ignored() -> None:
    eng, _ = engine()
    batch = [
        reading("ghost", T0, SMOKE.fire_at * 10),
        reading("s1", T0, SMOKE.fire_at * 10, metric="battery_pct"),
    ]
    assert eng.process_readings(batch) == []


def test_tick_reports_pending_conditions_and_silent_devices() -> None:
    eng, clock = engine()
    eng.process_readings([reading("s1", T0, SMOKE.fire_at)])
    clock.advance(SMOKE.min_duration_s)
    assert [(c.kind, c.fingerprint) for c in eng.tick()] == [
        ("fire", threshold_fingerprint(SMOKE.id, "s1"))
    ]
    silent = OFFLINE.factor * 60.0 + OFFLINE.grace_s
    fired = eng.tick(T0 + silent + 1)
    assert {c.fingerprint for c in fired} == {
        offline_fingerprint(d) for d in ("s1", "s2", "p1", "panel1")
    }


def test_any_reading_or_event_counts_as_a_sign_of_life() -> None:
    eng, clock = engine()
    clock.advance(OFFLINE.factor * 60.0 + OFFLINE.grace_s + 1)
    eng.tick()
    back = eng.process_readings([reading("s1", clock.now, 50.0, metric="battery_pct")])
    assert [(c.kind, c.fingerprint) for c in back] == [("resolve", offline_fingerprint("s1"))]
    changes = eng.process_events([event("panel1", "fire.alarm", "instant", ts=clock.now)])
    assert [c.kind for c in changes] == ["fire", "resolve"]
    assert changes[0].type == ALARM.event_type


def test_restore_mid_condition_updates_instead_of_firing_again() -> None:
    before, _ = engine()
    before.process_readings([reading("s1", T0, SMOKE.fire_at)])
    [fired] = before.tick(T0 + SMOKE.min_duration_s)
    held = reading("s1", T0 + 60, SMOKE.fire_at + 1)

    # Without restore, a restarted engine would raise the alert afresh.
    forgetful, _ = engine()
    forgetful.process_readings([held])
    assert kinds(forgetful.tick(held.ts + SMOKE.min_duration_s)) == ["fire"]

    after, _ = engine()
    assert after.restore([(fired.fingerprint, "s1", fired.value)]) == []
    [update] = after.process_readings([held])
    assert (update.kind, update.fingerprint, update.value) == (
        "update",
        fired.fingerprint,
        held.value,
    )
    assert after.tick(held.ts + SMOKE.min_duration_s) == []
    later = held.ts + UPDATE_INTERVAL_S
    [resolve] = after.process_readings([reading("s1", later, SMOKE.clear_at - 1)])
    assert (resolve.kind, resolve.fingerprint) == ("resolve", fired.fingerprint)


def test_restore_claims_offline_and_event_alerts_and_returns_the_rest() -> None:
    eng, clock = engine()
    alarm = event_fingerprint("fire.alarm", "panel1", None)
    unknown = ["gone.rule:s1", offline_fingerprint("ghost"), threshold_fingerprint(SMOKE.id, "p1")]
    firing = [(offline_fingerprint("s2"), "s2", None), (alarm, "panel1", None)]
    unclaimed = eng.restore(firing + [(fp, fp.rsplit(":", 1)[1], None) for fp in unknown])
    assert unclaimed == unknown
    clock.advance(OFFLINE.factor * 60.0 + OFFLINE.grace_s + 1)
    assert offline_fingerprint("s2") not in {c.fingerprint for c in eng.tick()}
    assert kinds(
        eng.process_events([event("panel1", "fire.alarm", state="update", ts=clock.now)])
    ) == [
        "update",
        "resolve",
    ]


def test_ten_thousand_devices_in_one_batch() -> None:
    n = 10_000
    rng = random.Random(11)
    registry = street([device(f"s{i}") for i in range(n)], thresholds=[smoke_rule()])
    eng, _ = engine(registry)
    spec = registry.rules.thresholds[0]
    values = [rng.choice([spec.fire_at, spec.fire_at - 0.5, spec.clear_at - 1]) for _ in range(n)]
    batch = [reading(f"s{i}", T0, v) for i, v in enumerate(values)]
    changes = eng.process_readings(batch)
    assert len(changes) == sum(v >= spec.fire_at for v in values)
    assert {c.device for c in changes} == {r.device for r in batch if r.value >= spec.fire_at}
    assert eng.process_readings(batch) == []


def test_ten_thousand_devices_with_shuffled_repeats_apply_in_time_order() -> None:
    n = 10_000
    rng = random.Random(12)
    registry = street([device(f"s{i}") for i in range(n)], thresholds=[smoke_rule()])
    eng, _ = engine(registry)
    spec = registry.rules.thresholds[0]
    steps = [
        (0.0, spec.fire_at),
        (UPDATE_INTERVAL_S, spec.fire_at + 1),
        (UPDATE_INTERVAL_S + 1, spec.clear_at - 1),
    ]
    batch = [reading(f"s{i}", T0 + dt, v) for i in range(n) for dt, v in steps[: 1 + i % 3]]
    rng.shuffle(batch)
    changes = eng.process_readings(batch)
    per_device: dict[str, list[str]] = defaultdict(list)
    for c in changes:
        per_device[c.device].append(c.kind)
    expected = ["fire", "update", "resolve"]
    assert len(changes) == len(batch)
    assert all(per_device[f"s{i}"] == expected[: 1 + i % 3] for i in range(n))
