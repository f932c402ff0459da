"""The embedded time-series store: readings and device events in one DuckDB file.

Threading: a DuckDB connection must not be shared between threads, but its
`cursor()`s are independent connections to the same database and may run in
parallel. Writes go through a writer cursor under a lock, because DuckDB has
optimistic concurrency: two transactions inserting the same key at once would make
one fail with a conflict instead of being ignored. There are two writers: the bulk one,
and the alarm lane's (`lane("alarms")`), which writes events only, so an alarm's write
never waits for a bulk readings batch to commit; each keeps its own "last seen" table,
so the two never update the same row, and readers take the larger of the two. Reads
borrow a cursor from a small pool, so API threads never wait for ingest and never share a cursor.
`close()` is meant for shutdown, after the other threads have stopped using it.

Durability: a batch is one transaction and `COMMIT` returns only once DuckDB has
written it to its WAL (or checkpointed it), which is the point ingest acks after.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any, Generic, TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute  # Table.take needs it: loaded at start, not in the first batch

from gridwatch.reading_table import ReadingTable
from gridwatch.records import DeviceEvent, Reading
from store.health_batch import batch_times
from store.health_duckdb import LAST_SEEN, DeviceHealthStats, device_health
from store.health_rollup import HealthRollup
from store.interfaces import DeviceActivity, SeriesPoint

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS readings (
        device VARCHAR NOT NULL, metric VARCHAR NOT NULL, ts DOUBLE NOT NULL,
        value DOUBLE NOT NULL, agent VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS events (
        agent VARCHAR NOT NULL, id VARCHAR NOT NULL, state VARCHAR NOT NULL,
        ts DOUBLE NOT NULL, device VARCHAR NOT NULL, type VARCHAR NOT NULL,
        zone VARCHAR, score DOUBLE, attrs VARCHAR NOT NULL, snapshot VARCHAR,
        PRIMARY KEY (agent, id, state, ts))""",
    # Kept up to date on every write so that "last seen" for health reports does not
    # have to scan every reading ever stored.
    """CREATE TABLE IF NOT EXISTS last_seen (
        device VARCHAR PRIMARY KEY, ts DOUBLE NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS last_seen_alarms (
        device VARCHAR PRIMARY KEY, ts DOUBLE NOT NULL)""",
    # One row once `last_seen` is known to cover every stored reading (see
    # _LAST_SEEN_BACKFILL): only then may a write skip its replay check.
    "CREATE TABLE IF NOT EXISTS last_seen_covers_readings (since DOUBLE NOT NULL)",
)
LANES = ("bulk", "alarms")

log = logging.getLogger(__name__)

_BATCH = "_gw_batch"
_SPANS = "_gw_spans"  # a restart's (device, metric, since) keys, registered on a reader



_DEVICES = "_gw_devices"  # a readings batch's (device, oldest, newest), from numpy


def _touch_last_seen(
    table: str, newest: str = f"SELECT device, max(ts) FROM {_BATCH} GROUP BY device"
) -> str:
    """Raise `table`'s last-seen times to `newest`'s (device, ts) rows: by default the
    batch's newest per device (events); all the stored readings' when a file is
    backfilled; a readings batch's spans, grouped in numpy."""
    # One row per device: DuckDB refuses to update the same row twice in one statement.
    return f"""INSERT INTO {table} AS t {newest}
    ON CONFLICT (device) DO UPDATE SET ts = greatest(t.ts, excluded.ts)"""


@dataclass
class _Writer:
    """One writer connection: its cursor, the lock serialising its transactions, and
    the "last seen" table only it updates."""

    cursor: Any
    last_seen: str
    lock: threading.Lock = field(default_factory=threading.Lock)

R = TypeVar("R", Reading, DeviceEvent)


