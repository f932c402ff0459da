from __future__ import annotations

import random

import numpy as np

from detectors.lifecycle import AlertTemplate, Lifecycle
from detectors.slots import DeviceIndex, IntArray, Subset
from detectors.windows import RingWindows
from tests.support.tiny_street import T0, device, street


def one(slot: int) -> IntArray:
    return np.array([slot], dtype=np.intp)


def test_oldest_since_matches_a_plain_scan_across_wraparound() -> None:
    rng = random.Random(3)
    win = RingWindows(slots=3, capacity=8)
    kept: dict[int, list[tuple[float, float]]] = {0: [], 1: [], 2: []}
    clock = {0: T0, 1: T0, 2: T0}
    for _ in range(40):
        s = rng.randrange(3)
        clock[s] += rng.uniform(0.5, 20.0)
        v = rng.uniform(0, 100)
        win.append(one(s), np.array([clock[s]]), np.array([v]))
        kept[s] = (kept[s] + [(clock[s], v)])[-8:]
        for slot, rows in kept.items():
            if not rows:
                continue
            start = rows[-1][0] - rng.uniform(0, 120)
            expected = next((p for p in rows if p[0] >= start), None)
            ts, value = win.oldest_since(one(slot), np.array([start]))
            assert expected is not None
            assert (float(ts[0]), float(value[0])) == expected


def test_oldest_since_stays_right_when_windows_slide_jump_and_move_back() -> None:
    """Many slots at once: mostly a steady slide (the remembered answer steps forward),
    with gaps longer than the window, empty windows and starts that move back."""
    rng = np.random.default_rng(11)
    n, cap = 50, 16
    win = RingWindows(slots=n, capacity=cap)
    kept: list[list[tuple[float, float]]] = [[] for _ in range(n)]
    now = np.full(n, T0)
    for step in range(300):
        s = np.flatnonzero(rng.random(n) < 0.8)
        gap = np.where(rng.random(len(s)) < 0.03, 200.0, 1.0)  # an occasional long gap
        now[s] += gap
        v = rng.normal(size=len(s))
        win.append(s, now[s], v)
        for slot, t, x in zip(s.tolist(), now[s].tolist(), v.tolist(), strict=True):
            kept[slot] = (kept[slot] + [(t, x)])[-cap:]
        span = 10.0 if step % 50 else rng.uniform(0.0, 30.0)  # now and then: moves back
        start = now - span + np.where(rng.random(n) < 0.05, 50.0, 0.0)  # some: none inside
        slots = np.arange(n, dtype=np.intp)
        ts, value = win.oldest_since(slots, start)
        for slot in range(n):
            expected = next((p for p in kept[slot] if p[0] >= start[slot]), None)
            got = (float(ts[slot]), float(value[slot]))
            if expected is None:
                assert np.isnan(got[0]) and np.isnan(got[1])
            else:
                assert got == expected, (step, slot)


def test_late_and_duplicate_readings_are_dropped_and_counted() -> None:
    win = RingWindows(slots=1, capacity=4)
    assert win.append(one(0), np.array([T0 + 10]), np.array([1.0])).all()
    assert not win.append(one(0), np.array([T0 + 5]), np.array([99.0])).any()
    assert not win.append(one(0), np.array([T0 + 10]), np.array([99.0])).any()
    assert win.late == 2
    ts, value = win.back(one(0), 0)
    assert (float(ts[0]), float(value[0])) == (T0 + 10, 1.0)
    ts, _ = win.back(one(0), 1)
    assert np.isnan(ts[0])


def lifecycle(min_duration: float = 0.0, hold: float = 0.0) -> Lifecycle:
    index = DeviceIndex(street([device("s1"), device("s2")]))
    devices = Subset(index, index.members("smoke_detector"))
    tpl = AlertTemplate("r", "x.y", "minor", "{device} {value}", "m")
    return Lifecycle(devices, tpl, devices.floats(min_duration), devices.floats(hold))


def step(life: Lifecycle, t: float, on: bool) -> list[str]:
    s = one(0)
    changes = life.step(
        s, np.array([t]), np.array([on]), np.array([not on]), np.array([1.0 if on else 0.0])
    )
    return [c.kind for c in changes]


def test_hold_keeps_a_flapping_condition_one_firing_alert() -> None:
    life = lifecycle(hold=60.0)
    kinds = [k for i in range(20) for k in step(life, T0 + 10 * i, on=i % 2 == 0)]
    assert kinds.count("fire") == 1 and "resolve" not in kinds
    # The last toggle (i=19, at +190) was clear: it resolves once clear for the hold.
    assert step(life, T0 + 249, on=False) == []
    assert step(life, T0 + 250, on=False) == ["resolve"]


def test_without_hold_the_same_flapping_is_a_storm() -> None:
    life = lifecycle(hold=0.0)
    kinds = [k for i in range(20) for k in step(life, T0 + 10 * i, on=i % 2 == 0)]
    assert kinds.count("fire") == 10


def test_hold_elapses_on_tick_without_new_readings() -> None:
    life = lifecycle(hold=60.0)
    step(life, T0, on=True)
    step(life, T0 + 5, on=False)
    assert life.tick(T0 + 64) == []
    [resolve] = life.tick(T0 + 65)
    assert (resolve.kind, resolve.ts) == ("resolve", T0 + 65)
    assert life.tick(T0 + 500) == []
