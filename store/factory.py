"""Open the stores a backend was asked for (`--store`, `--ops`, `--data-dir`)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from store.interfaces import OpStore, TimeSeriesStore

log = logging.getLogger(__name__)
INFLUX_TOKEN_ENV = "GRIDWATCH_INFLUX_TOKEN"
DEAD_LETTER_TOPIC = "influx/write"  # where refused lines show up among the dead letters


def check_store_url(url: str) -> None:
    """Validate a store URL without connecting (init validates, start connects)."""
    if url == "embedded":
        return
    if url.startswith(("influx+http://", "influx+https://")):
        from store.influx_lines import parse_influx_url

        parse_influx_url(url)
        return
    raise ValueError(f"store {url!r}: expected 'embedded' or influx+http://HOST:PORT/ORG/BUCKET")


def open_timeseries(url: str, data_dir: Path, ops: OpStore | None = None) -> TimeSeriesStore:
    """The time-series store; an InfluxDB one spools under the data dir, starts its
    spool flusher, and sends refused lines to `ops`' dead letters (to its own
    connection to the data dir's op store when none is given)."""
    check_store_url(url)
    if url == "embedded":
        from store.timeseries_duckdb import DuckDBTimeSeries

        return DuckDBTimeSeries(data_dir / "timeseries.duckdb")

    from store.influx_lines import parse_influx_url
    from store.timeseries_influx import InfluxTimeSeries

    token = os.environ.get(INFLUX_TOKEN_ENV, "")
    if not token:
        log.warning(
            "%s is not set: InfluxDB will refuse the writes (they are spooled)", INFLUX_TOKEN_ENV
        )
    dead_letters = ops if ops is not None else open_ops(data_dir)

    def dead_letter(line: str, reason: str) -> None:
        dead_letters.add_dead_letter(
            DEAD_LETTER_TOPIC, None, f"influx_rejected: {reason}", line.encode(), time.time()
        )

    store = InfluxTimeSeries(
        parse_influx_url(url), token, data_dir / "influx-spool", dead_letter=dead_letter
    )
    if ops is None:
        store.on_close.append(dead_letters.close)
    store.start_flusher()
    return store


def check_ops_url(url: str) -> None:
    """Validate an op store URL without connecting."""
    if url == "embedded":
        return
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres") and sep and rest:
        return
    raise ValueError(
        f"ops store {url!r}: expected 'embedded' or postgresql://USER:PASSWORD@HOST:PORT/DB"
    )


def open_ops(data_dir: Path, url: str = "embedded") -> OpStore:
    """The op store: the data dir's SQLite file, or a PostgreSQL database that replicas
    share (its migrations run now)."""
    check_ops_url(url)
    if url == "embedded":
        from store.opstate_sqlite import SqliteOpStore

        return SqliteOpStore(data_dir / "ops.sqlite3")
    from store.opstate_postgres import PostgresOpStore

    return PostgresOpStore(url)
