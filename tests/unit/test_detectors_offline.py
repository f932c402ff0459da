from __future__ import annotations

import numpy as np

from config.models import OfflineRuleSpec
from detectors.offline import OfflineDetector, offline_fingerprint
from detectors.slots import DeviceIndex
from gridwatch.records import AlertChange
from tests.support.tiny_street import T0, device, street

RULE = OfflineRuleSpec(factor=3.0, grace_s=30.0, severity="minor")
INTERVALS = {"fast": 10.0, "slow": 600.0}


def allowance(dev: str) -> float:
    return RULE.factor * INTERVALS[dev] + RULE.grace_s


def detector() -> tuple[OfflineDetector, DeviceIndex]:
    registry = street([device(d, interval_s=i) for d, i in INTERVALS.items()], offline=RULE)
    index = DeviceIndex(registry)
    return OfflineDetector(index, RULE, start=T0), index


def seen(
    det: OfflineDetector, index: DeviceIndex, dev: str, ts: float, now: float
) -> list[AlertChange]:
    return det.observe(index.slots_of([dev]), np.array([ts]), now)


def test_nothing_fires_at_startup_then_fires_once_after_the_allowance() -> None:
    det, _ = detector()
    assert det.tick(T0 + allowance("fast")) == []
    [change] = det.tick(T0 + allowance("fast") + 1)
    assert (change.kind, change.device) == ("fire", "fast")
    assert change.fingerprint == offline_fingerprint("fast")
    assert change.severity == RULE.severity
    assert det.tick(T0 + allowance("fast") + 2) == []
    assert [c.device for c in det.tick(T0 + allowance("slow") + 1)] == ["slow"]
    assert det.tick(T0 + 10 * allowance("slow")) == []


def test_a_device_that_reports_on_time_never_goes_offline() -> None:
    det, index = detector()
    now = T0
    for _ in range(20):
        now += INTERVALS["fast"]
        assert seen(det, index, "fast", now, now) == []
        assert [c.device for c in det.tick(now)] == []


def test_resolves_when_the_device_returns_and_can_go_offline_again() -> None:
    det, index = detector()
    gone = T0 + allowance("fast") + 1
    det.tick(gone)
    back = gone + 100
    [change] = seen(det, index, "fast", back, back)
    assert (change.kind, change.fingerprint, change.ts) == (
        "resolve",
        offline_fingerprint("fast"),
        back,
    )
    assert seen(det, index, "fast", back + 1, back + 1) == []
    last = back + 1
    assert det.tick(last + allowance("fast")) == []
    assert [c.kind for c in det.tick(last + allowance("fast") + 1)] == ["fire"]


def test_a_stale_backlog_message_does_not_resolve() -> None:
    det, index = detector()
    now = T0 + 10 * allowance("fast")
    det.tick(now)
    assert seen(det, index, "fast", now - allowance("fast") - 5, now) == []
    assert det.tick(now) == []
    assert [c.kind for c in seen(det, index, "fast", now - 1, now)] == ["resolve"]


def test_repeated_slots_in_one_batch_keep_the_newest_time() -> None:
    det, index = detector()
    slots = index.slots_of(["fast", "fast", "fast"])
    det.observe(slots, np.array([T0 + 50, T0 + 90, T0 + 70]), T0 + 100)
    assert det.tick(T0 + 90 + allowance("fast")) == []
    assert [c.device for c in det.tick(T0 + 91 + allowance("fast"))] == ["fast"]


def test_a_device_clock_ahead_does_not_hide_later_silence() -> None:
    det, index = detector()
    seen(det, index, "fast", T0 + 86_400, T0)
    assert [c.device for c in det.tick(T0 + allowance("fast") + 1)] == ["fast"]


def test_restored_offline_device_does_not_refire_and_resolves_on_return() -> None:
    det, index = detector()
    det.restore(index.slot["fast"])
    assert [c.device for c in det.tick(T0 + allowance("fast") + 1)] == []
    assert [c.kind for c in seen(det, index, "fast", T0 + 200, T0 + 200)] == ["resolve"]
