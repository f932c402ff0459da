"""The MQTT side of ingest: receive, batch, write, and only then acknowledge.

paho's network thread only enqueues; one writer thread drains the queue in batches
(whatever is waiting, so an idle system handles a lone alarm at once and a busy one
amortises commits), runs the pipeline, then sends the PUBACKs in arrival order.
The queue is bounded: when it is full the network thread blocks, which stops reading
the socket, so the broker holds the backlog instead of our memory. A persistent
session (clean_session=False) keeps unacknowledged messages at the broker across a
crash of this process; they are redelivered and the idempotent writes absorb them.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from gridwatch import metrics
from gridwatch.mqtt import TOPIC_ROOT, MqttTarget, make_client
from ingest.decode import RawMessage
from ingest.pipeline import IngestPipeline
from ingest.storage_errors import storage_reason

log = logging.getLogger(__name__)

BATCH_TRIES = 5  # whole-batch attempts before looking for a poison message
ALONE_TRIES = 3  # attempts of one message on its own before it counts as poison
SUBSCRIPTIONS = ("readings", "events", "status", "health", "snapshots/+")


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    client_id: str = "gridwatch-ingest"
    max_queued: int = 5_000  # messages received but not yet written (the in-flight cap)
    max_batch: int = 1_000  # messages per write transaction
    keepalive_s: int = 30


@dataclass(frozen=True, slots=True)
class Pending:
    """A message taken off the wire, until its batch is written and it is acked."""

    raw: RawMessage
    mid: int
    qos: int
    generation: int  # connection number: an ack for an older connection is meaningless


class IngestConsumer:
    def __init__(
        self, target: MqttTarget, pipeline: IngestPipeline, settings: ConsumerSettings | None = None
    ) -> None:
        self.target = target
        self.pipeline = pipeline
        self.settings = settings or ConsumerSettings()
        self._queue: queue.Queue[Pending] = queue.Queue(maxsize=self.settings.max_queued)
        self._client: mqtt.Client | None = None
        self._writer: threading.Thread | None = None
        self._stopping = threading.Event()
        self._generation = 0
        self.connected = threading.Event()
        self.processed = 0

    def start(self) -> None:
        client = make_client(
            self.target, self.settings.client_id, clean_session=False, manual_ack=True
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self._writer.start()
        client.connect_async(self.target.host, self.target.port, self.settings.keepalive_s)
        client.loop_start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop receiving, finish writing and acknowledging what was received."""
        self._stopping.set()
        if self._writer is not None:
            self._writer.join(timeout)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None
    ) -> None:
        if reason.is_failure:
            log.error("ingest: broker %s refused the connection: %s", self.target.display, reason)
            return
        self._generation += 1
        client.subscribe([(f"{TOPIC_ROOT}/+/{s}", 1) for s in SUBSCRIPTIONS])
        log.info("ingest: connected to %s", self.target.display)
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected.clear()
        if not self._stopping.is_set():
            log.warning("ingest: lost the broker (%s); paho reconnects", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        item = Pending(RawMessage(msg.topic, bytes(msg.payload), time.time()), msg.mid, msg.qos,
                        self._generation)
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                metrics.INGEST_QUEUE_DEPTH.set(self._queue.qsize())
                return
            except queue.Full:
                continue  # backpressure: the broker keeps the rest until we catch up

    def _take_batch(self) -> list[Pending]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        return [first, *self._take_now(self.settings.max_batch - 1)]

    def _take_now(self, limit: int) -> list[Pending]:
        """Up to `limit` messages already waiting, without waiting for more."""
        out: list[Pending] = []
        while len(out) < limit:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return out

    def _write_loop(self) -> None:
        while not (self._stopping.is_set() and self._queue.empty()):
            batch = self._take_batch()
            if not batch:
                continue
            metrics.INGEST_QUEUE_DEPTH.set(self._queue.qsize())
            self._process_until_done(batch)
            self._ack(batch)

    def _process_until_done(self, batch: list[Pending]) -> None:
        """Nothing is acknowledged before it is written, so a failing write is retried
        (a full disk or a locked store clears up). After a few failures the batch is tried
        message by message: a message that keeps failing while others in the batch go
        through is a bug's poison pill and goes to the dead-letter store; when nothing
        goes through, the store is down and everything waits (unacknowledged) for it.
        A lone failing message is topped up with whatever arrived since, so new traffic
        is what tells the two cases apart. `batch` is extended in place."""
        delay = 0.1
        for attempt in itertools.count(1):
            try:
                self.pipeline.process([p.raw for p in batch])
                return
            except Exception as exc:
                log.exception("ingest: batch of %d failed; retrying in %.1f s", len(batch), delay)
                # A storage outage (issue 17) is nobody's poison: wait it out, unacked.
                outage = storage_reason(exc) is not None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
            if attempt >= BATCH_TRIES and not outage and self._isolate_poison(batch):
                return
            batch.extend(self._take_now(self.settings.max_batch - len(batch)))

    def _isolate_poison(self, batch: list[Pending]) -> bool:
        """True when every message is now written or dead-lettered."""
        failed = []
        for p in batch:
            done = self._process_alone(p.raw)
            if done is None:
                return False  # a storage outage began: everything waits, unacknowledged
            if not done:
                failed.append(p)
        if len(failed) == len(batch):
            return False
        for p in failed:
            self._dead_letter_until_done(p.raw)
        return True

    def _process_alone(self, raw: RawMessage) -> bool | None:
        """Whether `raw` went through on its own; None on a storage failure."""
        delay = 0.5
        for attempt in range(1, ALONE_TRIES + 1):
            try:
                self.pipeline.process([raw])
                return True
            except Exception as exc:
                if storage_reason(exc) is not None:
                    return None
                log.exception("ingest: message on %s failed (attempt %d)", raw.topic, attempt)
                time.sleep(delay)
                delay *= 2
        return False

    def _dead_letter_until_done(self, raw: RawMessage) -> None:
        delay = 0.5
        while True:
            try:
                detail = f"processing failed {ALONE_TRIES} times"
                self.pipeline.dead_letter(raw, "internal", detail)
                return
            except Exception:
                log.exception("ingest: dead letter for %s failed", raw.topic)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _ack(self, batch: list[Pending]) -> None:
        client = self._client
        if client is None:
            return
        for p in batch:
            if p.qos > 0 and p.generation == self._generation:
                client.ack(p.mid, p.qos)
        self.processed += len(batch)
