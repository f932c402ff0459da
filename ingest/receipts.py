"""Receipts: after a batch is stored, tell each agent how far its messages are safe.

`gw/v1/{agent}/receipts`, retained, QoS 1 (contract section 3): `{"ts", "readings",
"events", "health"}`, the highest `seq` per topic up to which everything is stored.
The agent keeps every message until a receipt covers it, so a broker that acknowledged
a message and then died before writing it to disk loses nothing: the agent sends it
again. Retained, so an agent that reconnects learns where it stands at once.

Receipts go out on a connection of their own, not the ingest consumer's, so that
their publishing never waits behind (or holds up) the consumer's acknowledgements.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence

import paho.mqtt.client as mqtt

from gridwatch import metrics
from gridwatch.mqtt import TOPIC_ROOT, MqttTarget, make_client
from ingest.decode import Decoded
from ingest.receipt_book import TOPICS, Lane, ReceiptBook
from store.opstate_receipts import ReceiptLanes

log = logging.getLogger(__name__)
SAVE_EVERY_S = 1.0
MAX_QUEUED = 10_000  # receipts paho holds while the broker is away (one per agent matters)


def receipt_topic(agent: str) -> str:
    return f"{TOPIC_ROOT}/{agent}/receipts"


class ReceiptPublisher:
    """A small paho connection that publishes retained QoS 1 receipts."""

    def __init__(self, target: MqttTarget, client_id: str = "gridwatch-receipts") -> None:
        self.target = target
        self._client = make_client(target, client_id)
        self._client.max_queued_messages_set(MAX_QUEUED)

    def start(self) -> None:
        self._client.connect_async(self.target.host, self.target.port, 30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, agent: str, body: dict[str, float]) -> None:
        info = self._client.publish(receipt_topic(agent), json.dumps(body), qos=1, retain=True)
        # Without a connection paho queues it; the next batch sends a newer one anyway.
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("receipt for %s not queued (%s)", agent, mqtt.error_string(info.rc))


class Receipts:
    """The pipeline's `after_write` hook: note the batch's `seq`s, save the lanes it
    touched, publish a receipt to each agent whose mark moved."""

    def __init__(
        self,
        publish: Callable[[str, dict[str, float]], None],
        clock: Callable[[], float],
        lanes: ReceiptLanes | None = None,
    ) -> None:
        self._publish = publish
        self._clock = clock
        self._lanes = lanes
        saved = lanes.load() if lanes is not None else {}
        self._lock = threading.Lock()
        self._dirty: set[tuple[str, str]] = set()
        self._save_at = 0.0
        self.book = ReceiptBook(
            {key: Lane(upto, above, gap) for key, (upto, above, gap) in saved.items()}
        )

    def after_write(self, decoded: Sequence[Decoded]) -> None:
        with self._lock:  # each ingest lane's writer thread calls this
            self._after_write(decoded)

    def _after_write(self, decoded: Sequence[Decoded]) -> None:
        seqs: dict[tuple[str, str], list[int]] = {}
        for d in decoded:
            if d.agent is not None and d.seq is not None and d.kind in TOPICS:
                seqs.setdefault((d.agent, d.kind), []).append(d.seq)
        now = self._clock()
        moved = [key for key, got in seqs.items() if self.book.note(*key, got, now)]
        # Every lane touched, not only those that moved: a seq waiting above a gap must
        # still count after a restart, or the gap would never close.
        self._dirty.update(k for k in seqs if k in self.book.lanes)
        if time.monotonic() >= self._save_at:
            # At most once a second: a synced write per batch cost up to 40 % of a small
            # batch's time, and lanes a second stale only mean a few resends after a crash.
            # Also this replica's heartbeat, so it is written even when nothing moved.
            self._flush(now)
        for agent in dict.fromkeys(agent for agent, _ in moved):
            self._publish(agent, {"ts": now, **self._covered(agent, now)})
            metrics.RECEIPTS_PUBLISHED.inc()

    def _covered(self, agent: str, now: float) -> dict[str, int]:
        """This replica's marks, lowered to what every other live replica has SAVED
        (replicas sharing a PostgreSQL op store): the agent keeps the highest receipt
        it sees, so one replica's receipt must not let it forget what another lacks.
        Other replicas' saved marks lag their stores, never lead them; a lone replica
        (or SQLite's embedded store) finds no other live one and is unchanged."""
        own = self.book.receipt(agent)
        others = self._lanes.others_upto(agent, now) if self._lanes is not None else None
        if others is None:
            return own
        return {topic: min(mark, others.get(topic, 0)) for topic, mark in own.items()}

    def flush(self) -> None:
        """Save the lanes changed since the last save (also at a clean stop)."""
        with self._lock:
            self._flush(None)

    def _flush(self, now: float | None) -> None:
        if self._lanes is None or (not self._dirty and now is None):
            return
        lanes = self.book.lanes
        self._lanes.save({k: (lanes[k].upto, lanes[k].above, lanes[k].gap_since)
                          for k in self._dirty}, now)
        self._dirty.clear()
        self._save_at = time.monotonic() + SAVE_EVERY_S
