"""`gridwatch bench edge-replay`: how fast the agent empties its on-disk backlog after an
outage (messages/s to a real Mosquitto, each removed only after its PUBACK), beside the
memory outbox replaying the same messages through the same publisher in the same run.

The ratio is the price of durability: the on-disk outbox fsyncs each acknowledgement
(synchronous=FULL) where the memory outbox forgets a message as it goes out.
"""

from __future__ import annotations

import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.kit import ROUNDS, Result
from edge.outbox import MemoryOutbox, Outbox
from edge.outbox_sqlite import SqliteOutbox
from edge.publisher import Publisher
from gridwatch.mqtt import parse_mqtt_url
from gridwatch.records import Reading
from launchers.mosquitto import running_broker

AGENT = "bench-edge"
READINGS_PER_MESSAGE = 50  # about one tick of a 55-device agent


def _backlog(outbox: Outbox, messages: int, t0: float) -> None:
    """What a publisher puts while the broker is away, without a broker."""
    pub = Publisher(AGENT, parse_mqtt_url("mqtt://127.0.0.1:9"), clock=lambda: t0,
                    version="bench", outbox=outbox)
    for m in range(messages):
        pub.publish_readings([Reading(AGENT, f"d{k}", "co_ppm", t0 + m, 1.0)
                              for k in range(READINGS_PER_MESSAGE)])


def _replay_rate(url: str, outbox: Outbox, messages: int) -> float:
    """Messages/s from connecting until the broker has acknowledged the whole backlog."""
    # No backend here to send receipts: a PUBACK ends a message, as the figures assume.
    pub = Publisher(AGENT, parse_mqtt_url(url), clock=time.time, version="bench",
                    outbox=outbox, receipts=False)
    start = time.perf_counter()
    pub.start()
    try:
        while pub.stats().messages < messages:
            time.sleep(0.002)
        return messages / (time.perf_counter() - start)
    finally:
        pub.stop(timeout_s=5.0)


def _round(url: str, make: Callable[[], Outbox], messages: int) -> float:
    outbox = make()
    _backlog(outbox, messages, time.time())
    return _replay_rate(url, outbox, messages)


def run(quick: bool) -> list[Result]:
    messages = 300 if quick else 3000
    disk: list[float] = []
    memory: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="gw-bench-edge-") as tmp,
        running_broker(Path(tmp) / "broker") as broker,
    ):
        for r in range(ROUNDS):
            path = Path(tmp) / f"outbox-{r}.sqlite3"
            disk.append(_round(broker.url, functools.partial(SqliteOutbox, path), messages))
            memory.append(_round(broker.url, lambda: MemoryOutbox(capacity=messages),
                                 messages))
    return [Result(f"edge-replay: on-disk outbox backlog of {messages} messages "
                   f"({READINGS_PER_MESSAGE} readings each) to Mosquitto, PUBACK before delete",
                   "messages/s", statistics.median(disk),
                   "memory outbox, same messages, same publisher", statistics.median(memory))]
