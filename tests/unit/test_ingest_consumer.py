"""IngestConsumer without a broker: the writer loop, retries and acks, with a fake client.

The consumer is constructed (which touches no network) and its writer-side methods are
driven directly; `time` in the module is replaced so retries do not sleep.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import paho.mqtt.client as mqtt
import pytest

from gridwatch.mqtt import MqttTarget
from ingest import consumer as consumer_module
from ingest.consumer import ConsumerSettings, IngestConsumer, Pending
from ingest.decode import RawMessage
from ingest.pipeline import IngestPipeline, RecordSink, StoreError
from store.opstate_sqlite import SqliteOpStore
from store.timeseries_duckdb import DuckDBTimeSeries
from tests.support.sinks import NullSink
from tests.support.tiny_street import lc_street

NOW = 1_764_090_000.0
AGENT = "ag-a1"


class FakeClient:
    """Records acks and subscriptions the way paho's client would send them."""

    def __init__(self) -> None:
        self.acks: list[tuple[int, int]] = []
        self.subscriptions: list[Any] = []
        self.unsubscriptions: list[Any] = []

    def ack(self, mid: int, qos: int) -> None:
        self.acks.append((mid, qos))

    def subscribe(self, topics: Any) -> None:
        self.subscriptions.append(topics)

    def unsubscribe(self, topics: Any) -> None:
        self.unsubscriptions.append(topics)


class ScriptedPipeline(IngestPipeline):
    """The real pipeline on real stores, failing on purpose: the first `fail_first`
    calls raise, and so does every call whose batch holds a topic in `poison`."""

    def __init__(self, tmp: Path, client: FakeClient, sink: RecordSink | None = None) -> None:
        self.ts_store = DuckDBTimeSeries(tmp / "ts.duckdb")
        self.op_store = SqliteOpStore(tmp / "ops.sqlite")
        super().__init__(lc_street(), self.ts_store, self.op_store, sink or NullSink())
        self.client = client
        self.fail_first = 0
        self.fail_alone = 0  # store failures of single-message calls
        self.poison: set[str] = set()
        self.values_of: Any = lambda m: None  # a payload's values when not plain JSON
        # per call: the mids' values in the batch, and the acks already sent at that time
        self.calls: list[tuple[list[float], list[tuple[int, int]]]] = []

    def process(self, messages: Sequence[RawMessage]) -> None:
        values = [self.values_of(m) or [json.loads(m.payload)["readings"][0]["value"]]
                  for m in messages]
        self.calls.append(([v for vs in values for v in vs], list(self.client.acks)))
        if self.fail_first > 0:
            self.fail_first -= 1
            raise StoreError("full", "disk full")
        if len(messages) == 1 and self.fail_alone > 0:
            self.fail_alone -= 1
            raise StoreError("locked", "database is locked")
        if any(m.topic in self.poison for m in messages):
            raise ValueError("a bug this message triggers")
        super().process(messages)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    fake_time = SimpleNamespace(sleep=slept.append, time=lambda: NOW)
    monkeypatch.setattr(consumer_module, "time", fake_time)
    return slept


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


@pytest.fixture
def pipeline(tmp_path: Path, client: FakeClient) -> Iterator[ScriptedPipeline]:
    p = ScriptedPipeline(tmp_path, client)
    yield p
    p.ts_store.close()
    p.op_store.close()


def make_consumer(
    pipeline: IngestPipeline, client: FakeClient, max_batch: int = 1_000
) -> IngestConsumer:
    c = IngestConsumer(MqttTarget("127.0.0.1", 1), pipeline, ConsumerSettings(max_batch=max_batch))
    c._client = cast(mqtt.Client, client)
    c._generation = 1
    return c


def pending(
    mid: int, value: float, generation: int = 1, qos: int = 1, topic: str = "readings"
) -> Pending:
    body = {
        "agent": AGENT,
        "seq": mid,
        "readings": [
            {
                "device": "a1-smoke-1",
                "metric": "temperature_c",
                "ts": NOW - 100 + mid,
                "value": value,
            }
        ],
    }
    return Pending(
        RawMessage(f"gw/v1/{AGENT}/{topic}", json.dumps(body).encode(), NOW), mid, qos, generation
    )


def run_writer(consumer: IngestConsumer, items: list[Pending]) -> None:
    """Queue `items` and run the writer loop in this thread until the queue is drained."""
    for p in items:
        consumer._queue.put(p)
    consumer._stopping.set()
    consumer._write_loop()


# --- ack only after process ------------------------------------------------------------


