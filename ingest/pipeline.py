"""One ingest batch: decode, write durably, hand new records to the detectors.

Independent of MQTT so it can be driven by tests and benchmarks directly. The caller
(the MQTT consumer) acknowledges the batch's messages only after `process` returns,
which is after every record and every dead letter is committed.

Failures are classified once: decoding is pure and never raises, so a message that
fails to decode (whatever the exception: a RecursionError on absurd nesting is a
reason too) is a reject, dead-lettered in this very batch and never retried. A storage
outage (ingest.storage_errors) anywhere in the batch, the sink's dispatch included,
raises StoreError, which the consumer retries with the batch held unacknowledged.
Anything else is a bug, which the consumer isolates to its message without waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from config.registry import Registry
from gridwatch import metrics
from gridwatch.reading_table import ReadingTable
from gridwatch.records import DeviceEvent
from gridwatch.snapshot_ref import snapshot_path
from ingest.columns import gather
from ingest.decode import Decoded, Decoder, RawMessage
from ingest.disk_guard import DiskGuard
from ingest.garbage import GarbageBudget
from ingest.storage_errors import storage_reason
from ingest.storage_health import StorageHealth
from store.interfaces import OpStore
from store.opstate_events import EventLedger, event_key

log = logging.getLogger(__name__)


class RecordSink(Protocol):
    """Where durably written records go next (the detectors and dispatch)."""

    def on_events(self, events: Sequence[DeviceEvent]) -> None: ...

    def on_readings(self, readings: ReadingTable) -> None:
        """Only the readings that were new, as one table (a Sequence[Reading] too)."""
        ...

    def on_agent_status(self, agent: str, state: str, ts: float) -> None: ...

    def on_agent_garbage(self, agent: str, ts: float, detail: str, over: bool) -> None:
        """An agent started (over=False) or stopped (over=True) flooding us with rejects."""
        ...


class RecordWriter(Protocol):
    """The durable half of a time-series store, as one ingest lane writes it."""

    def write_table(self, readings: ReadingTable) -> ReadingTable:
        """Append what is new; returns it, in input order."""
        ...

    def write_events(self, events: Sequence[DeviceEvent]) -> list[DeviceEvent]: ...

    def held_at_open(self, events: Sequence[DeviceEvent]) -> list[DeviceEvent]: ...


class StoreError(Exception):
    """A storage outage during a batch (disk full, store locked or failing): transient
    by nature, so the consumer keeps the batch unacknowledged and retries it; every
    write is idempotent, so the retry adds only what the failed attempt did not commit.
    `reason` is ingest.storage_errors' "full", "locked" or "io"."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"storage {reason}: {detail}")
        self.reason = reason