@dataclass(frozen=True)
class _Table(Generic[R]):
    """How records of one kind become an Arrow batch and rows of one table."""

    name: str
    columns: dict[str, pa.DataType]
    key: tuple[str, ...]
    # Columns whose value is not the record's attribute of the same name.
    computed: dict[str, Callable[[R], Any]] = field(default_factory=dict)

    def batch(self, rows: Sequence[R]) -> pa.Table:
        def values(name: str) -> list[Any]:
            get = self.computed.get(name) or attrgetter(name)
            return [get(r) for r in rows]

        return pa.table({name: pa.array(values(name), type=t) for name, t in self.columns.items()})

    def insert(self) -> str:
        # RETURNING yields only the rows that were inserted, not the ignored ones.
        return (
            f"INSERT OR IGNORE INTO {self.name} SELECT {', '.join(self.columns)} FROM {_BATCH}"
            f" RETURNING {', '.join(self.key)}"
        )


_READINGS: _Table[Reading] = _Table(
    "readings",
    {
        "device": pa.string(),
        "metric": pa.string(),
        "ts": pa.float64(),
        "value": pa.float64(),
        "agent": pa.string(),
    },
    key=("device", "metric", "ts"),
)

_EVENTS: _Table[DeviceEvent] = _Table(
    "events",
    {
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
    },
    key=("agent", "id", "state", "ts"),
    computed={"attrs": lambda e: json.dumps(e.attrs, separators=(",", ":"), sort_keys=True)},
)


# The batch's readings that are not stored already (the batch repeats no key: see
# ReadingTable.last_of_each_key). The stored side is limited to the batch's time range,
# so DuckDB's per-row-group min/max of ts skips everything older or newer.
_NEW_READINGS = f"""
SELECT i FROM {_BATCH} ANTI JOIN (
    SELECT device, metric, ts FROM readings
    WHERE ts BETWEEN ? AND ?  -- constants, so the scan can skip row groups
) stored USING (device, metric, ts) ORDER BY i"""
# The replay check costs about a fifth of a readings write, and a live agent's batch
# is nearly always newer than everything stored for its devices. Such a batch cannot
# repeat a stored reading, so the check is skipped when every device of the batch has a
# `last_seen` and its oldest reading in the batch is after it. `last_seen` never
# under-states what is stored: it is raised in the same transaction as every append
# (events only raise it further), and a file written before it was kept (or by a tool
# that appends readings directly) is backfilled once at open. A device without a
# `last_seen` takes the check.
_MAY_REPEAT_STORED = f"""
SELECT count(*) FROM {_DEVICES} b
LEFT JOIN last_seen s USING (device) WHERE s.ts IS NULL OR b.oldest <= s.ts"""
_LAST_SEEN_BACKFILL = (
    _touch_last_seen("last_seen", "SELECT device, max(ts) FROM readings GROUP BY device"),
    "INSERT INTO last_seen_covers_readings VALUES (epoch(now()))",
)
_APPEND_READINGS = (
    f"INSERT INTO readings SELECT {', '.join(_READINGS.columns)} FROM {_BATCH}"
)


