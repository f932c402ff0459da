"""The embedded time-series store: readings and device events in one DuckDB file.

Threading: a DuckDB connection must not be shared between threads, but its
`cursor()`s are independent connections to the same database and may run in
parallel. Writes go through one writer cursor under a lock, because DuckDB has
optimistic concurrency: two transactions inserting the same key at once would make
one fail with a conflict instead of being ignored. Reads borrow a cursor from a
small pool, so API threads never wait for ingest and never share a cursor.
`close()` is meant for shutdown, after the other threads have stopped using it.

Durability: a batch is one transaction and `COMMIT` returns only once DuckDB has
written it to its WAL (or checkpointed it), which is the point ingest acks after.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from gridwatch.records import DeviceEvent, Reading
from store.interfaces import DeviceActivity, SeriesPoint

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS readings (
        device VARCHAR NOT NULL, metric VARCHAR NOT NULL, ts DOUBLE NOT NULL,
        value DOUBLE NOT NULL, agent VARCHAR NOT NULL,
        PRIMARY KEY (device, metric, ts))""",
    """CREATE TABLE IF NOT EXISTS events (
        agent VARCHAR NOT NULL, id VARCHAR NOT NULL, state VARCHAR NOT NULL,
        ts DOUBLE NOT NULL, device VARCHAR NOT NULL, type VARCHAR NOT NULL,
        zone VARCHAR, score DOUBLE, attrs VARCHAR NOT NULL, snapshot VARCHAR,
        PRIMARY KEY (agent, id, state, ts))""",
    # Kept up to date on every write so that "last seen" for health reports does not
    # have to scan every reading ever stored.
    """CREATE TABLE IF NOT EXISTS last_seen (
        device VARCHAR PRIMARY KEY, ts DOUBLE NOT NULL)""",
)

_BATCH = "_gw_batch"

_INSERT_READINGS = f"""INSERT OR IGNORE INTO readings
    SELECT device, metric, ts, value, agent FROM {_BATCH}"""

_INSERT_EVENTS = f"""INSERT OR IGNORE INTO events
    SELECT agent, id, state, ts, device, type, zone, score, attrs, snapshot FROM {_BATCH}"""

# Grouped first: DuckDB refuses to update the same row twice in one statement.
_TOUCH_LAST_SEEN = f"""INSERT INTO last_seen
    SELECT device, max(ts) FROM {_BATCH} GROUP BY device
    ON CONFLICT (device) DO UPDATE SET ts = greatest(last_seen.ts, excluded.ts)"""

_READINGS_TYPES = {
    "device": pa.string(),
    "metric": pa.string(),
    "ts": pa.float64(),
    "value": pa.float64(),
    "agent": pa.string(),
}

_EVENTS_TYPES = {
    "agent": pa.string(),
    "id": pa.string(),
    "state": pa.string(),
    "ts": pa.float64(),
    "device": pa.string(),
    "type": pa.string(),
    "zone": pa.string(),
    "score": pa.float64(),
    "attrs": pa.string(),
    "snapshot": pa.string(),
}


def _columns(rows: Sequence[Any], types: dict[str, pa.DataType], **computed: list[Any]) -> pa.Table:
    """One Arrow column per field of `rows`, or the precomputed values given by name."""
    return pa.table(
        {
            name: pa.array(
                computed[name] if name in computed else [getattr(r, name) for r in rows], type=t
            )
            for name, t in types.items()
        }
    )


class DuckDBTimeSeries:
    """TimeSeriesStore on an embedded DuckDB file (created, with its tables, if absent)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(str(path))
        for ddl in _SCHEMA:
            self._con.execute(ddl)
        self._cursor_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._cursors: list[Any] = []
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._writer = self._new_cursor()

    def write_readings(self, readings: Sequence[Reading]) -> int:
        if not readings:
            return 0
        return self._write(_columns(readings, _READINGS_TYPES), _INSERT_READINGS)

    def write_events(self, events: Sequence[DeviceEvent]) -> int:
        if not events:
            return 0
        attrs = [json.dumps(e.attrs, separators=(",", ":"), sort_keys=True) for e in events]
        return self._write(_columns(events, _EVENTS_TYPES, attrs=attrs), _INSERT_EVENTS)

    def series(
        self, device: str, metric: str, start: float, end: float, step: float | None
    ) -> list[SeriesPoint]:
        where = "device = ? AND metric = ? AND ts >= ? AND ts < ?"
        if step is None:
            sql = f"SELECT ts, value FROM readings WHERE {where} ORDER BY ts"
            params: list[object] = [device, metric, start, end]
        elif step > 0:
            sql = (
                f"SELECT floor(ts / ?) * ? AS bucket, avg(value) FROM readings WHERE {where}"
                " GROUP BY bucket ORDER BY bucket"
            )
            params = [step, step, device, metric, start, end]
        else:
            raise ValueError(f"step must be positive, got {step}")
        with self._reader() as cur:
            rows = cur.execute(sql, params).fetchall()
        return [SeriesPoint(float(ts), float(value)) for ts, value in rows]

    def reading_count(self) -> int:
        with self._reader() as cur:
            return int(cur.execute("SELECT count(*) FROM readings").fetchone()[0])

    def activity(self, start: float, end: float) -> list[DeviceActivity]:
        """Every device ever seen, with its last reading or event time (all time) and
        its messages in [start, end). A message is counted as a distinct reading
        timestamp of the device: one MQTT message usually carries several metrics of a
        device at the same instant, so counting rows would inflate it per metric."""
        sql = """
            SELECT s.device, s.ts, coalesce(m.n, 0)
            FROM last_seen s LEFT JOIN (
                SELECT device, count(DISTINCT ts) AS n FROM readings
                WHERE ts >= ? AND ts < ? GROUP BY device
            ) m USING (device)
            ORDER BY s.device"""
        with self._reader() as cur:
            rows = cur.execute(sql, [start, end]).fetchall()
        return [DeviceActivity(device, float(ts), int(n)) for device, ts, n in rows]

    def close(self) -> None:
        with self._write_lock, self._cursor_lock:
            if self._closed:
                return
            self._closed = True
            for cur in self._cursors:
                cur.close()
            self._con.close()

    def _write(self, batch: pa.Table, insert: str) -> int:
        with self._write_lock:
            self._check_open()
            cur = self._writer
            cur.register(_BATCH, batch)
            try:
                cur.execute("BEGIN TRANSACTION")
                try:
                    new = int(cur.execute(insert).fetchone()[0])
                    cur.execute(_TOUCH_LAST_SEEN)
                    cur.execute("COMMIT")
                except BaseException:
                    # A failed COMMIT has already ended the transaction; keep its error.
                    with suppress(duckdb.Error):
                        cur.execute("ROLLBACK")
                    raise
            finally:
                cur.unregister(_BATCH)
        return new

    @contextmanager
    def _reader(self) -> Iterator[Any]:
        self._check_open()
        try:
            cur = self._idle.get_nowait()
        except queue.Empty:
            cur = self._new_cursor()
        try:
            yield cur
        finally:
            self._idle.put(cur)

    def _new_cursor(self) -> Any:
        with self._cursor_lock:
            self._check_open()
            cur = self._con.cursor()
            self._cursors.append(cur)
            return cur

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the time-series store is closed")
