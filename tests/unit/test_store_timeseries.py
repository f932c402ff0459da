"""DuckDBTimeSeries against real DuckDB files."""

from __future__ import annotations

import math
import random
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import duckdb
import pytest

from gridwatch.records import DeviceEvent, Reading
from store.interfaces import EventHistory, SpanHistory
from store.timeseries_duckdb import DuckDBTimeSeries

T0 = 1_764_090_000.0


def readings(device: str, n: int, start: float = T0, every: float = 1.0) -> list[Reading]:
    rng = random.Random(f"{device}{n}{start}")
    return [
        Reading("agent1", device, "temperature_c", start + i * every, rng.uniform(15, 30))
        for i in range(n)
    ]


def event(
    device: str, eid: str, ts: float, state: Literal["start", "end"] = "start"
) -> DeviceEvent:
    return DeviceEvent("agent1", eid, device, ts, "fire.alarm", state, attrs={"loop": 2})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBTimeSeries]:
    s = DuckDBTimeSeries(tmp_path / "nested" / "ts.duckdb")
    yield s
    s.close()


def test_rewriting_a_batch_adds_nothing(store: DuckDBTimeSeries) -> None:
    batch = readings("smoke-1", 50)
    assert store.write_readings(batch) == batch
    assert store.write_readings(batch) == []
    assert store.reading_count() == len(batch)


def test_the_write_ahead_log_is_checkpointed_into_the_file_as_it_grows(
    store: DuckDBTimeSeries, tmp_path: Path
) -> None:
    """DuckDB checkpoints its WAL into the file on a commit that takes it past
    `checkpoint_threshold`, but only when no other connection has a transaction open,
    and a result not fetched to its end holds one open. One such result held by the
    store kept every reading in the WAL for good (60 bytes a reading, replayed at each
    open). The store's own reads and writes must leave nothing open."""
    wal = tmp_path / "nested" / "ts.duckdb.wal"
    with store._reader() as cur:  # not the store's own connection: that would end its result
        cur.execute("SET GLOBAL checkpoint_threshold = '1MB'")
    for n in range(12):
        start = T0 + n * 10_000
        store.write_readings(readings("smoke-1", 5_000, start=start))
        store.write_events([event("smoke-1", f"e{n}", start)])
        # The reads the API and a restart make, between the writes.
        store.series("smoke-1", "temperature_c", start, start + 60, None)
        store.activity(start, start + 60)
        store.device_health(start, start + 60, {"smoke-1": 60.0}, ["fire.alarm"])
        store.recent_series({("smoke-1", "temperature_c"): 60.0}, start + 60)
        store.reading_count()
    assert store.reading_count() == 60_000
    # 60,000 readings in the WAL alone would be 3.5 MB; each checkpoint empties it.
    assert wal.stat().st_size < 1.5 * 2**20, f"WAL of {wal.stat().st_size} bytes"


def test_a_file_whose_readings_last_seen_does_not_cover_is_backfilled_at_open(
    tmp_path: Path,
) -> None:
    """A file from before `last_seen` was kept: its readings are not in it. A write may
    skip the replay check only for a batch newer than the device's `last_seen`, so an
    older replay written first (which sets `last_seen` low) must not let a later replay
    of the stored rows through: the backfill at open raises `last_seen` to them."""
    path = tmp_path / "old.duckdb"
    stored = readings("smoke-1", 20, start=T0 + 100)
    with duckdb.connect(str(path)) as con:
        con.execute("""CREATE TABLE readings (device VARCHAR NOT NULL, metric VARCHAR
            NOT NULL, ts DOUBLE NOT NULL, value DOUBLE NOT NULL, agent VARCHAR NOT NULL)""")
        con.executemany("INSERT INTO readings VALUES (?, ?, ?, ?, ?)",
                        [(r.device, r.metric, r.ts, r.value, r.agent) for r in stored])
    store = DuckDBTimeSeries(path)
    try:
        older = readings("smoke-1", 5, start=T0)
        assert store.write_readings(older) == older
        assert store.write_readings(stored[10:]) == []
        assert store.reading_count() == len(stored) + len(older)
    finally:
        store.close()
    reopened = DuckDBTimeSeries(path)  # backfilled once: the marker is kept
    try:
        with reopened._reader() as cur:
            assert cur.execute(
                "SELECT count(*) FROM last_seen_covers_readings").fetchall() == [(1,)]
    finally:
        reopened.close()


