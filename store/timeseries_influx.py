"""TimeSeriesStore on InfluxDB 2.x (the production backend; the embedded DuckDB store is
the default). Schema: see `store.influx_lines`; queries: `store.influx_flux`.

Writes: records become line-protocol strings, sent in batches of at most 5,000 lines
through influxdb-client's synchronous write API (its background batching would drop
a batch after its own retries). `store.influx_writer` retries, isolates refused
lines for the dead letters, and spools what still cannot go to
`<data dir>/influx-spool/`; `write_*` returns once every line is written,
dead-lettered or spooled, which is when ingest acknowledges. A flusher thread
(`start_flusher`) retries the spool.

"New" records: a bounded memory of recently written keys (`store.influx_recent`).
Thread safety: writes are serialised by a lock (they share that memory), flushes by
another; queries go through the client's thread-safe connection pool.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from urllib3.exceptions import HTTPError

from gridwatch.reading_table import ReadingTable
from gridwatch.records import DeviceEvent, Reading
from store import influx_flux as flux
from store.influx_lines import InfluxTarget, event_line, reading_line, timestamp_us
from store.influx_recent import RecentKeys
from store.influx_spool import DiskSpool
from store.influx_writer import (
    DEFAULT_POLICY,
    BatchWriter,
    DeadLetter,
    RetryPolicy,
    WriteFailed,
    parse_retry_after,
)
from store.interfaces import DeviceActivity, SeriesPoint

log = logging.getLogger(__name__)
# The generated model class holds plain str constants although `write` is annotated
# to take the class.
_MICROSECONDS: Any = WritePrecision.US
RECENT_KEYS = 200_000  # about ten minutes of a 1,500-device street at one reading/s


def _reading_key(r: Reading) -> Hashable:
    return (r.device, r.metric, timestamp_us(r.ts))


def _event_key(e: DeviceEvent) -> Hashable:
    return (e.agent, e.id, e.state, timestamp_us(e.ts))


def _log_dead_letter(line: str, reason: str) -> None:
    log.error("influx refused a line (%s): %.200s", reason, line)


class InfluxTimeSeries:
    def __init__(
        self,
        target: InfluxTarget,
        token: str,
        spool_dir: Path,
        dead_letter: DeadLetter = _log_dead_letter,
        policy: RetryPolicy = DEFAULT_POLICY,
        timeout_s: float = 10.0,
    ) -> None:
        # Constructing the client opens no connection (init validates, start connects).
        self.target = target
        self._client = InfluxDBClient(
            url=target.url, token=token, org=target.org, timeout=int(timeout_s * 1000)
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self.writer = BatchWriter(self._send, DiskSpool(spool_dir), dead_letter, policy)
        self._recent_readings = RecentKeys(RECENT_KEYS)
        self._recent_events = RecentKeys(RECENT_KEYS // 10)
        self._write_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self.on_close: list[Callable[[], None]] = []  # e.g. the dead-letter store it owns

    # writes

    def write_readings(self, readings: Sequence[Reading]) -> list[Reading]:
        with self._write_lock:
            new = self._recent_readings.new(readings, _reading_key)
            if new:
                self.writer.write([reading_line(r) for r in new])
                self._recent_readings.remember(new, _reading_key)
            return new

    def write_table(self, readings: ReadingTable) -> ReadingTable:
        # Line protocol is text per reading anyway: the records cost little beside it.
        return ReadingTable.from_records(self.write_readings(readings.records()))

    def write_events(self, events: Sequence[DeviceEvent]) -> list[DeviceEvent]:
        with self._write_lock:
            new = self._recent_events.new(events, _event_key)
            if new:
                self.writer.write([event_line(e) for e in new])
                self._recent_events.remember(new, _event_key)
            return new

    def held_at_open(self, events: Sequence[DeviceEvent]) -> list[DeviceEvent]:
        # Its duplicate check is a memory of this process's own writes (RecentKeys):
        # what the server held before it cannot be told without a query per event.
        return []

    def flush_spool(self) -> int:
        """Retry the spooled batches now; returns how many remain. Ingest writes go on
        meanwhile (see `store.influx_writer`); one flush at a time."""
        with self._flush_lock:
            return self.writer.flush_spool()

    def start_flusher(self, interval_s: float = 5.0) -> None:
        """Retry the spool in the background until `close`."""
        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    if self.writer.spool.pending():
                        self.flush_spool()
                except Exception:
                    log.exception("influx: spool flush failed")

        self._flusher = threading.Thread(target=loop, name="influx-spool", daemon=True)
        self._flusher.start()

    def _send(self, lines: list[str]) -> None:
        try:
            self._write_api.write(
                self.target.bucket, self.target.org, lines, write_precision=_MICROSECONDS
            )
        except InfluxDBError as exc:
            status = getattr(exc, "status", None)
            raise WriteFailed(
                int(status) if status else None, str(exc.message)[:500],
                parse_retry_after(exc.retry_after),
            ) from exc
        except (HTTPError, OSError) as exc:
            raise WriteFailed(None, str(exc)) from exc

    # queries

    def series(
        self, device: str, metric: str, start: float, end: float, step: float | None
    ) -> list[SeriesPoint]:
        query, params = flux.series_params(self.target.bucket, device, metric, start, end, step)
        points = []
        for row in self._rows(query, params):
            ts = row["_time"].timestamp()
            if step is not None:
                ts = (ts // step) * step  # the clamped first window, back to its bucket
            points.append(SeriesPoint(ts, float(row["_value"])))
        return points

    def events_of_types(
        self, types: Sequence[str], start: float, end: float
    ) -> list[DeviceEvent]:
        """Events of these types in [start, end), oldest first (see EventHistory)."""
        if not types:
            return []
        params = {"bucket": self.target.bucket, "types": list(types),
                  "start": flux.at(start), "stop": flux.at(end)}
        return [_event_of(row) for row in self._rows(flux.EVENTS_OF_TYPES, params)]

    def reading_count(self) -> int:
        rows = self._rows(flux.READING_COUNT, {"bucket": self.target.bucket})
        return sum(int(r["_value"]) for r in rows)

    def activity(self, start: float, end: float) -> list[DeviceActivity]:
        """Every device ever seen with its last reading or event time, and its messages
        (distinct reading timestamps) in [start, end)."""
        bucket = self.target.bucket
        last = {r["device"]: int(r["_value"]) / 1e9 for r in self._rows(flux.LAST_SEEN,
                                                                      {"bucket": bucket})}
        params = {"bucket": bucket, "start": flux.at(start), "stop": flux.at(end)}
        counts = {r["device"]: int(r["_time"]) for r in self._rows(flux.MESSAGES, params)}
        return [DeviceActivity(d, ts, counts.get(d, 0)) for d, ts in sorted(last.items())]

    def _rows(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        tables = self._client.query_api().query(query, org=self.target.org, params=params)
        return [record.values for table in tables for record in table.records]

    def close(self) -> None:
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=30)
        self._client.close()  # type: ignore[no-untyped-call]
        for close in self.on_close:
            close()


def _event_of(row: dict[str, Any]) -> DeviceEvent:
    """A pivoted Flux row (tags and fields as columns) back into the event it stored."""
    score = row.get("score")
    return DeviceEvent(
        agent=str(row["agent"]), id=str(row["id"]), device=str(row["device"]),
        ts=row["_time"].timestamp(), type=str(row["type"]), state=row["state"],
        zone=row.get("zone"), score=None if score is None else float(score),
        attrs=json.loads(row.get("attrs") or "{}"), snapshot=row.get("snapshot"),
    )
