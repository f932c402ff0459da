"""The MQTT side of ingest: receive, batch, write, and only then acknowledge.

Each lane (alarms; readings) is one IngestConsumer with its own session.
paho's network thread only enqueues; one writer thread drains the queue in batches
(whatever is waiting, so an idle system handles a lone alarm at once and a busy one
amortises commits), runs the pipeline, then sends the PUBACKs in arrival order.
The queue is bounded: when it is full the network thread blocks, which stops reading
the socket, so the broker holds the backlog instead of our memory. A persistent
session (clean_session=False) keeps unacknowledged messages at the broker across a
crash of this process; they are redelivered and the idempotent writes absorb them.
"""

from __future__ import annotations

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
from ingest.pipeline import IngestPipeline, StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Lane:
    """One ingest lane: its own MQTT session (client id suffix), queue and writer.

    The broker keeps one queue per session and delivers it in order, so alarms get a
    session of their own: a fire-panel event never waits behind a readings backlog,
    neither at the broker nor in our queue nor behind a readings batch's commit."""

    name: str  # metric label and thread name
    subscriptions: tuple[str, ...]  # topic kinds under gw/v1/<agent>/
    client_suffix: str


ALARMS = Lane("alarms", ("events", "status", "health"), "-alarms")
# The readings lane keeps the original client id, so an existing deployment's session
# (which held every subscription) carries over; it drops the alarm topics on connect.
READINGS = Lane("readings", ("readings", "snapshots/+"), "")
LANES = (ALARMS, READINGS)


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    client_id: str = "gridwatch-ingest"  # the base id: each lane adds its suffix
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
        self,
        target: MqttTarget,
        pipeline: IngestPipeline,
        settings: ConsumerSettings | None = None,
        lane: Lane = READINGS,
    ) -> None:
        self.target = target
        self.pipeline = pipeline
        self.settings = settings or ConsumerSettings()
        self.lane = lane
        self._queue: queue.Queue[Pending] = queue.Queue(maxsize=self.settings.max_queued)
        self._client: mqtt.Client | None = None
        self._writer: threading.Thread | None = None
        self._stopping = threading.Event()
        self._generation = 0
        self.connected = threading.Event()
        self.processed = 0
        self._depth = metrics.INGEST_QUEUE_DEPTH.labels(lane=lane.name)
        self._age = metrics.INGEST_QUEUE_AGE.labels(lane=lane.name)

    @property
    def client_id(self) -> str:
        return self.settings.client_id + self.lane.client_suffix

    def start(self) -> None:
        client = make_client(self.target, self.client_id, clean_session=False, manual_ack=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        self._writer = threading.Thread(
            target=self._write_loop, name=f"ingest-{self.lane.name}", daemon=True
        )
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
        client.subscribe([(f"{TOPIC_ROOT}/+/{s}", 1) for s in self.lane.subscriptions])
        others = [s for lane in LANES if lane != self.lane for s in lane.subscriptions]
        client.unsubscribe([f"{TOPIC_ROOT}/+/{s}" for s in others])
        log.info("ingest %s lane: connected to %s", self.lane.name, self.target.display)
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected.clear()
        if not self._stopping.is_set():
            log.warning("ingest %s lane: lost the broker (%s); paho reconnects",
                        self.lane.name, reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        item = Pending(RawMessage(msg.topic, bytes(msg.payload), time.time()), msg.mid, msg.qos,
                        self._generation)
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                self._depth.set(self._queue.qsize())
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
            self._depth.set(self._queue.qsize())
            self._age.set(max(0.0, time.time() - batch[0].raw.received_at))
            self._process_until_done(batch)
            self._ack(batch)

    def _process_until_done(self, batch: list[Pending]) -> None:
        """Nothing is acknowledged before it is written. Only a StoreError is retried
        (a full disk or a locked store clears up; every write is idempotent), with
        growing back-off, the batch held unacknowledged meanwhile. Undecodable messages
        never get here as failures: the pipeline dead-letters them in the batch. Any
        other exception is a bug: the batch is tried message by message, once each, and
        what still fails is dead-lettered as `internal`, without waiting."""
        delay = 0.1
        while True:
            try:
                self.pipeline.process([p.raw for p in batch])
                return
            except StoreError:
                # A storage outage (issue 17) is nobody's poison: wait it out, unacked.
                log.exception("ingest %s lane: store write of %d messages failed; retrying"
                              " in %.1f s", self.lane.name, len(batch), delay)
            except Exception:
                log.exception("ingest %s lane: a batch of %d failed (a bug); isolating it",
                              self.lane.name, len(batch))
                if self._isolate_bug(batch):
                    return
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _isolate_bug(self, batch: list[Pending]) -> bool:
        """True when every message is now written or dead-lettered; False when the store
        failed meanwhile (then the whole batch is retried)."""
        try:
            for p in batch:
                try:
                    self.pipeline.process([p.raw])
                except StoreError:
                    raise
                except Exception as exc:
                    log.exception("ingest: message on %s fails on its own", p.raw.topic)
                    detail = f"processing raised {type(exc).__name__}: {str(exc)[:200]}"
                    self.pipeline.dead_letter(p.raw, "internal", detail)
        except StoreError:
            return False
        except Exception:  # the dead-letter store itself failed: a store failure too
            log.exception("ingest: dead letter failed")
            return False
        return True

    def _ack(self, batch: list[Pending]) -> None:
        client = self._client
        if client is None:
            return
        for p in batch:
            if p.qos > 0 and p.generation == self._generation:
                client.ack(p.mid, p.qos)
        self.processed += len(batch)
