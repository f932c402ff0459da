"""The restart's history read, timed: what `rebuild` reads back before the windowed
rules see again, for the sample street (every series its rules replay, one reading a
minute for two hours) from the embedded store in one scan (`recent_series`), beside
the same history read one `series` query per (device, metric), as before."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import cast

import numpy as np

from bench.kit import ROUNDS, Result
from config.loader import DEFAULT_CONFIG_DIR, load_registry
from detectors.engine import DetectorEngine
from gridwatch.reading_table import ReadingTable
from store.interfaces import TimeSeriesStore
from store.timeseries_duckdb import DuckDBTimeSeries


class _SeriesOnly:
    """The store seen through `series` alone: the per-series read a store without
    `recent_series` gets."""

    def __init__(self, store: DuckDBTimeSeries) -> None:
        self.series = store.series


def _timed(engine: DetectorEngine, store: object, now: float) -> tuple[float, int]:
    start = time.perf_counter()
    # `history` reads only `series`, or `recent_series` where the store has it.
    history = engine.history(cast(TimeSeriesStore, store), now)
    return time.perf_counter() - start, len(history)


def run(quick: bool) -> list[Result]:
    registry = load_registry(DEFAULT_CONFIG_DIR)
    engine = DetectorEngine(registry)
    keys = list(engine.replay_spans())
    minutes = 20 if quick else 120
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(prefix="gw-bench-restart-") as tmp:
        store = DuckDBTimeSeries(Path(tmp) / "ts.duckdb")
        now = time.time()
        agents = [registry.devices[d].agent for d, _ in keys]
        devices, metrics = [d for d, _ in keys], [m for _, m in keys]
        for k in range(minutes):
            ts = np.full(len(keys), now - (minutes - k) * 60.0)
            store.write_table(ReadingTable.from_columns(
                agents, devices, metrics, ts, rng.random(len(keys))))
        one, per_series, rows = [], [], 0
        for _ in range(ROUNDS):
            took, rows = _timed(engine, store, now)
            one.append(took)
            per_series.append(_timed(engine, _SeriesOnly(store), now)[0])
        store.close()
    return [Result(
        f"restart history read, sample street ({len(keys)} series, {minutes} min at one "
        f"reading a minute; {rows:,} readings replayed), one scan", "s",
        statistics.median(one), "one series query per (device, metric)",
        statistics.median(per_series))]
