"""The InfluxDB backend's write path against a real server speaking the v2 write API
(VictoriaMetrics), read back through its export API: every reading arrives once with
its timestamp, under replays and a server restart mid-stream.

VictoriaMetrics maps `reading,agent=..,device=.. temperature_c=21.5 TS` to the series
`reading_temperature_c{agent=..,device=..}`, keeps milliseconds, and stores every
sample it receives (duplicates too), so the export shows any double write.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.loader import DEFAULT_CONFIG_DIR, load_registry
from gridwatch.records import DeviceEvent, Reading
from store.influx_lines import parse_influx_url
from store.influx_writer import RetryPolicy
from store.timeseries_influx import InfluxTimeSeries
from tests.support.backend_proc import running_backend
from tests.support.mosquitto import Broker
from tests.support.mqtt_tools import TestPublisher, readings_msg
from tests.support.sample_street import area_path, smoke_detector_in
from tests.support.victoria import Victoria, running_victoria

pytestmark = pytest.mark.integration

FAST = RetryPolicy(attempts=2, initial_s=0.01, max_wait_s=0.05, max_lines=50)
T0 = 1_764_090_000.0
SMOKE = "smoke_obscuration_pct_m"
DEVICES = ("dev-0", "dev-1", "dev 2,x=y")


def readings(n_ts: int, first: int = 0) -> list[Reading]:
    """Three devices of two agents, two metrics each, n_ts instants 250 ms apart, values
    exact in binary (VictoriaMetrics stores floats in a decimal form). One
    device id has the characters line protocol must escape in a tag."""
    out = []
    for i in range(first, first + n_ts):
        for d, device in enumerate(DEVICES):
            for metric in ("temperature_c", "battery_pct"):
                out.append(Reading(f"agent-{d % 2}", device, metric, T0 + i * 0.25,
                                   float(i * 10 + d) + (0.5 if metric == "battery_pct" else 0)))
    return out


def exported(server: Victoria) -> Counter[tuple[str, str, str, int, float]]:
    """Every exported reading sample as (agent, device, metric, ts_ms, value), counted."""
    samples: Counter[tuple[str, str, str, int, float]] = Counter()
    for series in server.export('{__name__=~"reading_.*"}'):
        labels = series["metric"]
        assert isinstance(labels, dict)
        metric = str(labels["__name__"]).removeprefix("reading_")
        values, stamps = series["values"], series["timestamps"]
        assert isinstance(values, list) and isinstance(stamps, list)
        for v, t in zip(values, stamps, strict=True):
            samples[(labels["agent"], labels["device"], metric, int(t), float(v))] += 1
    return samples


def expected(rs: list[Reading]) -> Counter[tuple[str, str, str, int, float]]:
    return Counter((r.agent, r.device, r.metric, round(r.ts * 1000), r.value) for r in rs)


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[Victoria]:
    with running_victoria(tmp_path / "vm") as server:
        yield server


def open_store(server: Victoria, data: Path) -> InfluxTimeSeries:
    return InfluxTimeSeries(
        parse_influx_url(server.store_url()), "test-token", data / "spool", policy=FAST
    )


def test_replayed_batches_are_written_once(victoria: Victoria, tmp_path: Path) -> None:
    store = open_store(victoria, tmp_path)
    first, second = readings(20), readings(20, first=10)  # second half-overlaps first
    try:
        assert store.write_readings(first) == first
        assert store.write_readings(first) == []  # an MQTT redelivery of the same batch
        new = store.write_readings(second)
        assert new == [r for r in second if r not in set(first)]
    finally:
        store.close()
    assert exported(victoria) == expected(readings(30))


def test_events_arrive_with_their_tags(victoria: Victoria, tmp_path: Path) -> None:
    store = open_store(victoria, tmp_path)
    events = [DeviceEvent("agent-0", f"e{i}", "dev-0", T0 + i, "fire.alarm", "start",
                          score=0.5 + i / 10) for i in range(3)]
    try:
        assert store.write_events(events) == events
        assert store.write_events(events) == []
    finally:
        store.close()
    scores = victoria.export('{__name__="device_event_score"}')
    assert len(scores) == 1
    assert scores[0]["metric"] == {"__name__": "device_event_score", "agent": "agent-0",
                                   "device": "dev-0", "type": "fire.alarm", "state": "start"}
    assert scores[0]["timestamps"] == [round(e.ts * 1000) for e in events]
    assert scores[0]["values"] == [e.score for e in events]


def test_server_restart_mid_stream_loses_and_doubles_nothing(
    victoria: Victoria, tmp_path: Path
) -> None:
    before, during, after = readings(10), readings(40, first=10), readings(10, first=50)
    store = open_store(victoria, tmp_path)
    assert store.write_readings(before) == before
    victoria.stop()
    # The server is away: the batch is retried, then durably spooled, and reported new
    # (ingest acknowledges now; the spool carries it).
    assert store.write_readings(during) == during
    assert store.flush_spool() > 0  # still away: nothing leaves the spool
    store.close()  # and the backend restarts too: the spool is on disk
    victoria.start()
    store = open_store(victoria, tmp_path)
    try:
        assert store.flush_spool() == 0
        assert store.write_readings(after) == after
    finally:
        store.close()
    assert exported(victoria) == expected(before + during + after)


def test_serve_with_the_influx_store_writes_what_it_ingests(
    victoria: Victoria, broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real `gridwatch serve --store influx+http://...` (through the factory): what
    an agent publishes, replays included, lands in the server once."""
    registry = load_registry(DEFAULT_CONFIG_DIR)
    device, agent = smoke_detector_in(registry, area_path(registry, "wy1"))
    monkeypatch.setenv("GRIDWATCH_STORE_URL", victoria.store_url())
    monkeypatch.setenv("GRIDWATCH_INFLUX_TOKEN", "test-token")
    now = float(int(time.time()))  # ingest refuses device times far from now
    sent = [Reading(agent, device, SMOKE, now - 60 + i, 0.25 * i) for i in range(10)]
    # Ingest writes in arrival order, so once this last one is in, all before it are.
    marker = Reading(agent, device, SMOKE, now - 30, 9.5)
    with running_backend(tmp_path / "data", broker.url):
        pub = TestPublisher(broker.url)
        try:
            for i, r in enumerate([*sent, *sent, marker]):  # the second round replays
                pub.publish(f"gw/v1/{agent}/readings",
                            readings_msg(agent, i, [(r.device, r.metric, r.ts, r.value)]))
        finally:
            pub.close()
        deadline = time.monotonic() + 20
        while not expected([marker]) <= exported(victoria) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert exported(victoria) == expected([*sent, marker])