def test_readings_appended_behind_last_seen_s_back_still_take_the_replay_check(
    store: DuckDBTimeSeries,
) -> None:
    """Rows put into `readings` directly (a bulk-load tool) leave their device without a
    `last_seen`; such a device always takes the replay check."""
    batch = readings("smoke-1", 10)
    with store._writers["bulk"].lock:
        store._writers["bulk"].cursor.executemany(
            "INSERT INTO readings VALUES (?, ?, ?, ?, ?)",
            [(r.device, r.metric, r.ts, r.value, r.agent) for r in batch])
    assert store.write_readings(batch) == []
    assert store.reading_count() == len(batch)


def test_only_new_readings_are_returned_in_input_order(store: DuckDBTimeSeries) -> None:
    old = readings("smoke-1", 10)
    store.write_readings(old[::2])
    assert store.write_readings(old) == old[1::2]
    assert store.reading_count() == len(old)


def test_a_key_repeated_within_a_batch_is_stored_once(store: DuckDBTimeSeries) -> None:
    first = readings("smoke-1", 3)
    again = Reading("agent1", "smoke-1", "temperature_c", first[1].ts, first[1].value + 1)
    new = store.write_readings([*first, again])
    assert len(new) == len(first)
    assert store.reading_count() == len(first)
    stored = store.series("smoke-1", "temperature_c", first[1].ts, first[1].ts + 0.5, None)
    assert [p.value for p in stored] == [next(r.value for r in new if r.ts == first[1].ts)]


def test_a_replay_is_dropped_per_reading_not_per_range(store: DuckDBTimeSeries) -> None:
    """No per-reading key any more: the anti-join must drop exactly the stored rows of a
    replay, keep a late reading inside an already-stored span, and keep the same time
    for another metric or device (what a reused seq or a late batch looks like)."""
    base = readings("smoke-1", 10)
    store.write_readings(base[::2])
    late = base[1::2]  # inside the stored span, never stored
    other_metric = [Reading(r.agent, r.device, "humidity_pct", r.ts, 1.0) for r in base[:3]]
    other_device = [Reading(r.agent, "smoke-2", r.metric, r.ts, 2.0) for r in base[:3]]
    batch = [*base, *other_metric, *other_device]
    assert store.write_readings(batch) == [*late, *other_metric, *other_device]
    assert store.write_readings(batch) == []
    assert store.reading_count() == len(base) + 6


def test_a_file_made_with_the_old_primary_key_still_takes_writes(tmp_path: Path) -> None:
    path = tmp_path / "ts.duckdb"
    con = duckdb.connect(str(path))
    con.execute("""CREATE TABLE readings (
        device VARCHAR NOT NULL, metric VARCHAR NOT NULL, ts DOUBLE NOT NULL,
        value DOUBLE NOT NULL, agent VARCHAR NOT NULL, PRIMARY KEY (device, metric, ts))""")
    con.close()
    s = DuckDBTimeSeries(path)
    try:
        batch = readings("smoke-1", 5)
        assert s.write_readings(batch) == batch
        assert s.write_readings([*batch, *readings("smoke-2", 2)]) == readings("smoke-2", 2)
        assert s.reading_count() == 7
    finally:
        s.close()


def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ts.duckdb"
    batch = readings("heat-3", 20)
    first = DuckDBTimeSeries(path)
    first.write_readings(batch)
    first.write_events([event("heat-3", "e1", T0)])
    first.close()

    second = DuckDBTimeSeries(path)
    try:
        assert second.reading_count() == len(batch)
        assert second.write_readings(batch) == []
        assert second.write_events([event("heat-3", "e1", T0)]) == []
        points = second.series("heat-3", "temperature_c", T0, T0 + 1e6, None)
        assert [(p.ts, p.value) for p in points] == [(r.ts, r.value) for r in batch]
    finally:
        second.close()


def test_series_is_half_open_and_per_device_and_metric(store: DuckDBTimeSeries) -> None:
    batch = readings("smoke-1", 10)
    other = [Reading("agent1", "smoke-2", r.metric, r.ts, -r.value) for r in batch]
    store.write_readings(batch + other)
    start, end = batch[2].ts, batch[7].ts
    points = store.series("smoke-1", "temperature_c", start, end, None)
    assert [p.ts for p in points] == [r.ts for r in batch if start <= r.ts < end]
    assert store.series("smoke-1", "co_ppm", start, end, None) == []