def test_batches_are_acked_in_order_only_after_process(
    pipeline: ScriptedPipeline, client: FakeClient, sleeps: list[float]
) -> None:
    consumer = make_consumer(pipeline, client, max_batch=2)
    run_writer(consumer, [pending(mid, float(mid)) for mid in (11, 12, 13, 14, 15)])
    # Each process call saw only the acks of the batches before it.
    assert pipeline.calls == [
        ([11.0, 12.0], []),
        ([13.0, 14.0], [(11, 1), (12, 1)]),
        ([15.0], [(11, 1), (12, 1), (13, 1), (14, 1)]),
    ]
    assert client.acks == [(11, 1), (12, 1), (13, 1), (14, 1), (15, 1)]
    assert consumer.processed == 5
    assert pipeline.ts_store.reading_count() == 5
    assert sleeps == []


def test_take_batch_is_bounded_and_keeps_arrival_order(
    pipeline: ScriptedPipeline, client: FakeClient
) -> None:
    consumer = make_consumer(pipeline, client, max_batch=3)
    for mid in range(1, 6):
        consumer._queue.put(pending(mid, mid))
    assert [p.mid for p in consumer._take_batch()] == [1, 2, 3]
    assert [p.mid for p in consumer._take_batch()] == [4, 5]
    assert consumer._take_batch() == []


# --- retries ---------------------------------------------------------------------------


def test_a_failing_store_is_retried_and_nothing_acked_until_it_succeeds(
    pipeline: ScriptedPipeline, client: FakeClient, sleeps: list[float]
) -> None:
    consumer = make_consumer(pipeline, client)
    pipeline.fail_first = 3
    run_writer(consumer, [pending(1, 1.0), pending(2, 2.0)])
    # Four attempts of the whole batch, none of which saw an ack; the fourth succeeded.
    assert pipeline.calls == [([1.0, 2.0], [])] * 4
    assert sleeps == [0.1, 0.2, 0.4]  # growing back-off
    assert client.acks == [(1, 1), (2, 1)]
    assert pipeline.ts_store.reading_count() == 2
    assert pipeline.op_store.dead_letter_count() == 0


def test_a_long_store_outage_is_waited_out_and_never_dead_lettered(
    pipeline: ScriptedPipeline, client: FakeClient, sleeps: list[float]
) -> None:
    """A store outage is not poison: every message waits, unacknowledged, for the store."""
    consumer = make_consumer(pipeline, client)
    pipeline.fail_first = 12
    run_writer(consumer, [pending(1, 1.0), pending(2, 2.0)])
    assert len(pipeline.calls) == 13
    assert max(sleeps) == 5.0  # the back-off is capped
    assert pipeline.op_store.dead_letter_count() == 0
    assert pipeline.ts_store.reading_count() == 2
    assert client.acks == [(1, 1), (2, 1)]


def test_an_undecodable_message_is_dead_lettered_at_once_and_never_retried(
    pipeline: ScriptedPipeline, client: FakeClient, sleeps: list[float]
) -> None:
    consumer = make_consumer(pipeline, client)
    nested = b'{"agent": "ag-a1", "seq": 1, "readings": [' + b"[" * 200_000 + b"]" * 200_000 + b"]}"
    poison = Pending(RawMessage(f"gw/v1/{AGENT}/readings", nested, NOW), 2, 1, 1)
    pipeline.values_of = lambda m: [-1.0] if m.payload is nested else None
    run_writer(consumer, [pending(1, 1.0), poison, pending(3, 3.0)])
    assert [values for values, _ in pipeline.calls] == [[1.0, -1.0, 3.0]]  # one try
    assert sleeps == []
    [letter] = pipeline.op_store.dead_letters()
    assert letter.reason.startswith("undecodable: RecursionError")
    assert letter.payload == nested[: len(letter.payload)]
    assert pipeline.ts_store.reading_count() == 2
    assert client.acks == [(1, 1), (2, 1), (3, 1)]


