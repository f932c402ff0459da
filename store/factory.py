"""Open the stores a backend was asked for (`--store`, `--data-dir`)."""

from __future__ import annotations

from pathlib import Path

from store.interfaces import OpStore, TimeSeriesStore


def check_store_url(url: str) -> None:
    """Validate a store URL without connecting (init validates, start connects)."""
    if url == "embedded":
        return
    if url.startswith(("influx+http://", "influx+https://")):
        raise ValueError(
            f"store {url!r}: the InfluxDB backend is not built yet (tracked as the "
            "production-stack issue); use --store embedded"
        )
    raise ValueError(
        f"store {url!r}: expected 'embedded' or influx+http://HOST:PORT/ORG/BUCKET"
    )


def open_timeseries(url: str, data_dir: Path) -> TimeSeriesStore:
    check_store_url(url)
    from store.timeseries_duckdb import DuckDBTimeSeries

    return DuckDBTimeSeries(data_dir / "timeseries.duckdb")


def open_ops(data_dir: Path) -> OpStore:
    from store.opstate_sqlite import SqliteOpStore

    return SqliteOpStore(data_dir / "ops.sqlite3")