class DuckDBTimeSeries:
    """TimeSeriesStore on an embedded DuckDB file (created, with its tables, if absent)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(str(path))
        for ddl in _SCHEMA:
            self._con.execute(ddl)
        self._backfill_last_seen()
        self._cursor_lock = threading.Lock()
        self._cursors: list[Any] = []
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._writers = {
            "bulk": _Writer(self._new_cursor(), "last_seen"),
            "alarms": _Writer(self._new_cursor(), "last_seen_alarms"),
        }
        self._writer = self._writers["bulk"].cursor  # the health rollup's (bulk only)
        # fetchall, not fetchone: a result not read to its end keeps the connection's
        # transaction open, and DuckDB then never checkpoints the WAL into the file.
        [(newest,)] = self._con.execute("SELECT max(ts) FROM events").fetchall()
        self._events_newest_at_open = float("-inf") if newest is None else float(newest)
        self._health = HealthRollup(self._writer)

    def write_readings(self, readings: Sequence[Reading]) -> list[Reading]:
        return self.write_table(ReadingTable.of(readings)).records()

    def write_table(self, readings: ReadingTable) -> ReadingTable:
        """Append what is new, and return it in input order. No per-reading key: a
        replay is dropped by an anti-join against the stored rows in the batch's time
        range (see README "Replays"); only the bulk writer writes readings, under its
        lock, so nothing can slip in between the check and the append."""
        if not len(readings):
            return readings
        writer = self._writers["bulk"]
        readings = readings.last_of_each_key()
        batch = readings.table.append_column(
            "i", pa.array(np.arange(len(readings), dtype=np.int64)))
        # Grouped by device once, in numpy, for the replay check, `last_seen` and the
        # health rollup alike: DuckDB's two GROUP BYs over the batch's strings cost 7 ms
        # of a 50,000-reading batch's 37. Replays are already stored, so the batch's
        # newest per device is also what its new readings raise `last_seen` to.
        times = batch_times(readings)
        # The lock is held until the health rollup has taken the change in: the next
        # batch's `add` must see this one's.
        with writer.lock, self._health.batch_visible():
            with self._transaction(writer, batch) as cur:
                cur.register(_DEVICES, times.spans())
                try:
                    new = readings
                    if cur.execute(_MAY_REPEAT_STORED).fetchall()[0][0]:
                        fresh = cur.execute(
                            _NEW_READINGS, list(readings.span())).fetchnumpy()["i"]
                        new = readings.take(fresh)
                        if new is not readings:
                            times = batch_times(new)
                    cur.unregister(_BATCH)
                    cur.register(_BATCH, new.table)
                    cur.execute(_APPEND_READINGS)
                    cur.execute(_touch_last_seen(
                        writer.last_seen, f"SELECT device, newest FROM {_DEVICES}"))
                finally:
                    cur.unregister(_DEVICES)
                change = self._health.add(cur, new.table, times)
            self._health.applied(change)
        return new

    def write_events(self, events: Sequence[DeviceEvent]) -> list[DeviceEvent]:
        return self._write(self._writers["bulk"], _EVENTS, events)

    def _backfill_last_seen(self) -> None:
        """Once per file: raise `last_seen` to every device's newest stored reading, so
        that a write may trust it (see _MAY_REPEAT_STORED). A new file has no readings
        and is done at once; an old one pays one scan, the first time it is opened."""
        if self._con.execute("SELECT count(*) FROM last_seen_covers_readings").fetchall()[0][0]:
            return
        self._con.execute("BEGIN TRANSACTION")
        try:
            for sql in _LAST_SEEN_BACKFILL:
                self._con.execute(sql)
            self._con.execute("COMMIT")
        except BaseException:
            with suppress(duckdb.Error):
                self._con.execute("ROLLBACK")
            raise

    def held_at_open(self, events: Sequence[DeviceEvent]) -> list[DeviceEvent]:
        # Only an event no later than the newest one stored at opening can be among
        # them, so a live alarm costs no query: under a readings load even this read
        # took 2-38 ms on the alarm's path.
        old = [e for e in events if e.ts <= self._events_newest_at_open]
        if not old:
            return []
        keys = _EVENTS.batch(old).select(list(_EVENTS.key))
        with self._reader() as cur:
            cur.register(_BATCH, keys)
            try:
                found = set(cur.execute(
                    f"SELECT {', '.join(_EVENTS.key)} FROM {_BATCH}"
                    f" SEMI JOIN events USING ({', '.join(_EVENTS.key)})").fetchall())
            finally:
                cur.unregister(_BATCH)
        key = attrgetter(*_EVENTS.key)
        return [e for e in old if key(e) in found]

    def lane(self, name: str) -> LaneWriter:
        """The writes of one ingest lane, on that lane's own writer connection."""
        if name not in self._writers:
            raise ValueError(f"unknown ingest lane {name!r}; expected one of {LANES}")
        return LaneWriter(self, self._writers[name])

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

    def recent_series(
        self, spans: Mapping[tuple[str, str], float], now: float
    ) -> list[tuple[str, str, float, float]]:
        """Every key's recent readings in one scan (see SpanHistory). A restart asked
        for about 3,000 series one `series` query at a time: with no key on the table
        each was a scan of the last hour, 9.5 s for a street at one reading a minute
        (measured), during which the windowed rules were blind."""
        if not spans:
            return []
        keys = pa.table({
            "device": [d for d, _ in spans], "metric": [m for _, m in spans],
            "since": [now - span for span in spans.values()],
            "pos": np.arange(len(spans), dtype=np.int64),
        })
        sql = f"""SELECT r.device, r.metric, r.ts, r.value FROM readings r
            JOIN {_SPANS} k ON r.device = k.device AND r.metric = k.metric
            WHERE r.ts >= ? AND r.ts < ? AND r.ts >= k.since ORDER BY k.pos, r.ts"""
        with self._reader() as cur:
            cur.register(_SPANS, keys)
            try:
                rows = cur.execute(sql, [now - max(spans.values()), now])
                return [(str(d), str(m), float(t), float(v)) for d, m, t, v in rows.fetchall()]
            finally:
                cur.unregister(_SPANS)

    def reading_count(self) -> int:
        with self._reader() as cur:
            # fetchall: a half-read result would block the next `register` on this cursor
            return int(cur.execute("SELECT count(*) FROM readings").fetchall()[0][0])

    def activity(self, start: float, end: float) -> list[DeviceActivity]:
        """Every device ever seen, with its last reading or event time (all time) and
        its messages in [start, end). A message is counted as a distinct reading
        timestamp of the device: one MQTT message usually carries several metrics of a
        device at the same instant, so counting rows would inflate it per metric."""
        sql = f"""
            SELECT s.device, s.ts, coalesce(m.n, 0)
            FROM {LAST_SEEN} s LEFT JOIN (
                SELECT device, count(DISTINCT ts) AS n FROM readings
                WHERE ts >= ? AND ts < ? GROUP BY device
            ) m USING (device)
            ORDER BY s.device"""
        with self._reader() as cur:
            rows = cur.execute(sql, [start, end]).fetchall()
        return [DeviceActivity(device, float(ts), int(n)) for device, ts, n in rows]

    def device_health(
        self,
        start: float,
        end: float,
        allowances: Mapping[str, float],
        fault_types: Sequence[str],
        commissioned: Mapping[str, float] | None = None,
    ) -> list[DeviceHealthStats]:
        """Per-device health figures over [start, end) (see
        `store.health_duckdb.device_health`), read from the state kept at ingest; an
        allowance shorter than the kept silences' floor falls back to the full query."""
        with self._reader() as cur:
            if allowances and min(allowances.values()) < self._health.floor_s:
                return device_health(cur, start, end, allowances, fault_types, commissioned)
            return self._health.report(cur, start, end, allowances, fault_types, commissioned)

    def rebuild_health(self) -> None:
        """Recompute the kept health state from the readings: the bulk path, after
        readings were loaded other than by `write_readings` (as `bench.health` does)."""
        with self._writers["bulk"].lock:
            self._check_open()
            self._health.rebuild(self._writer)
            self._health = HealthRollup(self._writer, self._health.floor_s)

    def events_of_types(
        self, types: Sequence[str], start: float, end: float
    ) -> list[DeviceEvent]:
        """Events of these types in [start, end), oldest first (see EventHistory)."""
        if not types:
            return []
        marks = ", ".join("?" * len(types))
        sql = f"""SELECT agent, id, device, ts, type, state, zone, score, attrs, snapshot
            FROM events WHERE type IN ({marks}) AND ts >= ? AND ts < ? ORDER BY ts"""
        with self._reader() as cur:
            rows = cur.execute(sql, [*types, start, end]).fetchall()
        return [
            DeviceEvent(
                str(a), str(i), str(d), float(ts), str(t), st, zone=z,
                score=None if sc is None else float(sc), attrs=json.loads(at), snapshot=snap,
            )
            for a, i, d, ts, t, st, z, sc, at, snap in rows
        ]

    def snapshot_device(self, agent: str, snapshot_id: str) -> str | None:
        """The device of the event that carried this snapshot, or None if no event did
        (callers scope a snapshot by its device)."""
        sql = "SELECT device FROM events WHERE agent = ? AND snapshot = ? LIMIT 1"
        with self._reader() as cur:
            rows = cur.execute(sql, [agent, snapshot_id]).fetchall()
        # fetchall: a half-read result would block the next query on this pooled cursor.
        return str(rows[0][0]) if rows else None

    def latest_snapshot(
        self, device: str, start: float, end: float
    ) -> tuple[str, str] | None:
        """(agent, snapshot id) of the device's last event with a snapshot in
        [start, end], or None."""
        sql = """SELECT agent, snapshot FROM events
            WHERE device = ? AND snapshot IS NOT NULL AND ts >= ? AND ts <= ?
            ORDER BY ts DESC LIMIT 1"""
        with self._reader() as cur:
            rows = cur.execute(sql, [device, start, end]).fetchall()
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def close(self) -> None:
        with self._writers["bulk"].lock, self._writers["alarms"].lock, self._cursor_lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._health.close(self._writer)
            except duckdb.Error:
                # not marked clean, so the next open rebuilds it from the readings
                log.exception("health state not saved at close")
            for cur in self._cursors:
                cur.close()
            self._con.close()
            # Closed is not freed: an object that outlives the store (an app a test
            # library keeps, a module global) would keep these DuckDB objects alive to
            # interpreter exit, where DuckDB's bindings report each one as a leak.
            self._cursors.clear()
            while not self._idle.empty():
                self._idle.get_nowait()
            for writer in self._writers.values():
                writer.cursor = None
            del self._writer, self._con

    def _write(self, writer: _Writer, table: _Table[R], records: Sequence[R]) -> list[R]:
        """Insert, and return the records that were new, in their input order. A key
        repeated within the batch counts once (its last record), so that what is
        returned is exactly what was stored."""
        if not records:
            return []
        key = attrgetter(*table.key)
        unique = dict(zip(map(key, records), records, strict=True))
        batch = table.batch(list(unique.values()))
        with writer.lock, self._transaction(writer, batch) as cur:
            new_keys = set(cur.execute(table.insert()).fetchall())
            cur.execute(_touch_last_seen(writer.last_seen))
        return [r for k, r in unique.items() if k in new_keys]

    @contextmanager
    def _transaction(self, writer: _Writer, batch: pa.Table) -> Iterator[Any]:
        """The writer's cursor in a transaction with `batch` registered as _BATCH;
        committed when the block ends, rolled back if it raises. The caller holds
        `writer.lock`."""
        self._check_open()
        cur = writer.cursor
        cur.register(_BATCH, batch)
        try:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                # A failed COMMIT has already ended the transaction; keep its error.
                with suppress(duckdb.Error):
                    cur.execute("ROLLBACK")
                raise
        finally:
            cur.unregister(_BATCH)

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
            if not self._closed:
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


class LaneWriter:
    """The writes of one ingest lane: events on the lane's own writer connection.
    Readings always go through the bulk writer, whose transaction also folds them into
    the health rollup (store.health_rollup), which keeps one writer's state: an alarm
    lane's health readings (battery, RSSI) may wait for a bulk batch, its events never."""

    def __init__(self, store: DuckDBTimeSeries, writer: _Writer) -> None:
        self._store = store
        self._writer = writer

    def write_readings(self, readings: Sequence[Reading]) -> list[Reading]:
        return self._store.write_readings(readings)

    def write_table(self, readings: ReadingTable) -> ReadingTable:
        return self._store.write_table(readings)

    def write_events(self, events: Sequence[DeviceEvent]) -> list[DeviceEvent]:
        return self._store._write(self._writer, _EVENTS, events)

    def held_at_open(self, events: Sequence[DeviceEvent]) -> list[DeviceEvent]:
        return self._store.held_at_open(events)
