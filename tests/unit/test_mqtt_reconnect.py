"""The reconnect backoff: under 2 s however long the outage, jittered per client."""

from __future__ import annotations

import random

from gridwatch.mqtt import MqttTarget, make_client, reconnect_delays


def test_delays_stay_within_one_to_two_seconds_and_vary() -> None:
    rng = random.Random(17)
    drawn = [reconnect_delays(rng) for _ in range(200)]
    assert all(0.5 <= low <= 1.0 and 1.5 <= high <= 2.0 for low, high in drawn)
    assert len({round(low, 3) for low, _ in drawn}) > 100  # jitter, not one fixed value


def test_a_client_never_waits_longer_than_two_seconds() -> None:
    client = make_client(MqttTarget("localhost", 1883), "t")
    # The wait paho doubles after each failed attempt is capped at the client's maximum.
    assert client._reconnect_max_delay <= 2.0
    assert client._reconnect_min_delay <= 1.0
