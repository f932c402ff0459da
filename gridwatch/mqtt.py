"""MQTT URLs and client construction, shared by the edge agent, ingest and dispatch."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import cast
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

TOPIC_ROOT = "gw/v1"
MAX_PAYLOAD_BYTES = 1 << 20  # contract: a message over 1 MiB is rejected whole
MAX_ITEMS = 10_000  # contract: more readings or events than this is rejected whole
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 2.0


@dataclass(frozen=True, slots=True)
class MqttTarget:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @property
    def display(self) -> str:
        """The URL without the password, for logs and banners."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> MqttTarget:
    """Parse `mqtt://user:password@host:port` (or mqtts://); raises ValueError that says
    what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"MQTT URL {url!r}: scheme must be mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError(f"MQTT URL {url!r}: no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"MQTT URL {url!r}: bad port ({exc})") from None
    tls = parts.scheme == "mqtts"
    return MqttTarget(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


def make_client(
    target: MqttTarget, client_id: str, *, clean_session: bool = True, manual_ack: bool = False
) -> mqtt.Client:
    """A paho 2.x client (MQTT 3.1.1, which every broker we support speaks, the embedded
    amqtt included) with credentials and TLS from the target. Does not connect."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    if target.username:
        client.username_pw_set(target.username, target.password)
    if target.tls:
        client.tls_set()
    # Reconnect at once when the link returns: paho doubles the wait after each failed
    # attempt up to the maximum, so a long outage used to leave the agent asleep for up
    # to 30 s after the broker was back (issue 17). Now the wait stays under 2 s. The
    # jitter (per client) keeps a street of agents from reconnecting in lockstep.
    low, high = reconnect_delays()
    # paho annotates the delays as int but computes with them as numbers.
    client.reconnect_delay_set(min_delay=cast(int, low), max_delay=cast(int, high))
    return client


def reconnect_delays(rng: random.Random | None = None) -> tuple[float, float]:
    """(first wait, longest wait) in seconds before reconnecting: 0.5-1 s, then at most
    1.5-2 s, drawn per client."""
    r = rng or random
    return r.uniform(RECONNECT_MIN_S / 2, RECONNECT_MIN_S), r.uniform(
        RECONNECT_MAX_S * 0.75, RECONNECT_MAX_S
    )
