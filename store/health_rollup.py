"""Device health kept at ingest, so the report reads a small state instead of scanning
a day of readings.

A "message" is a distinct reading time of a device (as in `health_duckdb`). The state:

- per device its first and last message time and its last `battery_pct` (value and
  time): in memory, written to `health_devices` when a bucket closes and at close;
- `health_silences`: every step between two consecutive messages of a device longer
  than `floor_s` (a few per device and day), as (a, b), written with the readings;
- messages per device and `BUCKET_S` bucket: open buckets in memory, appended to
  `health_counts` once they close (a late message adds a row; rows are summed).

From these, any window [start, end) gives exactly the figures of the full
recomputation (`health_duckdb.device_health`) as long as every allowance is at least
`floor_s`: with o the start of the device's observed span (`health_duckdb.observed_from`:
the latest of the window's start, its first message and its commissioning), a silence
(a, b) clipped to [max(a, o - allowance), min(b, end)] is a gap when that is longer than
the allowance, and the excess is offline time (the recomputation's "one allowance before
the span" rule, in closed form); after the last message a device is silent too, and a
device never seen is silent over its whole span. Messages are the buckets
wholly inside the window plus the two partial buckets at its ends counted from the
readings (minutes of data, not a day).

A message arriving late (store-and-forward replay after an outage) splits the silence
it falls into; one that repeats a known reading time changes nothing.

Why memory: DuckDB upserts cost tens of milliseconds each, more than the readings'
own insert. What memory holds is lost in a crash, so the tables are marked in use at
open and clean at close. A crash must not delay the next start (a full `rebuild` of 30
days took minutes, and ingest of fire alarms waits for the store's open), so the tables
are a checkpoint: `health_meta.flushed_below` (F) says that `health_counts` is complete
for the buckets below F, and `health_devices` for every message before bucket F.
Memory only holds what is at or after bucket F; the rare message before it (late, or
just behind a bucket edge) goes to the tables in its own transaction. A database not
closed cleanly then `replay`s only the readings from bucket F on (a bucket or two).
Only a database with no checkpoint (an older one, another floor) is rebuilt in full.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa

from store.health_batch import BatchTimes, FloatArray, batch_times
from store.health_duckdb import DeviceHealthStats, allowance_table, observed_from, to_stats
from store.health_fold import fold
from store.health_late import LateTimes

log = logging.getLogger(__name__)

BUCKET_S = 300.0
DEFAULT_FLOOR_S = 30.0  # the offline rule's smallest allowance is 3 x 5 s + 30 s

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS health_devices (
        device VARCHAR PRIMARY KEY, first_ts DOUBLE NOT NULL, last_ts DOUBLE NOT NULL,
        battery DOUBLE, battery_ts DOUBLE)""",
    "CREATE TABLE IF NOT EXISTS health_silences (device VARCHAR NOT NULL, a DOUBLE NOT NULL,"
    " b DOUBLE NOT NULL)",
    """CREATE TABLE IF NOT EXISTS health_counts (
        device VARCHAR NOT NULL, bucket BIGINT NOT NULL, messages BIGINT NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS health_meta (floor_s DOUBLE NOT NULL, clean BOOLEAN NOT NULL)",
    # NULL (a database from before the checkpoint): rebuilt in full once
    "ALTER TABLE health_meta ADD COLUMN IF NOT EXISTS flushed_below BIGINT",
)

_ALLOW = "_gw_health_allow"
_NEW = "_gw_health_new"
_STATE = "_gw_health_state"
_OPEN = "_gw_health_open"

_REPORT = f"""
WITH allow AS (SELECT device, allowance, commissioned FROM {_ALLOW}),
state AS (SELECT a.*, h.first_ts, h.last_ts, h.battery, h.battery_ts,
                 {observed_from("h.first_ts", "a.commissioned")} AS obs
          FROM allow a LEFT JOIN {_STATE} h USING (device)),
spans AS (
    SELECT s.device, s.a, s.b FROM health_silences s SEMI JOIN allow USING (device)
    WHERE s.b > $start AND s.a < $end
    -- before the first message (clipped away by the span, unless never seen: then
    -- unbounded both ways) and after the last
    UNION ALL SELECT device, NULL, first_ts FROM state
    UNION ALL SELECT device, last_ts, NULL FROM state WHERE last_ts IS NOT NULL),
