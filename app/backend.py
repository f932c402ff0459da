"""The backend process: stores, ingest, detectors, dispatch and the API, wired.

Construction validates (URLs, paths) and touches no network; `start` opens the
stores and connects. `serve` and `demo` both run this.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from api.app import create_app
from api.context import ApiContext
from config.registry import Registry
from detectors.anomaly_state import load_anomaly_state, save_anomaly_state
from detectors.engine import DetectorEngine
from dispatch.alert_publisher import MqttAlertPublisher
from dispatch.dispatcher import Dispatcher
from gridwatch import metrics
from gridwatch.clock import Clock, wall_clock
from gridwatch.hold_budget import ChunkSizer
from gridwatch.mqtt import parse_mqtt_url
from gridwatch.notify import LogNotifier
from gridwatch.priority_lock import PriorityLock
from gridwatch.reading_table import ReadingTable
from gridwatch.records import AnomalyLevel, DeviceEvent
from ingest.consumer import LANES, ConsumerSettings, IngestConsumer
from ingest.disk_guard import DiskGuard
from ingest.garbage import GarbageBudget, garbage_change
from ingest.pipeline import IngestPipeline, RecordWriter
from ingest.receipts import ReceiptPublisher, Receipts
from ingest.storage_health import StorageHealth
from store.factory import check_ops_url, check_store_url, open_ops, open_timeseries
from store.interfaces import OpStore, TimeSeriesStore
from store.opstate_events import EventLedger
from store.opstate_receipts import ReceiptLanes
from store.timeseries_duckdb import DuckDBTimeSeries

log = logging.getLogger(__name__)
TICK_S = 1.0  # offline and minimum-duration checks; alarms never wait for it
SAVE_STATE_S = 300.0  # how often the anomaly detectors' learned state is written
STATE_FILE = "anomaly-state.npz"
# Test-only: seconds added to dispatch's clock, so an end-to-end test can make the real
# process route "at 21:00 Shanghai time" (who is on duty) without touching the host.
CLOCK_OFFSET_ENV = "GRIDWATCH_CLOCK_OFFSET_S"


def dispatch_clock(clock: Clock) -> Clock:
    offset = float(os.environ.get(CLOCK_OFFSET_ENV) or 0.0)
    return clock if not offset else (lambda: clock() + offset)


DEFAULT_CLIENT_ID = "gridwatch-ingest"


@dataclass(frozen=True, slots=True)
class BackendSettings:
    mqtt_url: str
    data_dir: Path
    store_url: str = "embedded"
    ops_url: str = "embedded"
    host: str = "127.0.0.1"
    port: int = 8000
    bootstrap_token: str | None = None
    ingest_client_id: str = DEFAULT_CLIENT_ID


def lane_writer(timeseries: TimeSeriesStore, lane: str) -> RecordWriter:
    """The lane's own writer where the store has one (the embedded DuckDB store: two
    writer connections); otherwise the store itself, shared."""
    if isinstance(timeseries, DuckDBTimeSeries):
        return timeseries.lane("alarms" if lane == "alarms" else "bulk")
    return timeseries


class DetectorStage:
    """The pipeline's record sink: runs the detectors and dispatches their changes."""

    def __init__(self, engine: DetectorEngine, dispatcher: Dispatcher) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.agent_status: dict[str, tuple[str, float]] = {}
        # Both ingest lanes and the ticker drive the engine's arrays; the alarm lane
        # goes first (gridwatch.priority_lock).
        self._lock = PriorityLock()
        self._chunks = ChunkSizer()

    # Changes are queued for dispatch under the engine lock, in the order decided (the
    # readings lane, the alarm lane and the ticker all decide), and dispatched outside
    # it, so the next lane's evaluation never waits for a dispatch backlog.

    def on_events(self, events: Sequence[DeviceEvent]) -> None:
        with self._lock.hold(urgent=True), metrics.DETECTOR_SECONDS.labels(input="events").time():
            ticket = self.dispatcher.enqueue(self.engine.process_events(events))
        self.dispatcher.finish(ticket)

    def on_readings(self, readings: ReadingTable) -> None:
        # In chunks sized to a time budget: an alarm waiting for the engine gets it at
        # the next chunk, so its wait is one chunk's evaluation (gridwatch.hold_budget).
        start = 0
        while start < len(readings):
            chunk = readings.rows(start, start + self._chunks.size())
            start += len(chunk)
            with self._lock, metrics.DETECTOR_SECONDS.labels(input="readings").time():
                began = time.perf_counter()
                ticket = self.dispatcher.enqueue(self.engine.process_readings(chunk))
                self._chunks.took(len(chunk), time.perf_counter() - began)
            self.dispatcher.note_readings(chunk)
            self.dispatcher.finish(ticket)

    def on_agent_garbage(self, agent: str, ts: float, detail: str, over: bool) -> None:
        change = garbage_change(self.engine.registry, agent, ts, detail, over)
        if change is not None:
            self.dispatcher.apply([change])

    def on_agent_status(self, agent: str, state: str, ts: float) -> None:
        self.agent_status[agent] = (state, ts)
        log.log(logging.WARNING if state == "offline" else logging.INFO,
                "agent %s is %s", agent, state)

    def rebuild(self, timeseries: TimeSeriesStore, now: float) -> None:
        # What the replay finds the alert store missing (a fire that never reached it
        # before a crash, a resolve that the readings show was due) is dispatched at once.
        self.engine.rebuild(timeseries, now, lock=self._lock, on_changes=self.dispatcher.apply)

    def tick(self) -> None:
        with self._lock, metrics.DETECTOR_SECONDS.labels(input="tick").time():
            ticket = self.dispatcher.enqueue(self.engine.tick())
        self.dispatcher.finish(ticket)

    def anomaly_levels(self) -> dict[str, list[AnomalyLevel]]:
        with self._lock:  # the ingest thread moves the levels
            return self.engine.anomaly_levels()

    def save_state(self, path: Path) -> None:
        with self._lock:  # a consistent copy: no batch half-applied
            state_rules = self.engine.learnt_rules
            if state_rules:
                save_anomaly_state(state_rules, path)


