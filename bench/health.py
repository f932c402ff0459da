"""`gridwatch bench --only health`: the device health report beside a bare grouped query.

History for the sample street (about 1,500 devices, each at its own `interval_s`; an
elevator every 5 s) over `DAYS` days (2 with --quick), in the embedded store, by the
documented bulk path: readings inserted with one SQL statement, then the kept health
state rebuilt from them (`DuckDBTimeSeries.rebuild_health`, what the store does on
opening a database it did not close cleanly). The readings table is created before the
store opens it, with the store's columns but without its primary key: the key's index
for 30 days (about 150M readings) took over 13 GB of memory on the bench machine, and
neither the report nor the rebuild uses it. That the state kept by ingest equals the
full recomputation is a test (`tests/unit/test_health_rollup.py`), not a benchmark.
Silences: each device misses about one hour-long stretch in fifty; smoke and heat
detectors send a `battery_pct` hourly.

Figures (medians of ROUNDS): the report's query (`device_health`, kept state) beside
the bare grouped 24 h query (`count(DISTINCT ts)` per device) and beside the full
recomputation the report used to run (`store.health_duckdb.device_health`); and how
long the rebuild took (the recovery after a crash).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from api.health_report import FAULT_TYPES, WINDOW_S
from bench.kit import ROUNDS, Result
from config.loader import DEFAULT_CONFIG_DIR, load_registry
from store.health_duckdb import device_health
from store.timeseries_duckdb import DuckDBTimeSeries

DAYS = 30
END = 1_767_225_600.0  # 2026-01-01 UTC: a fixed "now", so runs compare
BATTERY_TYPES = ("smoke_detector", "heat_detector")

_READINGS_NO_KEY = """CREATE TABLE readings (device VARCHAR NOT NULL, metric VARCHAR NOT NULL,
    ts DOUBLE NOT NULL, value DOUBLE NOT NULL, agent VARCHAR NOT NULL)"""
_BULK = """
INSERT INTO readings
SELECT d.device, m.metric, d.phase + k * d.interval_s AS ts,
       CASE WHEN m.metric = 'battery_pct' THEN 90 - k % 50 ELSE k % 17 END, d.agent
FROM _gw_devices d,
     range(0, CAST(($end - $start) / d.interval_s AS BIGINT)) t(k),
     (VALUES ('value'), ('battery_pct')) m(metric)
WHERE d.phase + k * d.interval_s < $end
  AND (m.metric = 'value' OR (d.battery AND k % CAST(3600 / d.interval_s AS BIGINT) = 0))
  -- an hour-long silence in about fifty
  AND hash(d.device, CAST((d.phase + k * d.interval_s) / 3600 AS BIGINT)) % 50 <> 0
-- in time order, as ingest writes them (DuckDB's row-group min/max then skip old data)
ORDER BY ts"""


def _timed(work: Callable[[], object]) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _build(store: DuckDBTimeSeries, devices: pa.Table, start: float, end: float) -> float:
    """Bulk-load the readings and rebuild the kept state; the rebuild's seconds."""
    with store._reader() as cur:
        cur.register("_gw_devices", devices)
        try:
            cur.execute(_BULK, {"start": start, "end": end}).fetchall()
        finally:
            cur.unregister("_gw_devices")
    started = time.perf_counter()
    store.rebuild_health()
    return time.perf_counter() - started


def run(quick: bool) -> list[Result]:
    registry = load_registry(DEFAULT_CONFIG_DIR)
    days = 2 if quick else DAYS
    start = END - days * 86_400.0
    specs = list(registry.devices.values())
    devices = pa.table({
        "device": [d.id for d in specs],
        "agent": [d.agent for d in specs],
        "interval_s": pa.array([d.interval_s for d in specs], pa.float64()),
        "phase": pa.array([start + (i * 7.919) % d.interval_s for i, d in enumerate(specs)],
                          pa.float64()),
        "battery": [d.type in BATTERY_TYPES for d in specs],
    })
    offline = registry.rules.offline
    allowances = {d.id: offline.factor * d.interval_s + offline.grace_s for d in specs}
    with tempfile.TemporaryDirectory(prefix="gw-bench-health-") as tmp:
        with duckdb.connect(str(Path(tmp) / "ts.duckdb")) as con:
            con.execute(_READINGS_NO_KEY)
        store = DuckDBTimeSeries(Path(tmp) / "ts.duckdb")
        try:
            rebuild_s = _build(store, devices, start, END)
            rows = store.reading_count()
            print(f"health: {len(specs)} devices x {days} days, {rows:,} readings; the kept "
                  f"state rebuilt from them in {rebuild_s:.0f} s", flush=True)
            report_start = END - WINDOW_S
            kept = _timed(lambda: store.device_health(report_start, END, allowances,
                                                      FAULT_TYPES))
            with store._reader() as cur:
                bare = _timed(lambda: cur.execute(
                    "SELECT device, count(DISTINCT ts) FROM readings WHERE ts >= ? AND ts < ?"
                    " GROUP BY device", [report_start, END]).fetchall())
                full = _timed(lambda: device_health(cur, report_start, END, allowances,
                                                    FAULT_TYPES))
        finally:
            store.close()
    label = f"health report, {len(specs)} devices x {days} days"
    return [
        Result(f"{label} (kept state)", "s", kept, "bare grouped 24 h query", bare),
        Result(f"{label} (kept state)", "s", kept, "full recomputation, as before", full),
    ]
