"""The whole-batch health fold gives what walking each device's times in turn gives."""

from __future__ import annotations

import math
import random
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pytest

from store.health_batch import batch_times
from store.health_fold import fold

FLOOR_S = 30.0
BUCKET_S = 300.0

Walked = tuple[list[tuple[str, float, float]], dict[tuple[str, int], int],
               list[tuple[str, float]], dict[str, tuple[float, float]]]


def walk(times: dict[str, list[float]], known: dict[str, tuple[float, float]]) -> Walked:
    """The rule spelt out one device and one time at a time: later times up from the last
    known, earlier ones down from the first, strictly inside ones late."""
    silences: list[tuple[str, float, float]] = []
    counts: defaultdict[tuple[str, int], int] = defaultdict(int)
    late: list[tuple[str, float]] = []
    spans: dict[str, tuple[float, float]] = {}
    for device in sorted(times):
        stamps = sorted(set(times[device]))
        first, last = known.get(device, (stamps[0], stamps[0]))
        if device not in known:
            counts[(device, math.floor(first / BUCKET_S))] += 1
        prev = last
        for t in (t for t in stamps if t > last):
            if t - prev > FLOOR_S:
                silences.append((device, prev, t))
            counts[(device, math.floor(t / BUCKET_S))] += 1
            prev = t
        prev = first
        for t in reversed([t for t in stamps if t < first]):
            if prev - t > FLOOR_S:
                silences.append((device, t, prev))
            counts[(device, math.floor(t / BUCKET_S))] += 1
            prev = t
        late += [(device, t) for t in stamps if first < t < last]
        spans[device] = (min(first, stamps[0]), max(last, stamps[-1]))
    return silences, dict(counts), late, spans


def folded(times: dict[str, list[float]], known: dict[str, tuple[float, float]]) -> Walked:
    rows = [(d, t) for d, ts in times.items() for t in ts]
    table = pa.table({
        "device": pa.array([d for d, _ in rows], pa.string()),
        "metric": pa.array(["value"] * len(rows), pa.string()),
        "ts": pa.array([t for _, t in rows], pa.float64()),
        "value": pa.array([1.0] * len(rows), pa.float64()),
    })
    bt = batch_times(table)
    was = [known.get(name) for name in bt.names]
    got = fold(bt, np.array([w[0] if w else np.nan for w in was]),
               np.array([w[1] if w else np.nan for w in was]),
               np.array([w is not None for w in was]), FLOOR_S, BUCKET_S)
    names = bt.names
    silences = [(names[c], a, b) for c, a, b in zip(
        got.silence_code.tolist(), got.silence_a.tolist(), got.silence_b.tolist(), strict=True)]
    counts = {(names[c], b): n for c, b, n in zip(
        got.count_code.tolist(), got.count_bucket.tolist(), got.count_n.tolist(), strict=True)}
    late = [(names[c], t) for c, t in zip(
        bt.code[got.late].tolist(), bt.ts[got.late].tolist(), strict=True)]
    spans = {n: (f, la) for n, f, la in zip(names, got.first.tolist(), got.last.tolist(),
                                            strict=True)}
    return silences, counts, late, spans


@pytest.mark.parametrize("seed", range(40))
def test_the_fold_equals_the_walk_device_by_device(seed: int) -> None:
    rng = random.Random(seed)
    times: dict[str, list[float]] = {}
    known: dict[str, tuple[float, float]] = {}
    for i in range(rng.randint(1, 30)):
        device = f"d{i}"
        base = 1_700_000_000.0 + rng.uniform(0, 3_000)
        # repeats, steps around the floor, and times on the known span's edges
        stamps = [base + rng.choice([0.0, 10.0, 29.0, 31.0, 200.0, 900.0]) * k
                  for k in range(rng.randint(1, 12))]
        if rng.random() < 0.6:
            lo, hi = sorted(rng.sample(stamps, 2)) if len(stamps) > 1 else (stamps[0],) * 2
            known[device] = (lo - rng.choice([0.0, 5.0, 40.0]), hi + rng.choice([0.0, 5.0, 40.0]))
            stamps += [known[device][0], known[device][1]]
        times[device] = stamps + rng.sample(stamps, min(2, len(stamps)))
    s1, c1, l1, p1 = walk(times, known)
    s2, c2, l2, p2 = folded(times, known)
    assert sorted(s2) == sorted(s1)
    assert c2 == c1
    assert sorted(l2) == sorted(l1)
    assert p2 == p1


def test_a_storm_of_many_devices_each_a_step_up() -> None:
    """6,000 known devices, each two readings after its last: two silences and two
    messages each, no late time."""
    n = 6_000
    times = {f"s{i:04d}": [2_000.0, 2_601.0] for i in range(n)}
    known = {d: (0.0, 1_000.0) for d in times}
    silences, counts, late, spans = folded(times, known)
    assert len(silences) == 2 * n and not late
    assert sum(counts.values()) == 2 * n
    assert set(spans.values()) == {(0.0, 2_601.0)}


def test_a_batch_of_known_times_only_changes_nothing() -> None:
    times = {"a": [10.0, 500.0], "b": [7.0]}
    known = {"a": (10.0, 500.0), "b": (7.0, 7.0)}
    silences, counts, late, spans = folded(times, known)
    assert (silences, counts, late) == ([], {}, [])
    assert spans == known


def test_a_reading_table_s_own_device_encoding_gives_the_same_batch_times() -> None:
    """The store's write hands batch_times a ReadingTable whose device column it has
    encoded already (the repeat check did); the pairs must be those of the bare table."""
    from gridwatch.reading_table import ReadingTable

    rng = random.Random(3)
    rows = [(f"d{rng.randrange(7)}", rng.choice(["battery_pct", "temp_c"]),
             1_000.0 + rng.randrange(40), float(rng.randrange(100))) for _ in range(300)]
    table = ReadingTable.from_columns(["ag"] * len(rows), *map(list, zip(*rows, strict=True)))
    table.last_of_each_key()  # encodes the device column, as the write does first
    shared, bare = batch_times(table), batch_times(table.table)
    assert shared.names == bare.names and shared.battery == bare.battery
    for field in ("code", "ts", "rows", "starts", "ends"):
        np.testing.assert_array_equal(getattr(shared, field), getattr(bare, field))
    # The table's own encoding is left as it was (batch_times works on a copy).
    names, codes = table.strings("device")
    assert [names[c] for c in codes.tolist()] == [r[0] for r in rows]