class Backend:
    def __init__(
        self, registry: Registry, settings: BackendSettings, clock: Clock = wall_clock
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.clock = clock
        self.mqtt = parse_mqtt_url(settings.mqtt_url)
        check_store_url(settings.store_url)
        check_ops_url(settings.ops_url)
        self.notifier = LogNotifier()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.server: uvicorn.Server | None = None
        self.timeseries: TimeSeriesStore | None = None
        self.ops: OpStore | None = None
        self.consumers: list[IngestConsumer] = []
        self.publisher: MqttAlertPublisher | None = None
        self.receipt_publisher: ReceiptPublisher | None = None
        self.receipts: Receipts | None = None
        self.storage = StorageHealth()
        self.stage: DetectorStage | None = None

    def start(self) -> None:
        """Open the stores, rebuild detector state, connect ingest and dispatch."""
        data_dir = self.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.ops = ops = open_ops(data_dir, self.settings.ops_url)
        shared = self.settings.ops_url != "embedded"
        if shared and self.settings.ingest_client_id == DEFAULT_CLIENT_ID:
            # Two replicas with one client id take the MQTT session from each other.
            log.warning("a shared op store with the default --client-id %s: give each "
                        "replica its own", DEFAULT_CLIENT_ID)
        self.timeseries = open_timeseries(self.settings.store_url, data_dir, ops=ops)
        metrics.track_firing_alerts(ops.firing_alerts)
        self.notifier.notify(ops.last_log_seq())

        engine = DetectorEngine(self.registry, clock=self.clock)
        firing = ops.firing_alerts()
        engine.restore([(a.fingerprint, a.device, a.value) for a in firing],
                       {a.fingerprint: a.updated_at for a in firing})
        # Before the replay, so it adds only the rows the saved state has not seen.
        loaded = load_anomaly_state(engine.learnt_rules, data_dir / STATE_FILE)
        if loaded:
            log.info("anomaly detectors resumed from %s: %s", STATE_FILE, ", ".join(loaded))
        self.publisher = MqttAlertPublisher(self.mqtt)
        self.dispatcher = Dispatcher(
            self.registry, ops, self.notifier, [self.publisher], clock=dispatch_clock(self.clock)
        )
        self.stage = stage = DetectorStage(engine, self.dispatcher)
        # Windowed rules get their history back instead of going blind after a restart;
        # in the background, under the stage lock, so the restart itself is not delayed.
        timeseries, now = self.timeseries, self.clock()
        self._spawn("detector-rebuild", lambda: stage.rebuild(timeseries, now))
        ledger = EventLedger(ops, owner=self.settings.ingest_client_id)
        self.receipt_publisher = ReceiptPublisher(
            self.mqtt, f"{self.settings.ingest_client_id}-receipts"
        )
        receipt_lanes = ReceiptLanes(ops, owner=self.settings.ingest_client_id)
        self.receipts = Receipts(self.receipt_publisher.publish, self.clock, receipt_lanes)
        # Two lanes, each with its own session, queue, writer thread and store writer:
        # an alarm is written and evaluated without waiting for a readings batch. They
        # share the garbage budget (per agent, whatever the topic) and the disk guard.
        garbage = GarbageBudget()
        guard = DiskGuard(data_dir)
        settings = ConsumerSettings(client_id=self.settings.ingest_client_id)
        for lane in LANES:
            pipeline = IngestPipeline(
                self.registry, lane_writer(self.timeseries, lane.name), ops, stage,
                snapshot_dir=data_dir / "snapshots", ledger=ledger, garbage=garbage,
            )
            pipeline.after_write = self.receipts.after_write
            pipeline.storage = self.storage
            pipeline.guard = guard
            pipeline.lane = lane.name
            self.consumers.append(IngestConsumer(self.mqtt, pipeline, settings, lane))
        self.publisher.start()
        self.receipt_publisher.start()
        for consumer in self.consumers:
            consumer.start()
        # Changes another replica makes to a shared store wake this one's SSE streams.
        ops.listen(self.notifier.notify)
        self._spawn("detector-ticker", self._tick_loop)
        self._spawn("webhooks", self._webhook_loop)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _tick_loop(self) -> None:
        stage = self.stage
        assert stage is not None, "start() spawns the ticker"
        next_save = time.monotonic() + SAVE_STATE_S
        while not self._stop.wait(TICK_S):
            try:
                stage.tick()
            except Exception:
                log.exception("detector tick failed")
            if time.monotonic() >= next_save:
                next_save = time.monotonic() + SAVE_STATE_S
                self._save_state()
            try:
                self.dispatcher.tick()  # escalation and re-notification timers
            except Exception:
                log.exception("dispatch tick failed")

    def _save_state(self) -> None:
        if self.stage is None:
            return  # stopped before it started: nothing learned
        try:
            self.stage.save_state(self.settings.data_dir / STATE_FILE)
        except OSError:
            log.exception("could not save the anomaly detectors' state")

    def _webhook_loop(self) -> None:
        # Its own thread: a slow outside receiver must not hold up the detector ticks.
        while not self._stop.wait(TICK_S):
            try:
                self.dispatcher.webhooks.deliver_due()
            except Exception:
                log.exception("webhook delivery failed")

    def api_context(self) -> ApiContext:
        assert self.ops is not None and self.timeseries is not None, "start() first"
        return ApiContext(
            registry=self.registry,
            ops=self.ops,
            timeseries=self.timeseries,
            notifier=self.notifier,
            clock=self.clock,
            bootstrap_token=self.settings.bootstrap_token,
            ack_alert=self.dispatcher.ack,
            close_false_alarm=self.dispatcher.close_false_alarm,
            snapshot_dir=self.settings.data_dir / "snapshots",
            readiness=self._readiness,
            anomaly_levels=None if self.stage is None else self.stage.anomaly_levels,
        )

    def _readiness(self) -> dict[str, object] | None:
        problem = self.storage.problem()
        down = [c.lane.name for c in self.consumers if not c.connected.is_set()]
        if problem is None and (down or not self.consumers):
            lanes = ", ".join(down) or "all"
            problem = {"reason": f"ingest ({lanes} lane) is not connected to the MQTT broker"}
        return problem

    def make_server(self) -> uvicorn.Server:
        app = create_app(self.api_context())
        config = uvicorn.Config(
            app,
            host=self.settings.host,
            port=self.settings.port,
            log_level="warning",
            # SSE streams hold connections open; do not wait on them forever at shutdown.
            timeout_graceful_shutdown=3,
        )
        self.server = uvicorn.Server(config)
        return self.server

    def stop(self) -> None:
        self._stop.set()
        for consumer in self.consumers:
            consumer.stop()
        if self.receipts is not None:
            self.receipts.flush()
        if self.publisher is not None:
            self.publisher.stop()
        if self.receipt_publisher is not None:
            self.receipt_publisher.stop()
        for thread in self._threads:
            thread.join(5)
        self._save_state()
        if self.timeseries is not None:
            self.timeseries.close()
        if self.ops is not None:
            self.ops.close()