def test_step_averages_per_bucket_start(store: DuckDBTimeSeries) -> None:
    rng = random.Random(7)
    batch = [
        Reading("agent1", "tank-1", "water_level_m", T0 + rng.uniform(0, 600), rng.uniform(0, 5))
        for _ in range(400)
    ]
    store.write_readings(batch)
    step, start, end = 37.0, T0 + 50, T0 + 550

    buckets: dict[float, list[float]] = defaultdict(list)
    for r in batch:
        if start <= r.ts < end:
            buckets[math.floor(r.ts / step) * step].append(r.value)
    expected = sorted((b, sum(v) / len(v)) for b, v in buckets.items())

    points = store.series("tank-1", "water_level_m", start, end, step)
    # Absolute tolerance: a relative one at Unix-time magnitudes would hide a whole bucket.
    assert [p.ts for p in points] == pytest.approx([b for b, _ in expected], rel=0, abs=1e-6)
    assert [p.value for p in points] == pytest.approx([v for _, v in expected])


def test_step_must_be_positive(store: DuckDBTimeSeries) -> None:
    with pytest.raises(ValueError):
        store.series("tank-1", "water_level_m", T0, T0 + 10, 0)


def test_events_are_keyed_by_agent_id_state_and_time(store: DuckDBTimeSeries) -> None:
    start = event("smoke-1", "e1", T0)
    end = event("smoke-1", "e1", T0 + 30, "end")
    assert store.write_events([start]) == [start]
    assert store.write_events([start, end]) == [end]
    assert store.write_events([start, end]) == []


def test_events_of_types_in_a_half_open_range_oldest_first(store: DuckDBTimeSeries) -> None:
    fault = DeviceEvent("ag", "f1", "lift-1", T0 + 5, "elevator.door_fault", "instant",
                        zone="door", score=0.5, attrs={"n": 2}, snapshot="s1")
    store.write_events([
        event("lift-1", "alarm", T0 + 10), fault, event("lift-1", "early", T0 - 1),
        DeviceEvent("ag", "t1", "lift-1", T0 + 1, "elevator.trapped", "start"),
        DeviceEvent("ag", "t2", "lift-1", T0 + 20, "elevator.trapped", "end"),  # range end
        DeviceEvent("ag", "t0", "lift-1", T0 - 1, "elevator.trapped", "start"),  # before it
    ])
    assert isinstance(store, EventHistory)
    got = store.events_of_types(["elevator.door_fault", "elevator.trapped"], T0, T0 + 20)
    assert [e.id for e in got] == ["t1", "f1"]
    assert got[1] == fault  # every field back as written
    assert store.events_of_types([], T0, T0 + 20) == []


def test_activity_counts_messages_in_range_and_last_seen_over_all_time(
    store: DuckDBTimeSeries,
) -> None:
    temps = readings("smoke-1", 30, every=10.0)
    # A second metric at the same instants: the same messages, so not counted again.
    co = [Reading(r.agent, r.device, "co_ppm", r.ts, 1.0) for r in temps]
    store.write_readings(temps + co + readings("smoke-2", 5))
    late_event = event("smoke-2", "e9", T0 + 10_000)
    store.write_events([late_event, event("panel-1", "e1", T0 + 5)])
    # Arriving late with an old time must not move last_seen back.
    store.write_events([event("smoke-1", "e2", T0 - 100)])

    start, end = temps[5].ts, temps[15].ts
    got = {a.device: a for a in store.activity(start, end)}

    assert set(got) == {"smoke-1", "smoke-2", "panel-1"}
    assert got["smoke-1"].messages == sum(start <= r.ts < end for r in temps)
    assert got["smoke-1"].last_seen == max(r.ts for r in temps)
    assert got["smoke-2"].last_seen == late_event.ts
    assert got["panel-1"].messages == 0


def test_two_writer_threads_and_a_reader_do_not_corrupt(store: DuckDBTimeSeries) -> None:
    # Overlapping batches: the same keys arrive from both writers, as on a redelivery.
    batches = [readings(f"dev-{i % 4}", 200, start=T0 + (i % 3) * 100) for i in range(12)]
    new_rows: list[int] = []
    errors: list[BaseException] = []

    def write(mine: list[list[Reading]]) -> None:
        try:
            new_rows.extend(len(store.write_readings(b)) for b in mine)
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        try:
            for _ in range(20):
                store.series("dev-0", "temperature_c", T0, T0 + 1e4, 10)
                store.activity(T0, T0 + 1e4)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(batches[0::2],)),
        threading.Thread(target=write, args=(batches[1::2],)),
        threading.Thread(target=read),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    distinct = {(r.device, r.metric, r.ts) for b in batches for r in b}
    assert errors == []
    assert sum(new_rows) == len(distinct)
    assert store.reading_count() == len(distinct)


