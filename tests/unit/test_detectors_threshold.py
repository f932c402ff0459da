from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
import pytest

from config.models import ThresholdRuleSpec
from detectors.lifecycle import UPDATE_INTERVAL_S
from detectors.slots import DeviceIndex, ReadingBatch, rounds
from detectors.threshold import ThresholdRule, threshold_fingerprint
from gridwatch.records import AlertChange, Reading
from tests.support.tiny_street import T0, device, pressure_rule, reading, smoke_rule, street


class Harness:
    """One rule over a tiny street, fed batches of readings."""

    def __init__(self, spec: ThresholdRuleSpec, ids: Sequence[str] = ("s1", "s2")) -> None:
        registry = street([device(i, spec.device_type) for i in ids], thresholds=[spec])
        self.spec = spec
        self.index = DeviceIndex(registry)
        self.rule = ThresholdRule(spec, self.index)

    def feed(self, *readings: Reading) -> list[AlertChange]:
        return self.rule.process(ReadingBatch.from_readings(self.index, readings))

    def at(self, dev: str, ts: float, value: float) -> Reading:
        return reading(dev, ts, value, metric=self.spec.metric)


def kinds(changes: Sequence[AlertChange]) -> list[str]:
    return [c.kind for c in changes]


def nudge(spec: ThresholdRuleSpec, value: float, toward_safe: bool) -> float:
    """A value a hair past `value`, on the safe (non-firing) side or the other."""
    step = 1e-6 * (1.0 if spec.direction == "above" else -1.0)
    return value - step if toward_safe else value + step


@pytest.fixture(params=["above", "below"])
def h(request: pytest.FixtureRequest) -> Harness:
    return Harness(smoke_rule() if request.param == "above" else pressure_rule())


def test_fires_at_the_threshold_and_not_just_short_of_it(h: Harness) -> None:
    fire_at = h.spec.fire_at
    assert h.feed(h.at("s1", T0, nudge(h.spec, fire_at, toward_safe=True))) == []
    [change] = h.feed(h.at("s1", T0 + 1, fire_at))
    assert change.kind == "fire"
    assert change.fingerprint == threshold_fingerprint(h.spec.id, "s1")
    assert (change.device, change.ts, change.value) == ("s1", T0 + 1, fire_at)
    assert (change.rule, change.type, change.severity) == (
        h.spec.id,
        h.spec.alert_type,
        h.spec.severity,
    )


def test_hysteresis_band_keeps_firing_and_past_clear_resolves(h: Harness) -> None:
    spec = h.spec
    band = (spec.fire_at + spec.clear_at) / 2
    assert kinds(h.feed(h.at("s1", T0, spec.fire_at))) == ["fire"]
    later = T0 + UPDATE_INTERVAL_S
    assert kinds(h.feed(h.at("s1", later, band))) == ["update"]
    assert kinds(h.feed(h.at("s1", later + 1, spec.clear_at))) == []  # at clear_at still holds
    past_clear = nudge(spec, spec.clear_at, toward_safe=True)
    [change] = h.feed(h.at("s1", later + 2, past_clear))
    assert (change.kind, change.value) == ("resolve", past_clear)
    # Climbing back into the band after resolving does not fire again.
    assert h.feed(h.at("s1", later + 3, band)) == []


def test_min_duration_fires_only_once_held_long_enough() -> None:
    h = Harness(smoke_rule(min_duration_s=30.0))
    high = h.spec.fire_at + 1
    assert h.feed(h.at("s1", T0, high)) == []
    assert h.feed(h.at("s1", T0 + 29, high)) == []
    [change] = h.feed(h.at("s1", T0 + 30, high))
    assert (change.kind, change.ts) == ("fire", T0 + 30)


def test_min_duration_via_tick_uses_the_last_value() -> None:
    duration = 30.0
    h = Harness(smoke_rule(min_duration_s=duration))
    high = h.spec.fire_at + 2
    h.feed(h.at("s1", T0, h.spec.fire_at), h.at("s1", T0 + 5, high))
    assert h.rule.tick(T0 + duration - 1) == []
    [change] = h.rule.tick(T0 + duration + 7)
    assert (change.kind, change.device, change.value) == ("fire", "s1", high)
    assert change.ts == T0 + duration  # when the condition had held long enough
    assert h.rule.tick(T0 + duration + 60) == []


