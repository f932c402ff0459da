"""One ingest batch: decode, write durably, hand new records to the detectors.

Independent of MQTT so it can be driven by tests and benchmarks directly. The caller
(the MQTT consumer) acknowledges the batch's messages only after `process` returns,
which is after every record and every dead letter is committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from config.registry import Registry
from gridwatch import metrics
from gridwatch.records import DeviceEvent, Reading
from gridwatch.snapshot_ref import snapshot_path
from ingest.decode import Decoded, Decoder, RawMessage
from ingest.disk_guard import DiskGuard
from ingest.storage_errors import storage_reason
from ingest.storage_health import StorageHealth
from store.interfaces import OpStore, TimeSeriesStore
from store.opstate_events import EventLedger, event_key

log = logging.getLogger(__name__)


class RecordSink(Protocol):
    """Where durably written records go next (the detectors and dispatch)."""

    def on_events(self, events: Sequence[DeviceEvent]) -> None: ...

    def on_readings(self, readings: Sequence[Reading]) -> None: ...

    def on_agent_status(self, agent: str, state: str, ts: float) -> None: ...


class IngestPipeline:
    def __init__(
        self,
        registry: Registry,
        timeseries: TimeSeriesStore,
        ops: OpStore,
        sink: RecordSink,
        snapshot_dir: Path | None = None,
        ledger: EventLedger | None = None,
    ) -> None:
        self.decoder = Decoder(registry)
        self.timeseries = timeseries
        self.ops = ops
        self.sink = sink
        self.snapshot_dir = snapshot_dir
        # An event and its alert decision are one unit of work (store.opstate_events).
        self.ledger = ledger
        # Called with the batch once all of it is stored (ingest.receipts).
        self.after_write: Callable[[Sequence[Decoded]], None] | None = None
        # Storage outages, reported for /healthz (ingest.storage_health), and the
        # nearly-full-disk check that refuses telemetry before alarms (ingest.disk_guard).
        self.storage: StorageHealth | None = None
        self.guard: DiskGuard | None = None
        self.lane = "ingest"

    def process(self, messages: Sequence[RawMessage]) -> None:
        try:
            self._process(messages)
        except Exception as exc:
            reason = storage_reason(exc)
            if self.storage is not None and reason is not None:
                self.storage.failed(self.lane, reason, exc)
            raise
        if self.storage is not None:
            self.storage.ok(self.lane)

    def _process(self, messages: Sequence[RawMessage]) -> None:
        decoded = [self.decoder.decode(m) for m in messages]
        for d in decoded:
            metrics.MESSAGES_IN.labels(kind=d.kind if d.kind in _KINDS else "other").inc()
        # Fire goes first: events (alarms) are written and evaluated before the batch's
        # telemetry, so a backlog of readings never delays an alarm.
        events = [e for d in decoded for e in d.events]
        if events:
            self._decide_events(events)
        readings = [r for d in decoded for r in d.readings]
        if self.guard is not None and any(d.kind == "readings" and d.readings for d in decoded):
            self.guard.check_telemetry()  # after the events: a full disk refuses these first
        if readings:
            self.sink.on_readings(self._write_readings(readings))
        for msg, d in zip(messages, decoded, strict=True):
            self._side_effects(msg, d)
        if self.after_write is not None:
            self.after_write(decoded)  # everything above is durable: receipts may go out

    def dead_letter(
        self,
        msg: RawMessage,
        reason: str,
        detail: str,
        agent: str | None = None,
        payload: bytes | None = None,
    ) -> None:
        """Keep a rejected message (or item) with its reason; `reason` is a REASONS entry."""
        body = msg.payload if payload is None else payload
        self.ops.add_dead_letter(msg.topic, agent, f"{reason}: {detail}", body, msg.received_at)
        metrics.MESSAGES_REJECTED.labels(reason=reason).inc()
        log.warning("dead letter from %s: %s: %s", msg.topic, reason, detail)

    def _decide_events(self, events: list[DeviceEvent]) -> None:
        if self.ledger is None:
            self.sink.on_events(self._write_events(events))
            return
        pending, added = self.ledger.begin(events)
        new = {event_key(e) for e in self._write_events(events)}
        self.sink.on_events(pending + [e for e in added if event_key(e) in new])
        self.ledger.finish(pending + added, time.time())

    def _write_events(self, events: list[DeviceEvent]) -> list[DeviceEvent]:
        with metrics.STORE_WRITE_SECONDS.time():
            new = self.timeseries.write_events(events)
        metrics.EVENTS_WRITTEN.inc(len(new))
        return new

    def _write_readings(self, readings: list[Reading]) -> list[Reading]:
        with metrics.STORE_WRITE_SECONDS.time():
            new = self.timeseries.write_readings(readings)
        metrics.READINGS_WRITTEN.inc(len(new))
        return new

    def _side_effects(self, msg: RawMessage, d: Decoded) -> None:
        for reject in d.rejects:
            self.dead_letter(msg, reject.reason, reject.detail, d.agent, reject.payload)
        if d.status is not None and d.agent is not None:
            self.sink.on_agent_status(d.agent, d.status.state, float(d.status.ts))
        if d.snapshot is not None and d.agent is not None and self.snapshot_dir is not None:
            self._save_snapshot(d.agent, *d.snapshot)

    def _save_snapshot(self, agent: str, snap_id: str, jpeg: bytes) -> None:
        if self.snapshot_dir is None:
            return
        # The decoder refuses such ids already; a path must never rest on one check.
        try:
            target = snapshot_path(self.snapshot_dir, agent, snap_id)
        except ValueError:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        # A temporary name starts with '.', which no snapshot id may, so it never clashes.
        tmp = target.parent / f".{snap_id}.{time.monotonic_ns()}.tmp"
        tmp.write_bytes(jpeg)
        tmp.replace(target)


_KINDS = frozenset({"readings", "events", "status", "health", "snapshots"})
