"""The agent's MQTT side (contract section 3): one paho connection, a retained status with
a last will, `seq` per topic, and a sender thread that feeds the outbox to paho.

Only a small window of messages is handed to paho at a time; the rest waits in the
outbox, whose policy (bounded, telemetry dropped before alarms, alarms sent first) would
be lost inside paho's own unbounded queue. paho keeps what it was handed across
reconnects and resends it, so nothing in the window is lost when the link drops.
A PUBACK is not the end of a message, though: the broker may lose what it acknowledged
(a crash before its autosave). With `receipts` on (the default), an acknowledged message
waits in `edge.receipts.ReceiptBook` until the backend's receipt covers it, and is sent
again at a reconnect, or when receipts stall (events first).
Camera snapshots take the same road (outbox, window, deleted at PUBACK), under a byte
cap of their own, so the picture an event names survives an outage like the event.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from edge.outbox import Kind, MemoryOutbox, Outbox, OutMessage
from edge.receipts import RECEIPTED, TIMEOUT_S, ReceiptBook, takes_receipt
from gridwatch.clock import Clock
from gridwatch.mqtt import MAX_ITEMS, MAX_PAYLOAD_BYTES, TOPIC_ROOT, MqttTarget, make_client
from gridwatch.records import DeviceEvent, Reading
from gridwatch.snapshot_ref import id_problem

log = logging.getLogger(__name__)
RESEND_CHECK_S = 1.0


@dataclass(frozen=True, slots=True)
class PublishStats:
    messages: int  # acknowledged by the broker
    readings: int
    events: int
    dropped: int  # thrown away by the outbox while the broker was away
    depth: int  # waiting in the outbox or unacknowledged
    snapshots: int = 0  # snapshots acknowledged by the broker
    awaiting: int = 0  # acknowledged by the broker, not yet receipted by the backend
    resent: int = 0  # sent again because no receipt covered them
    forgotten: int = 0  # let go unreceipted over the receipt book's byte cap


def encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def reading_item(r: Reading) -> dict[str, Any]:
    return {"device": r.device, "metric": r.metric, "ts": r.ts, "value": r.value}


def event_item(e: DeviceEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "device": e.device,
        "ts": e.ts,
        "type": e.type,
        "state": e.state,
        "zone": e.zone,
        "score": e.score,
        "attrs": e.attrs,
        "snapshot": e.snapshot,
    }


class Publisher:
    """Thread-safe: the agent's ticker hands messages over, the sender thread feeds paho,
    and paho's network thread reports connections and PUBACKs."""

    def __init__(
        self,
        agent: str,
        target: MqttTarget,
        *,
        clock: Clock,
        version: str,
        outbox: Outbox | None = None,
        window: int = 32,
        keepalive_s: int = 15,
        max_rate: float | None = None,
        receipts: bool = True,
        receipt_timeout_s: float = TIMEOUT_S,
    ) -> None:
        """`max_rate` caps messages per second to the broker, so that replaying hours of
        backlog after an outage does not flood the broker or starve live alarms of other
        agents; None sends as fast as PUBACKs come back. `receipts`: keep acknowledged
        messages until the backend's receipts cover them (resent when receipts stall for
        `receipt_timeout_s`); off, a PUBACK ends a message (a broker with no backend)."""
        if max_rate is not None and max_rate <= 0:
            raise ValueError("max_rate must be positive")
        self.agent = agent
        self.target = target
        self.version = version
        self._clock = clock
        self._root = f"{TOPIC_ROOT}/{agent}"
        self._outbox: Outbox = outbox if outbox is not None else MemoryOutbox()
        self._window = window
        self._keepalive_s = keepalive_s
        # Carried on from the outbox: an on-disk one remembers them across restarts.
        self._seq: dict[Kind, int] = {k: self._outbox.last_seq(k) for k in RECEIPTED}
        self._receipts = ReceiptBook(timeout_s=receipt_timeout_s)
        self._awaits = receipts
        self._gap_s = 0.0 if max_rate is None else 1.0 / max_rate
        self._next_send = 0.0
        self._cond = threading.Condition()
        self._connected = False
        self._stopping = False
        self._inflight: dict[int, OutMessage | None] = {}  # mid -> message (None: status)
        self._acked_early: set[int] = set()  # PUBACKs that beat publish() returning the mid
        self._acked = {"messages": 0, "readings": 0, "events": 0, "snapshots": 0}
        self._sender: threading.Thread | None = None
        self.client = make_client(target, f"gw-edge-{agent}")
        self.client.max_inflight_messages_set(window + 4)  # room for status on top
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_receipt

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; paho retries until the broker answers."""
        # The broker sends the will verbatim, so its ts is when the agent set it up.
        self.client.will_set(f"{self._root}/status", self._status("offline"), qos=1, retain=True)
        self.client.connect_async(self.target.host, self.target.port, self._keepalive_s)
        self.client.loop_start()
        self._sender = threading.Thread(target=self._run, name=f"edge-send-{self.agent}")
        self._sender.daemon = True
        self._sender.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Flush what the broker can take within `timeout_s`, then say offline and leave."""
        with self._cond:
            self._cond.wait_for(
                lambda: not self._connected or (not self._outbox.depth and not self._inflight),
                timeout_s,
            )
            self._stopping = True
            connected = self._connected
            self._cond.notify_all()
        if self._sender is not None:
            self._sender.join()
        if connected:
            info = self.client.publish(
                f"{self._root}/status", self._status("offline"), qos=1, retain=True
            )
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                info.wait_for_publish(timeout_s)
        self.client.disconnect()
        self.client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected

    # -- what the agent hands over ---------------------------------------------------

    def publish_readings(self, readings: Sequence[Reading]) -> None:
        self._enqueue_batches("readings", [reading_item(r) for r in readings])

    def publish_events(self, events: Sequence[DeviceEvent]) -> None:
        self._enqueue_batches("events", [event_item(e) for e in events])

    def publish_health(
        self, devices: list[dict[str, Any]], extra: dict[str, Any] | None = None
    ) -> None:
        """`extra`: more per-agent fields (e.g. camera fps, decoder restarts); they may
        not replace the contract's own `ts`, `devices` and `buffer`."""
        now = self._clock()
        with self._cond:
            buffer = {
                "depth": self._outbox.depth + len(self._inflight),
                "dropped": self._outbox.dropped,
                "oldest_ts": self._outbox.oldest_ts,
            }
            self._seq["health"] += 1
            seq = self._seq["health"]
            body = {**(extra or {}), "ts": now, "seq": seq, "devices": devices, "buffer": buffer}
            payload = encode(body)
            self._put(OutMessage(f"{self._root}/health", payload, "health", now, seq=seq))

    def publish_snapshot(self, snapshot_id: str, jpeg: bytes) -> bool:
        """A camera's JPEG, raw, on `snapshots/{snapshot_id}`: into the outbox like every
        message (True), so it waits out a broker outage and leaves after the events and
        before the telemetry. It carries no `seq`. The outbox bounds snapshots by a byte
        cap of their own, dropping the oldest (`snapshots_dropped`), never an event or
        telemetry. One over 1 MiB, or whose id the backend would refuse, is not sent
        (False)."""
        if (why := id_problem(snapshot_id)) is not None:
            log.warning("%s: snapshot not sent: %s", self.agent, why)
            return False
        if len(jpeg) > MAX_PAYLOAD_BYTES:
            log.warning("%s: snapshot %s is over 1 MiB; not sent", self.agent, snapshot_id)
            return False
        topic = f"{self._root}/snapshots/{snapshot_id}"
        with self._cond:
            self._put(OutMessage(topic, jpeg, "snapshots", self._clock(), items=1))
        return True

    @property
    def snapshots_dropped(self) -> int:
        """Snapshots the outbox gave up (its snapshot cap), counted in `dropped` too."""
        with self._cond:
            return self._outbox.dropped_snapshots

    def stats(self) -> PublishStats:
        with self._cond:
            return PublishStats(
                messages=self._acked["messages"],
                readings=self._acked["readings"],
                events=self._acked["events"],
                dropped=self._outbox.dropped,
                depth=self._outbox.depth + len(self._inflight),
                snapshots=self._acked["snapshots"],
                awaiting=self._receipts.waiting,
                resent=self._receipts.resent,
                forgotten=self._receipts.forgotten,
            )

    def _enqueue_batches(self, kind: Kind, items: list[dict[str, Any]]) -> None:
        now = self._clock()
        with self._cond:
            for start in range(0, len(items), MAX_ITEMS):
                self._enqueue_fitting(kind, items[start : start + MAX_ITEMS], now)

    def _enqueue_fitting(self, kind: Kind, items: list[dict[str, Any]], now: float) -> None:
        # The seq is only taken once a payload fits, so halving leaves no gap in it.
        payload = encode({"agent": self.agent, "seq": self._seq[kind] + 1, kind: items})
        if len(payload) > MAX_PAYLOAD_BYTES:
            if len(items) == 1:
                log.error("%s: one %s item is over 1 MiB; not sent", self.agent, kind)
                return
            half = len(items) // 2
            self._enqueue_fitting(kind, items[:half], now)
            self._enqueue_fitting(kind, items[half:], now)
            return
        self._seq[kind] += 1
        topic = f"{self._root}/{kind}"
        self._put(OutMessage(topic, payload, kind, now, len(items), self._seq[kind]))

    def _put(self, msg: OutMessage) -> None:
        self._outbox.put(msg)
        self._cond.notify_all()

    # -- the sender thread and paho's callbacks --------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                # Woken at least every second so that stalled receipts are noticed.
                self._cond.wait_for(lambda: self._stopping or self._can_send(), RESEND_CHECK_S)
                if self._stopping:
                    return
                self._receipts.tick(time.monotonic())
                msg = self._next() if self._can_send() else None
            if msg is not None:
                self._pace()
                self._send(msg.topic, msg.payload, retain=False, msg=msg)

    def _pace(self) -> None:
        # Outside our lock, so PUBACKs and the ticker carry on while the sender waits.
        if self._gap_s:
            now = time.monotonic()
            if self._next_send > now:
                time.sleep(self._next_send - now)
            self._next_send = max(now, self._next_send) + self._gap_s

    def _can_send(self) -> bool:
        waiting = self._outbox.depth > 0 or self._receipts.has_resend()
        return self._connected and waiting and len(self._inflight) < self._window

    def _next(self) -> OutMessage | None:
        """Events to send again, then the outbox (events, snapshots, telemetry), then
        telemetry to send again: an alarm never waits behind a resend of readings."""
        msg = self._receipts.next_resend(("events",))
        if msg is None:
            msg = self._outbox.pop()
        return msg if msg is not None else self._receipts.next_resend(("health", "readings"))

    def _send(self, topic: str, payload: bytes, *, retain: bool, msg: OutMessage | None) -> None:
        # Never called with our lock held: paho runs on_publish under its own lock, which
        # publish() also takes, so holding ours here could deadlock with the network thread.
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.error("%s: paho refused %s (%s)", self.agent, topic, mqtt.error_string(info.rc))
            return  # NO_CONN is fine: paho keeps the message and sends it on reconnect
        with self._cond:
            if info.mid in self._acked_early:
                self._acked_early.discard(info.mid)
                self._count(msg)
                self._cond.notify_all()
            else:
                self._inflight[info.mid] = msg

    def _count(self, msg: OutMessage | None) -> None:
        """The broker has `msg`: the outbox may forget it. Called with our lock held."""
        if msg is None:
            return
        if self._awaits and takes_receipt(msg):
            for done in self._receipts.sent(msg, time.monotonic()):
                self._outbox.ack(done)
        else:
            self._outbox.ack(msg)
        self._acked["messages"] += 1
        if msg.kind != "health":
            self._acked[msg.kind] += msg.items

    def _status(self, state: str) -> bytes:
        return encode({"state": state, "ts": self._clock(), "version": self.version})

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.warning("%s: broker refused the connection: %s", self.agent, rc)
            return
        log.info("%s: connected to %s", self.agent, self.target.display)
        if self._awaits:
            # Retained: the backend's latest receipt arrives at once.
            client.subscribe(f"{self._root}/receipts", qos=1)
        self._send(f"{self._root}/status", self._status("online"), retain=True, msg=None)
        with self._cond:
            # The broker may have restarted empty: what it acknowledged goes again.
            self._receipts.reconnected(time.monotonic())
            self._connected = True
            self._cond.notify_all()

    def _on_disconnect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        with self._cond:
            self._connected = False
            self._cond.notify_all()
        if not self._stopping:
            log.warning("%s: lost the broker (%s); buffering", self.agent, rc)

    def _on_publish(self, client: mqtt.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        with self._cond:
            if mid in self._inflight:
                self._count(self._inflight.pop(mid))
                self._cond.notify_all()
            else:
                self._acked_early.add(mid)

    def _on_receipt(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic != f"{self._root}/receipts":
            return
        try:
            marks = json.loads(msg.payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            log.warning("%s: a receipt that is not JSON; ignored", self.agent)
            return
        if not isinstance(marks, dict):
            log.warning("%s: a receipt that is not a JSON object; ignored", self.agent)
            return
        with self._cond:
            for done in self._receipts.receipt(marks, self._seq, time.monotonic()):
                self._outbox.ack(done)
            self._cond.notify_all()