def test_dip_below_clear_while_pending_restarts_the_duration() -> None:
    h = Harness(smoke_rule(min_duration_s=30.0))
    high, low = h.spec.fire_at, h.spec.clear_at - 1
    h.feed(h.at("s1", T0, high), h.at("s1", T0 + 10, low), h.at("s1", T0 + 20, high))
    assert h.rule.tick(T0 + 40) == []
    assert kinds(h.rule.tick(T0 + 50)) == ["fire"]


def test_band_value_while_pending_keeps_counting() -> None:
    h = Harness(smoke_rule(min_duration_s=30.0))
    band = (h.spec.fire_at + h.spec.clear_at) / 2
    h.feed(h.at("s1", T0, h.spec.fire_at))
    assert kinds(h.feed(h.at("s1", T0 + 30, band))) == ["fire"]


def test_replaying_the_same_readings_changes_nothing(h: Harness) -> None:
    batch = [h.at("s1", T0, h.spec.fire_at), h.at("s2", T0, h.spec.fire_at)]
    assert kinds(h.feed(*batch)) == ["fire", "fire"]
    assert h.feed(*batch) == []
    assert h.feed(batch[0]) == []
    # A second reading at an already accepted device time is a replay, whatever its value.
    past_clear = nudge(h.spec, h.spec.clear_at, toward_safe=True)
    assert h.feed(h.at("s1", T0, past_clear)) == []


def test_two_devices_in_one_batch(h: Harness) -> None:
    changes = h.feed(h.at("s2", T0, h.spec.fire_at), h.at("s1", T0, h.spec.fire_at))
    assert sorted(c.device for c in changes) == ["s1", "s2"]
    assert set(kinds(changes)) == {"fire"}


def test_several_readings_of_one_device_apply_in_device_time_order(h: Harness) -> None:
    spec = h.spec
    fire = h.at("s1", T0, spec.fire_at)
    moved = h.at("s1", T0 + UPDATE_INTERVAL_S, nudge(spec, spec.fire_at, toward_safe=False))
    clear = h.at("s1", T0 + UPDATE_INTERVAL_S + 1, nudge(spec, spec.clear_at, toward_safe=True))
    other = h.at("s2", T0 + 3, spec.fire_at)
    changes = h.feed(clear, other, moved, fire)
    mine = [c for c in changes if c.device == "s1"]
    assert kinds(mine) == ["fire", "update", "resolve"]
    assert [c.ts for c in mine] == [fire.ts, moved.ts, clear.ts]
    assert [c.device for c in changes if c.kind == "fire"].count("s2") == 1


def test_older_reading_after_a_newer_one_is_ignored(h: Harness) -> None:
    h.feed(h.at("s1", T0 + 100, h.spec.fire_at))
    past_clear = nudge(h.spec, h.spec.clear_at, toward_safe=True)
    assert h.feed(h.at("s1", T0 + 50, past_clear)) == []
    assert bool(h.rule.firing[h.rule.devices.local["s1"]])