def test_a_bug_is_isolated_without_retries_and_dead_lettered_as_internal(
    pipeline: ScriptedPipeline, client: FakeClient, sleeps: list[float]
) -> None:
    consumer = make_consumer(pipeline, client)
    poison = pending(2, 2.0, topic="events")  # an events topic carrying readings: "a bug"
    pipeline.poison = {poison.raw.topic}
    run_writer(consumer, [pending(1, 1.0), poison, pending(3, 3.0)])
    # The batch once, then each message alone once; no back-off for a bug.
    assert [values for values, _ in pipeline.calls] == [[1.0, 2.0, 3.0], [1.0], [2.0], [3.0]]
    assert all(acks == [] for _, acks in pipeline.calls)  # nothing acked while failing
    assert sleeps == []
    [letter] = pipeline.op_store.dead_letters()
    assert letter.reason == "internal: processing raised ValueError: a bug this message triggers"
    assert (letter.topic, letter.payload) == (poison.raw.topic, poison.raw.payload)
    assert [
        p.value for p in pipeline.ts_store.series("a1-smoke-1", "temperature_c", 0, 2e9, None)
    ] == [1.0, 3.0]
    assert client.acks == [(1, 1), (2, 1), (3, 1)]
    assert consumer.processed == 3


def test_a_store_failure_while_isolating_a_bug_retries_the_batch(
    pipeline: ScriptedPipeline, client: FakeClient, sleeps: list[float]
) -> None:
    consumer = make_consumer(pipeline, client)
    poison = pending(2, 2.0, topic="events")
    pipeline.poison = {poison.raw.topic}
    pipeline.fail_alone = 1  # the first message alone meets a store failure
    consumer._process_until_done([pending(1, 1.0), poison])
    assert [values for values, _ in pipeline.calls] == [
        [1.0, 2.0], [1.0], [1.0, 2.0], [1.0], [2.0]
    ]
    assert sleeps == [0.1]
    assert [d.reason.split(":")[0] for d in pipeline.op_store.dead_letters()] == ["internal"]
    assert client.acks == []  # _process_until_done never acks by itself


# --- connection generations ------------------------------------------------------------


def test_acks_from_an_older_connection_are_not_sent(
    pipeline: ScriptedPipeline, client: FakeClient, sleeps: list[float]
) -> None:
    consumer = make_consumer(pipeline, client)
    consumer._generation = 3
    batch = [
        pending(1, 1.0, generation=2),  # received before the reconnect: the broker resends it
        pending(2, 2.0, generation=3),
        pending(3, 3.0, generation=3, qos=0),  # QoS 0 has nothing to ack
        pending(4, 4.0, generation=3),
    ]
    run_writer(consumer, batch)
    assert pipeline.calls == [([1.0, 2.0, 3.0, 4.0], [])]  # all written, once
    assert client.acks == [(2, 1), (4, 1)]
    assert consumer.processed == 4


def test_a_reconnect_starts_a_new_generation(
    pipeline: ScriptedPipeline, client: FakeClient, sleeps: list[float]
) -> None:
    consumer = make_consumer(pipeline, client)
    consumer._generation = 0
    ok = SimpleNamespace(is_failure=False)
    mqtt_client = cast(mqtt.Client, client)
    consumer._on_connect(mqtt_client, None, None, ok)
    assert client.subscriptions == [[(f"gw/v1/+/{s}", 1) for s in ("readings", "snapshots/+")]]
    assert client.unsubscriptions[-1] == [f"gw/v1/+/{s}" for s in ("events", "status", "health")]

    def deliver(mid: int) -> None:
        message = mqtt.MQTTMessage(mid, f"gw/v1/{AGENT}/readings".encode())
        message.payload = pending(mid, float(mid)).raw.payload
        message.qos = 1
        consumer._on_message(mqtt_client, None, message)

    deliver(1)
    consumer._on_connect(mqtt_client, None, None, ok)  # the connection dropped and came back
    deliver(2)
    consumer._on_connect(mqtt_client, None, None, SimpleNamespace(is_failure=True))  # refused
    assert consumer._generation == 2
    run_writer(consumer, [])
    assert pipeline.calls == [([1.0, 2.0], [])]
    assert client.acks == [(2, 1)]


def test_ack_without_a_client_sends_nothing(pipeline: ScriptedPipeline) -> None:
    consumer = IngestConsumer(MqttTarget("127.0.0.1", 1), pipeline)
    consumer._ack([pending(1, 1.0)])
    assert consumer.processed == 0


def test_the_lanes_have_their_own_sessions_and_split_the_topics(
    pipeline: ScriptedPipeline,
) -> None:
    settings = ConsumerSettings(client_id="gw-ingest")
    ids = {IngestConsumer(MqttTarget("h", 1), pipeline, settings, lane).client_id
           for lane in consumer_module.LANES}
    assert ids == {"gw-ingest", "gw-ingest-alarms"}
    alarms, readings = consumer_module.ALARMS.subscriptions, consumer_module.READINGS.subscriptions
    assert set(alarms) == {"events", "status", "health"}
    assert set(readings) == {"readings", "snapshots/+"}
