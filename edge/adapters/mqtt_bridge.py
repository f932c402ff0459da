"""An adapter that hears its devices over MQTT (a local broker, e.g. Zigbee2MQTT's or
Frigate's): a paho subscriber feeding a pure mapper, whose output waits in an `Inbox`
until the agent polls.

The session is persistent (clean_session=False, QoS 1, a client id fixed per agent and
bridge), so what the devices say while the agent is down or restarting is kept by the
local broker and heard when it comes back, not lost.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from edge.adapters.base import DeviceHealth, Inbox, Polled
from gridwatch.clock import Clock
from gridwatch.mqtt import make_client, parse_mqtt_url

log = logging.getLogger(__name__)


class Mapper(Protocol):
    @property
    def subscriptions(self) -> list[str]: ...

    def handle(self, topic: str, payload: bytes, now: float) -> Polled: ...

    def health(self, now: float) -> list[DeviceHealth]: ...


class MqttBridge:
    def __init__(self, name: str, mapper: Mapper, mqtt_url: str, client_id: str,
                 *, clock: Clock) -> None:
        self.name = name
        self.mapper = mapper
        self.target = parse_mqtt_url(mqtt_url)
        self.inbox = Inbox()
        self._clock = clock
        self.client = make_client(self.target, client_id, clean_session=False)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()  # set at the first SUBACK
        self.client.on_subscribe = lambda *_: self.subscribed.set()

    def start(self) -> None:
        self.client.connect_async(self.target.host, self.target.port, 30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def poll(self, now: float) -> Polled:
        return self.inbox.take()

    def health(self, now: float) -> list[DeviceHealth]:
        return self.mapper.health(now)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.warning("%s: local broker refused the connection: %s", self.name, rc)
            return
        client.subscribe([(topic, 1) for topic in self.mapper.subscriptions])

    def _on_message(self, _c: mqtt.Client, _u: Any, m: mqtt.MQTTMessage) -> None:
        try:
            self.inbox.add(self.mapper.handle(m.topic, bytes(m.payload), self._clock()))
        except Exception:  # one odd message must not stop the bridge
            log.exception("%s: could not map a message on %s", self.name, m.topic)