def test_updates_are_throttled_per_fingerprint(h: Harness) -> None:
    spec = h.spec
    values = [nudge(spec, spec.fire_at, toward_safe=False) * (1 + k / 100) for k in range(4)]
    h.feed(h.at("s1", T0, spec.fire_at))
    assert h.feed(h.at("s1", T0 + UPDATE_INTERVAL_S / 2, values[0])) == []
    [update] = h.feed(h.at("s1", T0 + UPDATE_INTERVAL_S, values[1]))
    assert (update.kind, update.value) == ("update", values[1])
    # An unchanged value is no update, however long it has been.
    assert h.feed(h.at("s1", T0 + 5 * UPDATE_INTERVAL_S, values[1])) == []
    # A resolve is never throttled.
    past_clear = nudge(spec, spec.clear_at, toward_safe=True)
    assert kinds(h.feed(h.at("s1", T0 + 5 * UPDATE_INTERVAL_S + 1, past_clear))) == ["resolve"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_ignored_and_do_not_block_later_readings(bad: float) -> None:
    h = Harness(smoke_rule())
    assert h.feed(h.at("s1", T0 + 10, bad)) == []
    assert kinds(h.feed(h.at("s1", T0 + 5, h.spec.fire_at))) == ["fire"]


def test_other_metrics_and_device_types_are_ignored() -> None:
    spec = smoke_rule()
    registry = street([device("s1"), device("h1", "heat_detector")], thresholds=[spec])
    index = DeviceIndex(registry)
    rule = ThresholdRule(spec, index)
    batch = [
        reading("s1", T0, spec.fire_at, metric="temperature_c"),
        reading("h1", T0, spec.fire_at),
        reading("ghost", T0, spec.fire_at),
    ]
    assert rule.process(ReadingBatch.from_readings(index, batch)) == []


def test_per_device_overrides() -> None:
    spec = smoke_rule(overrides={"s2": {"fire_at": 20.0, "clear_at": 15.0}})
    h = Harness(spec)
    changes = h.feed(h.at("s1", T0, spec.fire_at), h.at("s2", T0, spec.fire_at))
    assert [c.device for c in changes] == ["s1"]
    assert [c.device for c in h.feed(h.at("s2", T0 + 1, 20.0))] == ["s2"]


@pytest.mark.parametrize(
    "spec",
    [
        smoke_rule(clear_at=11.0),
        pressure_rule(clear_at=0.05),
        smoke_rule(overrides={"ghost": {"fire_at": 1.0}}),
        smoke_rule(overrides={"s1": {"severity_level": 1.0}}),
        smoke_rule(overrides={"s1": {"min_duration_s": -1.0}}),
    ],
)
def test_inconsistent_rules_are_rejected_at_construction(spec: ThresholdRuleSpec) -> None:
    with pytest.raises(ValueError, match=spec.id):
        Harness(spec)


def test_rounds_hold_each_slot_at_most_once_and_in_time_order() -> None:
    rng = random.Random(7)
    slot = np.array([rng.randrange(5) for _ in range(200)], dtype=np.intp)
    ts = np.array([rng.random() for _ in range(200)])
    seen: dict[int, float] = {}
    positions: list[int] = []
    for part in rounds(slot, ts):
        assert len(set(slot[part].tolist())) == len(part)
        for p in part.tolist():
            assert ts[p] > seen.get(int(slot[p]), -1.0)
            seen[int(slot[p])] = float(ts[p])
        positions += part.tolist()
    assert sorted(positions) == list(range(200))


@pytest.mark.parametrize("min_duration_s", [0.0, 30.0])
def test_a_batch_decides_exactly_as_its_readings_one_at_a_time(
    h: Harness, min_duration_s: float
) -> None:
    """Quiet devices skip the round-by-round steps (ThresholdRule._skip_quiet); what is
    decided must not change: many readings per device, in shuffled order, some devices
    crossing the levels and some never, against the same readings fed one by one."""
    spec = h.spec.model_copy(update={"min_duration_s": min_duration_s})
    ids = [f"s{i}" for i in range(8)]
    rng = random.Random(11)
    fire, clear = spec.fire_at, spec.clear_at
    calm = clear - (fire - clear) if spec.direction == "above" else clear + (clear - fire)
    readings = []
    for n, dev in enumerate(ids):
        wild = n % 2 == 0  # half the devices cross the levels, half stay calm
        for k in range(60):
            value = rng.choice([calm, fire, clear, (fire + clear) / 2]) if wild else calm
            readings.append(reading(dev, T0 + 10.0 * k, value, metric=spec.metric))
    readings.append(reading("s1", T0 + 5.0, float("nan"), metric=spec.metric))
    rng.shuffle(readings)
    batched, single = Harness(spec, ids), Harness(spec, ids)
    together = batched.feed(*readings)
    apart = [c for r in sorted(readings, key=lambda r: r.ts) for c in single.feed(r)]
    key = lambda c: (c.ts, c.device, c.kind)  # noqa: E731
    assert sorted(map(key, together)) == sorted(map(key, apart))
    assert len(together) > 4  # the wild devices did change state
    assert np.array_equal(batched.rule.last_ts, single.rule.last_ts)
    later = [batched.at(d, T0 + 1000.0, fire) for d in ids]  # both go on alike
    assert sorted(map(key, batched.feed(*later))) == sorted(map(key, single.feed(*later)))