clipped AS (
    SELECT s.device, st.allowance,
           least(coalesce(s.b, $end), $end)
             - greatest(coalesce(s.a, st.obs - st.allowance), st.obs - st.allowance) AS len
    FROM spans s JOIN state st USING (device)),
silences AS (
    SELECT device, count(*) AS gaps, sum(len - allowance) AS offline_s
    FROM clipped WHERE len > allowance GROUP BY device),
counts AS (
    SELECT device, sum(messages) AS n FROM (
        SELECT device, messages FROM health_counts
        WHERE bucket >= $first_bucket AND bucket < $end_bucket
        UNION ALL
        SELECT device, messages FROM {_OPEN}
        WHERE bucket >= $first_bucket AND bucket < $end_bucket
        UNION ALL
        SELECT device, count(DISTINCT ts) FROM readings
        WHERE ts >= $start AND ts < $head_end AND floor(ts / {BUCKET_S})::BIGINT < $first_bucket
        GROUP BY device
        UNION ALL
        SELECT device, count(DISTINCT ts) FROM readings
        WHERE ts >= $tail_start AND ts < $end AND floor(ts / {BUCKET_S})::BIGINT >= $end_bucket
        GROUP BY device)
    GROUP BY device),
faults AS (
    SELECT e.device, count(*) AS n FROM events e SEMI JOIN allow USING (device)
    WHERE e.ts >= $start AND e.ts < $end AND e.state IN ('start', 'instant')
      AND list_contains($fault_types, e.type)
    GROUP BY e.device)
SELECT st.device, ls.ts, coalesce(c.n, 0), coalesce(si.gaps, 0), coalesce(si.offline_s, 0),
       CASE WHEN st.battery_ts >= $start AND st.battery_ts < $end THEN st.battery END,
       coalesce(f.n, 0), $end - st.obs, st.battery_ts >= $end
