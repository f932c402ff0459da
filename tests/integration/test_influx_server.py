"""The InfluxDB backend against a real InfluxDB 2.x: the whole TimeSeriesStore contract
(writes, replays, series with and without step, activity, counts), compared with the
embedded DuckDB store fed the same readings, and `gridwatch serve --store influx+...`
end to end. The Flux queries can only be verified here: VictoriaMetrics, which the
write-path tests use, does not speak Flux.

Runs when GRIDWATCH_TEST_INFLUX_URL (`influx+http://HOST:PORT/ORG/BUCKET`) and
GRIDWATCH_TEST_INFLUX_TOKEN are set; skipped with that reason otherwise. Each run
uses fresh device ids, so a bucket can be reused.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridwatch.records import DeviceEvent, Reading
from store.influx_lines import parse_influx_url
from store.timeseries_duckdb import DuckDBTimeSeries
from store.timeseries_influx import InfluxTimeSeries
from tests.support.backend_proc import running_backend
from tests.support.mosquitto import Broker
from tests.support.mqtt_tools import TestPublisher, readings_msg
from tests.support.sample_street import area_path, smoke_detector_in

pytestmark = pytest.mark.integration
URL = os.environ.get("GRIDWATCH_TEST_INFLUX_URL", "")
TOKEN = os.environ.get("GRIDWATCH_TEST_INFLUX_TOKEN", "")
if not (URL and TOKEN):
    pytest.skip("GRIDWATCH_TEST_INFLUX_URL and GRIDWATCH_TEST_INFLUX_TOKEN are not set: no real "
                "InfluxDB 2.x to test the queries against", allow_module_level=True)

T0 = float(int(time.time()) - 3600)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[InfluxTimeSeries, DuckDBTimeSeries]]:
    influx = InfluxTimeSeries(parse_influx_url(URL), TOKEN, tmp_path / "spool")
    duck = DuckDBTimeSeries(tmp_path / "reference.duckdb")
    yield influx, duck
    influx.close()
    duck.close()


def test_the_store_contract_matches_the_embedded_store(
    stores: tuple[InfluxTimeSeries, DuckDBTimeSeries],
) -> None:
    influx, duck = stores
    run = uuid.uuid4().hex[:8]
    devices = [f"t{run}-{i}" for i in range(3)]
    readings = [Reading("ag", d, m, T0 + i * 7.5, float((i * 37 + k) % 50))
                for i in range(40) for k, d in enumerate(devices)
                for m in ("temperature_c", "battery_pct")]
    events = [DeviceEvent("ag", f"{run}-e{i}", devices[0], T0 + i, "fire.fault", "instant")
              for i in range(3)]
    count_before = influx.reading_count()
    for store in (influx, duck):
        assert store.write_readings(readings) == readings
        assert store.write_readings(readings[:10]) == []
        assert store.write_events(events) == events
    assert influx.reading_count() - count_before == len(readings)
    for d in devices:
        for step in (None, 60.0, 45.0):
            args = (d, "temperature_c", T0 + 10, T0 + 250, step)
            assert influx.series(*args) == duck.series(*args)
    mine = [a for a in influx.activity(T0, T0 + 100) if a.device in devices]
    assert mine == duck.activity(T0, T0 + 100)
    # The restart replay's event query: same events back, oldest first.
    replayed = [e for e in influx.events_of_types(["fire.fault"], T0, T0 + 2.5)
                if e.device == devices[0]]
    assert replayed == duck.events_of_types(["fire.fault"], T0, T0 + 2.5) == events


def test_serve_with_the_influx_store_ingests_and_serves_readings(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: object
) -> None:
    from config.registry import Registry

    assert isinstance(registry, Registry)
    monkeypatch.setenv("GRIDWATCH_STORE_URL", URL)
    monkeypatch.setenv("GRIDWATCH_INFLUX_TOKEN", TOKEN)
    device, agent = smoke_detector_in(registry, area_path(registry, "wy1"))
    t0 = time.time() - 30 + uuid.uuid4().int % 1000 / 1000  # fresh timestamps per run
    with running_backend(tmp_path / "data", broker.url) as backend:
        pub = TestPublisher(broker.url)
        try:
            for i in range(5):
                pub.publish(f"gw/v1/{agent}/readings",
                            readings_msg(agent, i, [(device, "temperature_c", t0 + i, 20.0 + i)]))
        finally:
            pub.close()
        deadline, points = time.monotonic() + 20, list[dict[str, float]]()
        with backend.client() as c:
            while len(points) < 5 and time.monotonic() < deadline:
                r = c.get("/api/v1/readings", params={"device": device, "metric": "temperature_c",
                                                      "start": t0 - 0.5, "end": t0 + 10})
                assert r.status_code == 200, r.text
                points = r.json()["points"]
                time.sleep(0.2)
        assert [p["value"] for p in points] == [20.0 + i for i in range(5)]
