"""`gridwatch bench influx`: the InfluxDB backend's write rate, against a real
VictoriaMetrics (it takes the same line protocol on the v2 write API), beside the
embedded DuckDB store's, writing the same readings in the same ingest-sized batches
in the same run. Each figure is the median of ROUNDS rounds; every round opens fresh
stores, so each reading is a new write for both."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench.kit import ROUNDS, Result
from gridwatch.records import Reading
from launchers.victoria import Victoria, VictoriaMissing
from store.influx_lines import parse_influx_url
from store.interfaces import TimeSeriesStore
from store.timeseries_duckdb import DuckDBTimeSeries
from store.timeseries_influx import InfluxTimeSeries

BATCH = 1_000  # readings per write_readings call, as one ingest transaction carries


def _readings(n: int) -> list[Reading]:
    """1,500 devices (the sample street's size), four metrics, a reading a second."""
    t0 = 1_764_090_000.0
    metrics = ("temperature_c", "battery_pct", "rssi_dbm", "co_ppm")
    return [Reading(f"agent-{i % 27}", f"dev-{i % 1500}", metrics[(i // 1500) % 4],
                    t0 + i // 6000, float(i % 100)) for i in range(n)]


def _rate(store: TimeSeriesStore, readings: list[Reading]) -> float:
    start = time.perf_counter()
    for i in range(0, len(readings), BATCH):
        store.write_readings(readings[i : i + BATCH])
    elapsed = time.perf_counter() - start
    store.close()
    return len(readings) / elapsed


def run(quick: bool) -> list[Result]:
    readings = _readings(20_000 if quick else 200_000)
    with tempfile.TemporaryDirectory(prefix="gw-bench-influx-") as tmp:
        root = Path(tmp)
        try:
            server = Victoria(root / "vm")
        except VictoriaMissing as exc:
            print(f"influx: skipped: {exc}", flush=True)
            return []
        server.start()
        try:
            influx, duck = [], []
            for r in range(ROUNDS):
                target = parse_influx_url(server.store_url(bucket=f"round{r}"))
                influx.append(_rate(InfluxTimeSeries(target, "bench", root / f"spool{r}"),
                                    readings))
                duck.append(_rate(DuckDBTimeSeries(root / f"duck{r}.duckdb"), readings))
        finally:
            server.stop()
    return [Result(f"influx store write to VictoriaMetrics ({len(readings):,} readings)",
                   "readings/s", statistics.median(influx),
                   "embedded DuckDB store, same readings", statistics.median(duck))]