FROM state st
LEFT JOIN last_seen ls USING (device)
LEFT JOIN counts c USING (device)
LEFT JOIN silences si USING (device)
LEFT JOIN faults f USING (device)
ORDER BY st.device"""

# The bulk path: the whole state from the readings, in three statements.
_REBUILD = (
    "DELETE FROM health_devices",
    "DELETE FROM health_silences",
    "DELETE FROM health_counts",
    "DELETE FROM health_meta",
    """INSERT INTO health_devices
        SELECT device, min(ts), max(ts),
               arg_max(value, ts) FILTER (WHERE metric = 'battery_pct'),
               max(ts) FILTER (WHERE metric = 'battery_pct')
        FROM readings GROUP BY device""",
    """INSERT INTO health_silences
        SELECT device, prev, ts FROM (
            SELECT device, ts, lag(ts) OVER (PARTITION BY device ORDER BY ts) AS prev
            FROM (SELECT DISTINCT device, ts FROM readings))
        WHERE ts - prev > $floor""",
    f"""INSERT INTO health_counts
        SELECT device, floor(ts / {BUCKET_S})::BIGINT AS bucket, count(DISTINCT ts)
        FROM readings GROUP BY device, bucket ORDER BY bucket""",
    # now the tables say it all; the checkpoint is the newest bucket
    f"""INSERT INTO health_meta SELECT $floor, true,
        coalesce(floor(max(last_ts) / {BUCKET_S})::BIGINT, 0) FROM health_devices""",
)

# The state from bucket F on, from the readings at or after F's start.
_REPLAY_COUNTS = f"""SELECT device, floor(ts / {BUCKET_S})::BIGINT AS bucket, count(DISTINCT ts)
    FROM readings WHERE ts >= $lo GROUP BY device, bucket"""
_REPLAY_DEVICES = """SELECT device, min(ts), max(ts),
        arg_max(value, ts) FILTER (WHERE metric = 'battery_pct'),
        max(ts) FILTER (WHERE metric = 'battery_pct')
    FROM readings WHERE ts >= $lo GROUP BY device"""


@dataclass(frozen=True, slots=True)
class _Device:
    first: float
    last: float
    battery: float | None = None
    battery_ts: float | None = None

    def with_battery(self, ts: float | None, value: float | None) -> _Device:
        """With this battery reading if it is the newer one."""
        if ts is None or (self.battery_ts is not None and ts <= self.battery_ts):
            return self
        return _Device(self.first, self.last, value, ts)  # dataclasses.replace: 3x slower


@dataclass(slots=True)
class Change:
    """What one batch changes in memory: applied only once its transaction commits."""

    devices: dict[str, _Device] = field(default_factory=dict)
    counts: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    flushed_below: int | None = None  # open buckets below this went to the table


def bucket_of(ts: float) -> int:
    """The bucket a time falls in, computed as the SQL side does (floor of ts / BUCKET_S)."""
    return math.floor(ts / BUCKET_S)


def _arrow(columns: Mapping[str, tuple[list[Any], pa.DataType]]) -> pa.Table:
    return pa.table({name: pa.array(values, type=t) for name, (values, t) in columns.items()})


class HealthRollup:
    """The kept health state of one DuckDB database. `add` runs inside the writer's
    transaction (under the store's write lock) and `applied` after its commit; `report`
    runs on any reader cursor."""

    def __init__(self, cur: Any, floor_s: float = DEFAULT_FLOOR_S) -> None:
        if not floor_s > 0:
            raise ValueError(f"health floor_s must be > 0, not {floor_s}")
        self.floor_s = floor_s
        # Memory between the writer and the report. The writer holds it from before its
        # batch's COMMIT until `applied` (`batch_visible`), and a report for all its
        # reads: a report sees a batch in both the tables and memory, or in neither.
        # (Between the two a report found a device online, from the committed tables,
        # with no battery and a gap, from memory not yet applied.)
        self._lock = threading.RLock()
        for ddl in SCHEMA:
            cur.execute(ddl)
        kept = cur.execute("SELECT floor_s, clean, flushed_below FROM health_meta").fetchall()
        started = time.monotonic()
        if not kept or float(kept[0][0]) != floor_s or (not kept[0][1] and kept[0][2] is None):
            # no state, another floor, or a crash before checkpoints were kept: from all
            # the readings (once; it blocks the open for as long as it takes)
            self.rebuild(cur)
            if (took := time.monotonic() - started) >= 1.0:  # not a new, empty database
                log.warning("health state rebuilt from all the readings in %.1f s", took)
        elif not kept[0][1]:  # not closed cleanly: the checkpoint, then what came after it
            self.replay(cur, int(kept[0][2]))
            log.info("health state: not closed cleanly; replayed from bucket %s in %.2f s",
                     kept[0][2], time.monotonic() - started)
        self._devices = self._load_devices(cur)
        self._open: dict[tuple[str, int], int] = defaultdict(int)
        self._newest = max((bucket_of(d.last) for d in self._devices.values()), default=0)
        # in use (until `close` says otherwise); everything below the newest bucket is kept
        cur.execute("UPDATE health_meta SET clean = false, flushed_below = ?", [self._newest])

    @staticmethod
    def _load_devices(cur: Any) -> dict[str, _Device]:
        rows = cur.execute("SELECT * FROM health_devices").fetchall()
        return {d: _Device(float(f), float(la), b, bt) for d, f, la, b, bt in rows}

    def replay(self, cur: Any, flushed_below: int) -> None:
        """Recover after a crash: the kept tables are complete below bucket
        `flushed_below`; what memory held from it on is recomputed from those readings
        only (bounded work: buckets close every `BUCKET_S`)."""
        lo = flushed_below * BUCKET_S
        cur.execute("BEGIN TRANSACTION")
        try:
            devices = self._load_devices(cur)
            for device, first, last, battery, battery_ts in cur.execute(
                _REPLAY_DEVICES, {"lo": lo}
            ).fetchall():
                known = devices.get(device)
                if known is None:
                    devices[device] = _Device(float(first), float(last), battery, battery_ts)
                    continue
                dev = replace(known, first=min(known.first, first), last=max(known.last, last))
                devices[device] = dev.with_battery(battery_ts, battery)
            # rows of these buckets may be partial (a flush before the crash): all replaced
            cur.execute("DELETE FROM health_counts WHERE bucket >= ?", [flushed_below])
            cur.execute(f"INSERT INTO health_counts {_REPLAY_COUNTS}", {"lo": lo})
            self._put_devices(cur, devices, replace_all=True)
            cur.execute("UPDATE health_meta SET clean = true")
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def rebuild(self, cur: Any) -> None:
        """Recompute the whole state from the readings (the bulk path, and the recovery)."""
        cur.execute("BEGIN TRANSACTION")
        try:
            for sql in _REBUILD:
                cur.execute(sql, {"floor": self.floor_s} if "$floor" in sql else None)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def close(self, cur: Any) -> None:
        """Write what memory holds and mark the tables clean (the store's shutdown)."""
        cur.execute("BEGIN TRANSACTION")
        try:
            self._flush(cur, self._devices, self._open, below=None)
            cur.execute("UPDATE health_meta SET clean = true")
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        self._open.clear()

    def add(self, cur: Any, new: pa.Table, times: BatchTimes | None = None) -> Change:
        """Fold newly stored readings (columns device, metric, ts, value) in; call it in
        the transaction that stored them, after the insert, and `applied` after COMMIT.
        `times` is `batch_times(new)`, when the caller has it already."""
        change = Change()
        before = self._newest * BUCKET_S  # a message before it goes to the tables now
        times = batch_times(new) if times is None else times
        names = times.names
        was = [self._devices.get(name) for name in names]
        known = np.array([d is not None for d in was], dtype=bool)
        got = fold(times,
                   np.array([d.first if d else np.nan for d in was], dtype=np.float64),
                   np.array([d.last if d else np.nan for d in was], dtype=np.float64),
                   known, self.floor_s, BUCKET_S)
        counts = change.counts
        for c, bucket, n in zip(got.count_code.tolist(), got.count_bucket.tolist(),
                                got.count_n.tolist(), strict=True):
            counts[(names[c], bucket)] += n
        behind: dict[str, _Device] = {}
        for k, (name, dev, first, last, earliest) in enumerate(zip(
                names, was, got.first.tolist(), got.last.tolist(),
                times.ts[times.starts].tolist(), strict=True)):
            if dev is None:
                dev = _Device(first, last)
            elif first != dev.first or last != dev.last:
                dev = _Device(first, last, dev.battery, dev.battery_ts)
            if (battery := times.battery.get(k)) is not None:
                dev = dev.with_battery(*battery)
            change.devices[name] = dev
            if earliest < before:
                behind[name] = dev
        if behind:
            self._put_devices(cur, behind, replace_all=False)
        device = pa.array(names, pa.string())
        if len(got.silence_code):
            self._insert_silences(cur, device.take(got.silence_code),
                                  got.silence_a, got.silence_b)
        # inside the known span: a replay after an outage, or another metric of a known
        # message (`_new_late` tells them apart)
        late = self._new_late(cur, LateTimes(
            device, times.code[got.late], times.ts[got.late], times.rows[got.late]))
        for c, bucket, n in late.counts(BUCKET_S):
            counts[(names[c], bucket)] += n
        self._split(cur, late)
        # Below the checkpoint: to the table now, in one insert (rows are summed), not
        # one per device and bucket: a storm of late readings from 6,000 devices spent
        # most of 20 s in 12,000 single-row inserts.
        behind_counts = {k: counts.pop(k) for k in [k for k in counts if k[1] < self._newest]}
        if behind_counts:
            self._append_counts(cur, behind_counts)
        newest = max((bucket_of(d.last) for d in change.devices.values()), default=0)
        if newest > self._newest:  # a bucket closed: what memory holds goes to the tables
            merged = self._merged(change)
            self._flush(cur, merged[0], merged[1], below=newest)
            change.flushed_below = newest
        return change

    def batch_visible(self) -> threading.RLock:
        """Hold it around a batch's transaction and its `applied` (see `_lock`)."""
        return self._lock

    def applied(self, change: Change) -> None:
        """The batch's transaction committed: its change is now memory's."""
        with self._lock:
            self._devices, self._open = self._merged(change)
            if change.flushed_below is not None:
                self._newest = change.flushed_below
                self._open = defaultdict(int, {
                    k: n for k, n in self._open.items() if k[1] >= change.flushed_below
                })

    def _merged(
        self, change: Change
    ) -> tuple[dict[str, _Device], dict[tuple[str, int], int]]:
        devices = {**self._devices, **change.devices}
        counts: dict[tuple[str, int], int] = defaultdict(int, self._open)
        for key, n in change.counts.items():
            counts[key] += n
        return devices, counts

    def _flush(
        self, cur: Any, devices: Mapping[str, _Device], counts: Mapping[tuple[str, int], int],
        below: int | None,
    ) -> None:
        """Counts of buckets below `below` (all with None) appended; devices replaced;
        the checkpoint moved to `below`."""
        self._append_counts(cur, {k: n for k, n in counts.items() if below is None or k[1] < below})
        self._put_devices(cur, devices, replace_all=True)
        if below is not None:
            cur.execute("UPDATE health_meta SET flushed_below = ?", [below])

    @staticmethod
    def _append_counts(cur: Any, counts: Mapping[tuple[str, int], int]) -> None:
        cur.register(_NEW, _arrow({
            "device": ([k[0] for k in counts], pa.string()),
            "bucket": ([k[1] for k in counts], pa.int64()),
            "messages": (list(counts.values()), pa.int64()),
        }))
        try:
            cur.execute(f"INSERT INTO health_counts SELECT * FROM {_NEW}")
        finally:
            cur.unregister(_NEW)

    @staticmethod
    def _insert_silences(cur: Any, device: pa.Array, a: FloatArray, b: FloatArray) -> None:
        """As one Arrow insert: DuckDB's executemany runs a statement per row, and a
        storm of readings from 6,000 devices after a gap is 6,000 silences at once."""
        cur.register(_NEW, pa.table({"device": device, "a": a, "b": b}))
        try:
            cur.execute(f"INSERT INTO health_silences SELECT * FROM {_NEW}")
        finally:
            cur.unregister(_NEW)

    def _put_devices(self, cur: Any, devices: Mapping[str, _Device], replace_all: bool) -> None:
        """Write these device rows: all of the table's (`replace_all`) or just theirs."""
        cur.register(_NEW, self._state_table(devices))
        try:
            cur.execute(
                "DELETE FROM health_devices" if replace_all
                else f"DELETE FROM health_devices WHERE device IN (SELECT device FROM {_NEW})"
            )
            cur.execute(f"INSERT INTO health_devices SELECT * FROM {_NEW}")
        finally:
            cur.unregister(_NEW)

    @staticmethod
    def _state_table(devices: Mapping[str, _Device]) -> pa.Table:
        d = list(devices.values())
        return _arrow({
            "device": (list(devices), pa.string()),
            "first_ts": ([x.first for x in d], pa.float64()),
            "last_ts": ([x.last for x in d], pa.float64()),
            "battery": ([x.battery for x in d], pa.float64()),
            "battery_ts": ([x.battery_ts for x in d], pa.float64()),
        })

    def report(
        self,
        cur: Any,
        start: float,
        end: float,
        allowances: Mapping[str, float],
        fault_types: Sequence[str],
        commissioned: Mapping[str, float] | None = None,
    ) -> list[DeviceHealthStats]:
        """The figures of `health_duckdb.device_health`, from the kept state. Every
        allowance must be at least `floor_s` (shorter silences are not kept)."""
        if not allowances:
            return []
        if (short := min(allowances.values())) < self.floor_s:
            raise ValueError(f"allowance {short} s is below the kept floor {self.floor_s} s")
        first_bucket = math.ceil(start / BUCKET_S)
        end_bucket = max(bucket_of(end), first_bucket)
        params = {
            "start": start, "end": end, "fault_types": list(fault_types),
            "first_bucket": first_bucket, "end_bucket": end_bucket,
            "head_end": min(end, first_bucket * BUCKET_S + BUCKET_S),
            "tail_start": max(start, end_bucket * BUCKET_S - BUCKET_S),
        }
        table = allowance_table(allowances, commissioned)
        with self._lock:  # memory and the tables at the same batch (see `_lock`)
            state = self._state_table(self._devices)
            open_counts = _arrow({
                "device": ([k[0] for k in self._open], pa.string()),
                "bucket": ([k[1] for k in self._open], pa.int64()),
                "messages": (list(self._open.values()), pa.int64()),
            })
            views = {_ALLOW: table, _STATE: state, _OPEN: open_counts}
            for name, view in views.items():
                cur.register(name, view)
            try:
                rows = cur.execute(_REPORT, params).fetchall()
            finally:
                for name in views:
                    cur.unregister(name)
            later = [r[0] for r in rows if r[-1]]
            battery = self._battery_before(cur, start, end, later) if later else {}
        rows = [(*r[:5], battery.get(r[0], r[5]), *r[6:8]) for r in rows]
        return to_stats(rows)

    @staticmethod
    def _battery_before(
        cur: Any, start: float, end: float, devices: list[str]
    ) -> dict[str, float | None]:
        """The last battery in [start, end) of devices whose kept one is later than `end`
        (a window in the past): from the readings, for those devices only."""
        cur.register(_NEW, pa.table({"device": pa.array(devices, type=pa.string())}))
        try:
            rows = cur.execute(
                f"SELECT d.device, arg_max(r.value, r.ts) FROM {_NEW} d LEFT JOIN readings r"
                " ON r.device = d.device AND r.metric = 'battery_pct'"
                " AND r.ts >= $start AND r.ts < $end GROUP BY d.device",
                {"start": start, "end": end},
            ).fetchall()
        finally:
            cur.unregister(_NEW)
        return {d: None if v is None else float(v) for d, v in rows}

    @staticmethod
    def _new_late(cur: Any, late: LateTimes) -> LateTimes:
        """The late times not seen before. The batch's rows are already inserted, so a
        time is new when all the rows stored at it are this batch's (no earlier metric
        had it)."""
        if not len(late.ts):
            return late
        cur.register(_NEW, late.table())
        try:
            # the explicit time range lets DuckDB skip the row groups outside it
            new = cur.execute(
                f"SELECT n.i FROM {_NEW} n JOIN readings r ON r.device = n.device"
                " AND r.ts = n.ts WHERE r.ts >= $lo AND r.ts <= $hi"
                " GROUP BY n.i, n.rows HAVING count(*) = n.rows ORDER BY n.i",
                {"lo": float(late.ts.min()), "hi": float(late.ts.max())},
            ).fetchnumpy()["i"]
        finally:
            cur.unregister(_NEW)
        return late.take(np.asarray(new, dtype=np.int64))

    def _split(self, cur: Any, late: LateTimes) -> None:
        """Cut the kept silences the batch's late messages fall into, in one statement
        for the whole batch (a replay after an outage brings thousands): a silence is cut
        at every late time inside it and a piece no longer than the floor goes. The same
        as cutting one time after another, since a piece of a dropped piece is shorter."""
        if not len(late.ts):
            return
        cur.register(_NEW, late.table())
        try:
            rows = cur.execute(
                f"DELETE FROM health_silences s USING (SELECT DISTINCT s2.device, s2.a, s2.b"
                f" FROM health_silences s2 JOIN {_NEW} n ON n.device = s2.device"
                " AND s2.a < n.ts AND s2.b > n.ts) hit"
                " WHERE s.device = hit.device AND s.a = hit.a AND s.b = hit.b"
                " RETURNING s.device, s.a, s.b"
            ).fetchall()
        finally:
            cur.unregister(_NEW)
        code_of = {name: k for k, name in enumerate(late.names.to_pylist())} if rows else {}
        devices: list[str] = []
        starts: list[FloatArray] = []
        ends: list[FloatArray] = []
        for device, a, b in rows:
            edges = np.r_[float(a), late.inside(code_of[device], float(a), float(b)), float(b)]
            keep = np.diff(edges) > self.floor_s
            devices += [device] * int(keep.sum())
            starts.append(edges[:-1][keep])
            ends.append(edges[1:][keep])
        if devices:
            self._insert_silences(cur, pa.array(devices, pa.string()), np.concatenate(starts),
                                  np.concatenate(ends))
