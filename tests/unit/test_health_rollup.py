"""The health state kept at ingest gives exactly the figures of the full recomputation."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from gridwatch.records import DeviceEvent, Reading
from store.health_duckdb import DeviceHealthStats, device_health
from store.health_rollup import BUCKET_S, Change, HealthRollup, bucket_of
from store.timeseries_duckdb import DuckDBTimeSeries

DAY = 86_400.0
T0 = 1_700_000_000.0  # a multiple of BUCKET_S, so that some windows start on a bucket
ALLOW = {"elev-1": 45.0, "smoke-1": 210.0, "smoke-2": 210.0, "cam-1": 120.0, "gas-9": 210.0,
         "never": 90.0, "new-1": 210.0}
# Commissioning: inside some windows (smoke-2, never), after all of them (cam-1: its
# observed span is empty), before its first report (new-1: the report counts from then).
COMMISSIONED = {"smoke-2": T0 + 0.7 * DAY, "cam-1": T0 + 5 * DAY, "never": T0 + 1.3 * DAY,
                "new-1": T0 + 0.5 * DAY}
NEW_FROM = T0 + 0.8 * DAY  # new-1's first report: inside most windows
FAULTS = ("fire.fault", "camera.tamper")


def history(rng: random.Random) -> list[Reading]:
    """A day and a half of messages per device at its interval, with jitter, silences of all
    lengths (some just around the allowance), two metrics per message and batteries."""
    out = []
    intervals = {"elev-1": 15.0, "smoke-1": 60.0, "smoke-2": 60.0, "cam-1": 30.0, "gas-9": 60.0,
                 "new-1": 60.0}
    for device, interval in intervals.items():
        ts = (NEW_FROM if device == "new-1" else T0) + rng.uniform(0, 600)
        while ts < T0 + 1.5 * DAY:
            out.append(Reading("a1", device, "value", ts, rng.uniform(0, 9)))
            if rng.random() < 0.5:
                out.append(Reading("a1", device, "other", ts, 1.0))
            if rng.random() < 0.05:
                out.append(Reading("a1", device, "battery_pct", ts, rng.uniform(0, 100)))
            r = rng.random()
            step = (
                rng.uniform(0, 3 * DAY) if r < 0.0005 and device == "gas-9"
                else rng.uniform(1, 5) * ALLOW[device] if r < 0.01
                else rng.uniform(0.9, 1.1) * ALLOW[device] if r < 0.02
                else interval * rng.uniform(0.8, 1.2)
            )
            ts += step
    return out


def events(rng: random.Random) -> list[DeviceEvent]:
    kinds = ["fire.fault", "camera.tamper", "fire.alarm"]
    return [
        DeviceEvent("a1", f"e{i}", rng.choice(list(ALLOW)), T0 + rng.uniform(0, 2 * DAY),
                    rng.choice(kinds), rng.choice(["start", "end", "instant"]))
        for i in range(200)
    ]


def write_in_batches(store: DuckDBTimeSeries, readings: list[Reading], rng: random.Random) -> None:
    """Mostly in time order; every tenth batch held back and replayed late, as an
    agent's outbox does after an outage; some batches written twice."""
    readings = sorted(readings, key=lambda r: r.ts)
    held: list[list[Reading]] = []
    i = 0
    while i < len(readings):
        n = rng.randint(1, 1500)
        batch = readings[i : i + n]
        i += n
        if rng.random() < 0.1:
            held.append(batch)
            continue
        store.write_readings(batch)
        if rng.random() < 0.05:
            store.write_readings(batch[: n // 2])
        if held and rng.random() < 0.2:
            store.write_readings(held.pop(rng.randrange(len(held))))
    for batch in held:
        rng.shuffle(batch)
        store.write_readings(batch)


WINDOWS = [  # (start, end): 24 h ones at odd ends, one on bucket edges, short and long
    (T0 + DAY - 3_600 + 17.3, T0 + 2 * DAY - 3_600 + 17.3),
    (T0 + 0.5 * DAY, T0 + 1.5 * DAY),
    (T0 + 100 * BUCKET_S, T0 + 388 * BUCKET_S),
    (T0 - DAY, T0 + 431.0),
    (T0 + 5_000.0, T0 + 5_100.0),
    (T0 + 1.2 * DAY, T0 + 3 * DAY),
]


@pytest.mark.parametrize("seed", [1, 2])
def test_kept_state_equals_a_full_recomputation(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    store = DuckDBTimeSeries(tmp_path / "ts.duckdb")
    write_in_batches(store, history(rng), rng)
    store.write_events(events(rng))
    try:
        seen = []
        with store._reader() as cur:
            for start, end in WINDOWS:
                for since in (None, COMMISSIONED):
                    full = device_health(cur, start, end, ALLOW, FAULTS, since)
                    kept = store.device_health(start, end, ALLOW, FAULTS, since)
                    assert kept == full, (start - T0, end - T0, since)
                    seen += [(start, end, s) for s in full]
        # the histories exercise every figure
        stats = [s for _, _, s in seen]
        assert all(any(getattr(s, f) for s in stats) for f in ("gaps", "battery", "faults"))
        # ... and every kind of observed span: whole, cut short, empty
        spans = {s.observed_s == e - b if s.observed_s > 0 else None for b, e, s in seen}
        assert spans == {True, False, None}
    finally:
        store.close()


def test_a_database_without_the_kept_state_is_rebuilt_on_open(tmp_path: Path) -> None:
    rng = random.Random(7)
    store = DuckDBTimeSeries(tmp_path / "ts.duckdb")
    write_in_batches(store, history(rng), rng)
    with store._reader() as cur:
        expected = [device_health(cur, s, e, ALLOW, FAULTS) for s, e in WINDOWS]
    store.close()
    con = duckdb.connect(str(tmp_path / "ts.duckdb"))
    for table in ("health_devices", "health_silences", "health_counts", "health_meta"):
        con.execute(f"DROP TABLE {table}")  # an older database: no state kept
    con.close()
    store = DuckDBTimeSeries(tmp_path / "ts.duckdb")
    try:
        assert [store.device_health(s, e, ALLOW, FAULTS) for s, e in WINDOWS] == expected
    finally:
        store.close()


_CRASH = """
import os, random, sys
from pathlib import Path
from store.timeseries_duckdb import DuckDBTimeSeries
from gridwatch.records import Reading
from store.health_rollup import BUCKET_S
from tests.unit.test_health_rollup import ALLOW, history, write_in_batches
rng = random.Random(int(sys.argv[2]))
readings = sorted(history(rng), key=lambda r: r.ts)
store = DuckDBTimeSeries(Path(sys.argv[1]))
write_in_batches(store, readings[: len(readings) * 2 // 3], rng)
# just behind the checkpoint (a message behind a bucket edge, a late battery): the
# state from before the checkpoint changes after it was written
behind = store._health._newest * BUCKET_S - 0.5
store.write_readings([Reading("a1", d, "battery_pct", behind, 42.0) for d in ALLOW])
os._exit(0)  # as kill -9: no close, what the rollup held in memory is lost
"""


@pytest.mark.parametrize("seed", [3, 4])
def test_an_unclean_stop_replays_only_the_readings_after_the_checkpoint(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ts.duckdb"
    subprocess.run([sys.executable, "-c", _CRASH, str(path), str(seed)], check=True,
                   cwd=Path(__file__).parents[2], timeout=120)
    con = duckdb.connect(str(path))
    clean, checkpoint = con.execute("SELECT clean, flushed_below FROM health_meta").fetchall()[0]
    newest = con.execute("SELECT max(ts) FROM readings").fetchall()[0][0]
    con.close()
    # the crash left the state in use, with a checkpoint at most a bucket behind the
    # newest reading: the replay's work is bounded by a bucket, not by the history
    assert not clean
    assert bucket_of(newest) - 1 <= checkpoint <= bucket_of(newest)

    def no_full_rebuild(self: HealthRollup, cur: object) -> None:
        raise AssertionError("an unclean open rebuilt the state from all the readings")

    monkeypatch.setattr(HealthRollup, "rebuild", no_full_rebuild)
    store = DuckDBTimeSeries(path)
    try:
        with store._reader() as cur:
            for start, end in WINDOWS:
                assert store.device_health(start, end, ALLOW, FAULTS) == device_health(
                    cur, start, end, ALLOW, FAULTS), (start - T0, end - T0)
        # ingest goes on from the recovered state (with late batches of the whole history)
        rng = random.Random(seed)
        write_in_batches(store, history(rng), rng)
        with store._reader() as cur:
            for start, end in WINDOWS:
                assert store.device_health(start, end, ALLOW, FAULTS) == device_health(
                    cur, start, end, ALLOW, FAULTS), (start - T0, end - T0)
    finally:
        store.close()


def test_an_allowance_below_the_floor_is_refused_by_the_state_and_recomputed(
    tmp_path: Path,
) -> None:
    store = DuckDBTimeSeries(tmp_path / "ts.duckdb")
    try:
        store.write_readings([Reading("a1", "d", "v", T0 + t, 1.0) for t in (0, 20, 50)])
        with store._reader() as cur, pytest.raises(ValueError, match="below the kept floor"):
            store._health.report(cur, T0, T0 + 60, {"d": 10.0}, FAULTS)
        # the store's own answer is still right: it recomputes in full
        stats = store.device_health(T0, T0 + 60, {"d": 10.0}, FAULTS)
        assert (stats[0].messages, stats[0].gaps) == (3, 2)
        with pytest.raises(ValueError, match="floor_s must be > 0"):
            HealthRollup(None, floor_s=0)
    finally:
        store.close()


def test_a_clean_database_from_before_checkpoints_is_taken_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(5)
    store = DuckDBTimeSeries(tmp_path / "ts.duckdb")
    write_in_batches(store, history(rng), rng)
    store.close()
    con = duckdb.connect(str(tmp_path / "ts.duckdb"))
    con.execute("ALTER TABLE health_meta DROP COLUMN flushed_below")
    con.close()

    def no_full_rebuild(self: HealthRollup, cur: object) -> None:
        raise AssertionError("a clean state was rebuilt from all the readings")

    monkeypatch.setattr(HealthRollup, "rebuild", no_full_rebuild)
    store = DuckDBTimeSeries(tmp_path / "ts.duckdb")
    try:
        with store._reader() as cur:
            for start, end in WINDOWS:
                assert store.device_health(start, end, ALLOW, FAULTS) == device_health(
                    cur, start, end, ALLOW, FAULTS)
    finally:
        store.close()


def test_a_report_never_sees_a_batch_committed_but_not_yet_kept(tmp_path: Path) -> None:
    """Between a batch's COMMIT and the rollup taking it in, a report found the device
    online (from the tables) with no battery and a gap (from memory): a maintenance page
    under load showed exactly that. A report must see the batch in both or in neither."""
    store = DuckDBTimeSeries(tmp_path / "ts.duckdb")
    committed, go = threading.Event(), threading.Event()
    applied = store._health.applied

    def slow_applied(change: Change) -> None:
        committed.set()
        assert go.wait(10)
        applied(change)

    store._health.applied = slow_applied  # type: ignore[method-assign]
    now = T0 + DAY
    batch = [Reading("a1", "smoke-1", "smoke_obscuration_pct_m", now, 0.3),
             Reading("a1", "smoke-1", "battery_pct", now, 55.0)]
    writer = threading.Thread(target=store.write_readings, args=(batch,))
    writer.start()
    assert committed.wait(10)
    reports: list[list[DeviceHealthStats]] = []
    reader = threading.Thread(target=lambda: reports.append(
        store.device_health(now - DAY, now + 1, {"smoke-1": 210.0}, FAULTS)))
    reader.start()
    reader.join(0.5)  # a report that does not wait has its answer by now
    go.set()
    writer.join(10)
    reader.join(10)
    store.close()
    (row,) = reports[0]
    assert row.last_seen == now and row.battery == 55.0, row


def test_late_readings_of_many_devices_go_behind_the_checkpoint_in_one_insert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An alert storm from readings a day old (an outbox replayed after an outage) is
    thousands of (device, bucket) counts behind the checkpoint: one insert for the
    batch, not one per count (it was most of 20 s of the storm bench), and the counts
    still equal the recomputation."""
    store = DuckDBTimeSeries(tmp_path / "ts.duckdb")
    devices = [f"smoke-{n}" for n in range(300)]
    allow = dict.fromkeys(devices, 210.0)
    try:
        # Today's readings move the checkpoint; then yesterday's arrive in one batch.
        store.write_readings([Reading("a1", d, "value", T0 + DAY + s, 1.0)
                              for d in devices for s in (0.0, 2 * BUCKET_S)])
        inserts: list[int] = []
        append = HealthRollup._append_counts

        def counted(cur: object, counts: dict[tuple[str, int], int]) -> None:
            inserts.append(len(counts))
            append(cur, counts)

        monkeypatch.setattr(HealthRollup, "_append_counts", staticmethod(counted))
        store.write_readings([Reading("a1", d, "value", T0 + s, 1.0)
                              for d in devices for s in (0.0, 601.0)])
        assert inserts == [2 * len(devices)]
        with store._reader() as cur:
            for start, end in ((T0 - 10, T0 + DAY + 3 * BUCKET_S), (T0 + 300, T0 + DAY)):
                full = device_health(cur, start, end, allow, FAULTS, None)
                assert store.device_health(start, end, allow, FAULTS, None) == full
    finally:
        store.close()