def test_closed_store_refuses_use(tmp_path: Path) -> None:
    s = DuckDBTimeSeries(tmp_path / "ts.duckdb")
    s.close()
    with pytest.raises(RuntimeError):
        s.write_readings(readings("smoke-1", 1))
    with pytest.raises(RuntimeError):
        s.reading_count()


def test_a_closed_store_that_outlives_its_close_leaks_nothing_at_exit(tmp_path: Path) -> None:
    # A thread still running at exit (a daemon worker of a test library or a server)
    # can hold the store object to the end; DuckDB's bindings then list every DuckDB
    # object still alive ("nanobind: leaked ...") after the test summary, which made a
    # good `make test` look crashed. Closing must free them.
    script = f"""
import threading
import time
from pathlib import Path
from gridwatch.records import Reading
from store.timeseries_duckdb import DuckDBTimeSeries

STORE = DuckDBTimeSeries(Path({str(tmp_path / "ts.duckdb")!r}))
STORE.write_readings([Reading("a1", "d1", "m", 1.0, 2.0)])
readers = [threading.Thread(target=STORE.series, args=("d1", "m", 0.0, 9.0, None))
           for _ in range(3)]
for t in readers:
    t.start()
for t in readers:
    t.join()
STORE.close()
# Still running at exit, and holding the store.
threading.Thread(target=lambda store=STORE: time.sleep(60), daemon=True).start()
print("closed")
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 0 and run.stdout.strip() == "closed", run.stderr
    assert "leaked" not in run.stderr, run.stderr


def test_the_alarm_lane_writes_while_a_bulk_readings_batch_is_open(
    store: DuckDBTimeSeries,
) -> None:
    """The bulk writer mid-transaction (its lock held, rows uncommitted, the same device's
    last-seen row touched): the alarm lane's writer commits events."""
    bulk = store._writers["bulk"]
    alarms = store.lane("alarms")
    with bulk.lock:
        cur = bulk.cursor
        cur.execute("BEGIN TRANSACTION")
        cur.execute("INSERT INTO readings VALUES ('dev1', 'temperature_c', ?, 1.0, 'agent1')",
                    [T0])
        cur.execute("INSERT INTO last_seen VALUES ('dev1', ?)", [T0])
        done: list[int] = []
        writer = threading.Thread(target=lambda: done.append(
            len(alarms.write_events([event("dev1", "e1", T0 + 5)]))))
        writer.start()
        writer.join(10)
        assert done == [1], "the alarm lane waited for the bulk transaction"
        cur.execute("COMMIT")
    # The lane's readings go through the bulk writer (the health rollup's one writer).
    battery = Reading("agent1", "dev1", "battery_pct", T0 + 6, 80.0)
    assert alarms.write_readings([battery]) == [battery]
    [seen] = store.activity(T0, T0 + 10)
    assert (seen.device, seen.last_seen) == ("dev1", T0 + 6)  # the larger of both tables


def test_an_unknown_lane_is_refused(store: DuckDBTimeSeries) -> None:
    with pytest.raises(ValueError, match="unknown ingest lane 'fast'"):
        store.lane("fast")


def test_recent_series_reads_each_key_s_own_span_in_one_query(store: DuckDBTimeSeries) -> None:
    # What a restart's replay reads: the same rows `series` gives key by key, in the
    # keys' order, with a span of its own per key; keys not asked for stay out.
    for name in ("smoke-1", "smoke-2", "smoke-3"):
        batch = readings(name, 100)
        store.write_readings(batch + [Reading("agent1", name, "co_ppm", r.ts, 1.0) for r in batch])
    now = T0 + 60.0
    spans = {("smoke-3", "co_ppm"): 10.0, ("smoke-1", "temperature_c"): 30.0,
             ("smoke-2", "temperature_c"): 60.5, ("smoke-9", "temperature_c"): 30.0}
    expected = [
        (device, metric, p.ts, p.value)
        for (device, metric), span in spans.items()
        for p in store.series(device, metric, now - span, now, None)
    ]
    got = store.recent_series(spans, now)
    assert got == expected
    # [now - span, now): 10 + 30 + 60 rows (smoke-2's span reaches before its first row)
    assert [sum(1 for d, m, _, _ in got if (d, m) == k) for k in spans] == [10, 30, 60, 0]
    assert isinstance(store, SpanHistory) and store.recent_series({}, now) == []
