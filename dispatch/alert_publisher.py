"""Alerts out to MQTT on gw/v1/alerts/{street}/{district}/{area}/{micro}, QoS 1, so a
console subscribes to its own subtree (`gw/v1/alerts/lc/d2/wy1/#`)."""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from gridwatch import metrics
from gridwatch.mqtt import TOPIC_ROOT, MqttTarget, make_client
from gridwatch.records import Alert

log = logging.getLogger(__name__)
# paho holds QoS 1 messages while the broker is away; bounded so a long outage costs
# a known amount of memory (the alert log in the store keeps everything anyway).
MAX_QUEUED = 10_000


class AlertSink(Protocol):
    def publish(self, alert: Alert, payload: dict[str, Any]) -> None: ...


def alert_topic(grid: str) -> str:
    return f"{TOPIC_ROOT}/alerts/{grid}"


class MqttAlertPublisher:
    def __init__(self, target: MqttTarget, client_id: str = "gridwatch-alerts") -> None:
        self.target = target
        self.client_id = client_id
        self._client: mqtt.Client | None = None

    def start(self) -> None:
        client = make_client(self.target, self.client_id)
        client.max_queued_messages_set(MAX_QUEUED)
        client.connect_async(self.target.host, self.target.port, 30)
        client.loop_start()
        self._client = client

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def publish(self, alert: Alert, payload: dict[str, Any]) -> None:
        if self._client is None:
            return
        info = self._client.publish(alert_topic(alert.grid), json.dumps(payload), qos=1)
        # Without a connection paho queues the message and sends it on reconnect.
        queued = info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN)
        metrics.ALERTS_PUBLISHED.labels(result="queued" if queued else "failed").inc()
        if not queued:
            log.warning("alert %s not queued for MQTT (rc %s)", alert.id, info.rc)
