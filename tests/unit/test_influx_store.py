"""The InfluxDB store's edges: its URL, the HTTP answers the real client turns into
retry decisions (a stub HTTP server), and the factory's wiring of dead letters."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from gridwatch.records import DeviceEvent, Reading
from store import influx_flux as flux
from store.factory import check_store_url, open_ops, open_timeseries
from store.influx_lines import InfluxTarget, parse_influx_url, reading_line
from store.influx_writer import RetryPolicy, WriteFailed
from store.interfaces import DeviceActivity, EventHistory, SeriesPoint
from store.timeseries_influx import InfluxTimeSeries


class Stub(BaseHTTPRequestHandler):
    """Answers /api/v2/write with the next scripted (status, headers), then 204; any
    body holding a line with a NaN value gets a 400, as InfluxDB gives."""

    script: ClassVar[list[tuple[int, dict[str, str]]]] = []
    bodies: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        status, headers = self.script.pop(0) if self.script else (204, {})
        if status == 204 and "=nan " in body:
            status = 400
        if status == 204:
            Stub.bodies.append(body)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        payload = b'{"code":"invalid","message":"bad"}' if status != 204 else b""
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[str]:
    Stub.script, Stub.bodies = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_store_url_is_parsed_without_connecting() -> None:
    assert parse_influx_url("influx+https://db.example:8086/street/gw") == InfluxTarget(
        "https://db.example:8086", "street", "gw"
    )
    check_store_url("influx+http://127.0.0.1:1/o/b")  # nothing listens there: no matter
    for bad in ("influx+http://h:8086/org", "influx+http://h:8086/o/b/c", "influx://h/o/b",
                "influx+http://u:secret@h:8086/o/b", "influx+http://h:99999/o/b", "duckdb"):
        with pytest.raises(ValueError):
            check_store_url(bad)


def test_http_answers_become_retry_decisions(stub: str, tmp_path: Path) -> None:
    store = InfluxTimeSeries(InfluxTarget(stub, "o", "b"), "t", tmp_path / "spool")
    try:
        Stub.script = [(429, {"Retry-After": "3"}), (503, {}), (401, {})]
        seen = []
        for _ in range(3):
            with pytest.raises(WriteFailed) as exc:
                store._send(["m v=1 1"])
            seen.append((exc.value.status, exc.value.retry_after, exc.value.transient))
        assert seen == [(429, 3.0, True), (503, None, True), (401, None, False)]
    finally:
        store.close()


def test_refused_readings_reach_the_dead_letter_store(stub: str, tmp_path: Path) -> None:
    url = f"influx+{stub}/street/gw"
    store = open_timeseries(url, tmp_path)
    assert isinstance(store, InfluxTimeSeries)
    store.writer.policy = RetryPolicy(attempts=2, initial_s=0.0)
    Stub.script = [(503, {"Retry-After": "0"})]
    good = [Reading("a", "d", "t", 1.0 + i, float(i)) for i in range(5)]
    bad = Reading("a", "d", "t", 100.0, float("nan"))
    try:
        assert store.write_readings([*good[:2], bad, *good[2:]]) == [*good[:2], bad, *good[2:]]
    finally:
        store.close()
    ops = open_ops(tmp_path)
    try:
        letters = ops.dead_letters()
    finally:
        ops.close()
    assert [(d.topic, d.payload) for d in letters] == [
        ("influx/write", reading_line(bad).encode())
    ]
    assert "400" in letters[0].reason
    written = {line for body in Stub.bodies for line in body.splitlines()}
    assert len(written) == len(good) and not any("nan" in line for line in written)


def test_query_answers_become_points_and_activity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the store makes of Flux answers (the Flux itself runs only against a real
    InfluxDB: tests/integration/test_influx_server.py)."""
    store = InfluxTimeSeries(InfluxTarget("http://127.0.0.1:9", "o", "b"), "t", tmp_path)
    asked: list[dict[str, Any]] = []
    answers = {
        flux.SERIES: [{"_time": flux.at(100.25), "_value": 1.0}],
        # The first window starts at the (unaligned) range start, as Flux clamps it.
        flux.SERIES_STEP: [{"_time": flux.at(95.0), "_value": 1.5},
                           {"_time": flux.at(120.0), "_value": 2}],
        flux.LAST_SEEN: [{"device": "b", "_value": 7_500_000_000},
                         {"device": "a", "_value": 9_000_000_000}],
        flux.MESSAGES: [{"device": "a", "_time": 3}],
        # Pivoted: tags and fields as columns; a field never written is absent.
        flux.EVENTS_OF_TYPES: [
            {"_time": flux.at(5.5), "agent": "ag", "device": "lift-1", "state": "instant",
             "type": "elevator.door_fault", "id": "f1", "n": 1, "attrs": '{"n":2}',
             "score": 0.5, "zone": "door", "snapshot": "s1"},
            {"_time": flux.at(6.0), "agent": "ag", "device": "lift-1", "state": "start",
             "type": "elevator.trapped", "id": "t1", "n": 1, "attrs": "{}"},
        ],
    }

    def rows(query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        asked.append(params)
        return answers[query]

    monkeypatch.setattr(store, "_rows", rows)
    try:
        assert store.series("d", "m", 95.0, 200.0, None) == [SeriesPoint(100.25, 1.0)]
        assert store.series("d", "m", 95.0, 200.0, 60.0) == [SeriesPoint(60.0, 1.5),
                                                              SeriesPoint(120.0, 2.0)]
        assert asked[-1]["step"] == timedelta(seconds=60) and asked[-1]["device"] == "d"
        assert store.activity(0.0, 10.0) == [DeviceActivity("a", 9.0, 3),
                                             DeviceActivity("b", 7.5, 0)]
        with pytest.raises(ValueError):
            store.series("d", "m", 0.0, 1.0, 0.0)
        types = ["elevator.door_fault", "elevator.trapped"]
        assert store.events_of_types(types, 0.0, 10.0) == [
            DeviceEvent("ag", "f1", "lift-1", 5.5, "elevator.door_fault", "instant",
                        zone="door", score=0.5, attrs={"n": 2}, snapshot="s1"),
            DeviceEvent("ag", "t1", "lift-1", 6.0, "elevator.trapped", "start"),
        ]
        assert asked[-1]["types"] == types and asked[-1]["stop"] == flux.at(10.0)
        assert isinstance(store, EventHistory)
    finally:
        store.close()