class IngestPipeline:
    def __init__(
        self,
        registry: Registry,
        timeseries: RecordWriter,
        ops: OpStore,
        sink: RecordSink,
        snapshot_dir: Path | None = None,
        ledger: EventLedger | None = None,
        garbage: GarbageBudget | None = None,
    ) -> None:
        self.decoder = Decoder(registry)
        self.timeseries = timeseries
        self.ops = ops
        self.sink = sink
        self.snapshot_dir = snapshot_dir
        # An event and its alert decision are one unit of work (store.opstate_events).
        self.ledger = ledger
        # How many of an agent's rejects are stored (shared by the lanes: per agent).
        self.garbage = garbage or GarbageBudget()
        # Called with the batch once all of it is stored (ingest.receipts).
        self.after_write: Callable[[Sequence[Decoded]], None] | None = None
        # Storage outages, reported for /healthz (ingest.storage_health), and the
        # nearly-full-disk check that refuses telemetry before alarms (ingest.disk_guard).
        self.storage: StorageHealth | None = None
        self.guard: DiskGuard | None = None
        self.lane = "ingest"

    def process(self, messages: Sequence[RawMessage]) -> None:
        """Raises StoreError on a storage outage, any other exception only on a bug."""
        try:
            self._process(messages)
        except StoreError:
            raise
        except Exception as exc:
            reason = storage_reason(exc)
            if reason is None:
                raise
            if self.storage is not None:
                self.storage.failed(self.lane, reason, exc)
            raise StoreError(reason, f"{type(exc).__name__}: {exc}") from exc
        if self.storage is not None:
            self.storage.ok(self.lane)

    def _process(self, messages: Sequence[RawMessage]) -> None:
        decoded = [self.decoder.decode(m) for m in messages]
        for d in decoded:
            metrics.MESSAGES_IN.labels(kind=d.kind if d.kind in _KINDS else "other").inc()
        # Events (alarms) are written and evaluated before the batch's telemetry.
        events = [e for d in decoded for e in d.events]
        if events:
            self._decide_events(events)
        if self.guard is not None and any(
                d.kind == "readings" and d.has_readings() for d in decoded):
            self.guard.check_telemetry()  # after the events: a full disk refuses these first
        readings = gather(d.columns or d.readings for d in decoded)
        if len(readings):
            self.sink.on_readings(self._write_readings(readings))
        for msg, d in zip(messages, decoded, strict=True):
            self._status(msg, d)
        self._keep_rejects(messages, decoded)
        for d in decoded:
            if d.snapshot is not None and d.agent is not None and self.snapshot_dir is not None:
                self._save_snapshot(d.agent, *d.snapshot)
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
        # Decided before the time-series write, which comes last: that write commits
        # into the file the readings lane appends to, and under a readings load its
        # commit waited for theirs (an alarm's one-row write: p50 22 ms, p99 370-700 ms
        # in-process). What makes a decision happen once is the ledger, committed
        # here first; the time-series store is only asked which of the events new to
        # the ledger it held before (stored by a version without the ledger; a live
        # alarm is newer than all of them and costs no query). A failure after the
        # decision leaves the batch unacknowledged: the retry finds the events decided
        # and writes them.
        pending, added = self.ledger.begin(events)
        known = {event_key(e) for e in self.timeseries.held_at_open(added)} if added else set()
        self.sink.on_events(pending + [e for e in added if event_key(e) not in known])
        self.ledger.finish(pending + added, time.time())
        self._write_events(events)

    def _write_events(self, events: list[DeviceEvent]) -> list[DeviceEvent]:
        with metrics.STORE_WRITE_SECONDS.time():
            new = self.timeseries.write_events(events)
        metrics.EVENTS_WRITTEN.inc(len(new))
        return new

    def _write_readings(self, readings: ReadingTable) -> ReadingTable:
        with metrics.STORE_WRITE_SECONDS.time():
            new = self.timeseries.write_table(readings)
        metrics.READINGS_WRITTEN.inc(len(new))
        return new

    def _status(self, msg: RawMessage, d: Decoded) -> None:
        if d.agent is None:
            return
        if d.status is not None:
            self.sink.on_agent_status(d.agent, d.status.state, float(d.status.ts))
        if not d.rejects and self.garbage.episode_over(d.agent, msg.received_at):
            self._tell_garbage(d.agent, msg.received_at, "no rejects lately", over=True)

    def _tell_garbage(self, agent: str, ts: float, detail: str, over: bool) -> None:
        try:
            self.sink.on_agent_garbage(agent, ts, detail, over)
        except Exception:
            log.exception("ingest: could not raise the garbage alert of agent %s", agent)

    def _keep_rejects(self, messages: Sequence[RawMessage], decoded: Sequence[Decoded]) -> None:
        """Every reject is counted and logged; those within the agent's budget are also
        stored, all in one transaction."""
        rows: list[tuple[str, str | None, str, bytes, float]] = []
        for msg, d in zip(messages, decoded, strict=True):
            for reject in d.rejects:
                metrics.MESSAGES_REJECTED.labels(reason=reject.reason).inc()
                verdict = self.garbage.reject(d.agent, msg.received_at)
                if verdict.episode_started and d.agent is not None:
                    why = f"{reject.reason}: {reject.detail}"[:200]
                    log.error("agent %s keeps sending garbage (latest: %s)", d.agent, why)
                    self._tell_garbage(d.agent, msg.received_at, why, over=False)
                if not verdict.store:
                    metrics.DEAD_LETTERS_DROPPED.labels(reason=reject.reason).inc()
                    continue
                log.warning("dead letter from %s: %s: %s", msg.topic, reject.reason,
                            reject.detail[:500])
                rows.append((msg.topic, d.agent, f"{reject.reason}: {reject.detail}",
                             reject.payload, msg.received_at))
        self.ops.add_dead_letters(rows)

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
