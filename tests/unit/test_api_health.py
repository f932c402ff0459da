"""`/api/v1/health/devices`: each figure on hand-built histories, scope, and CSV = JSON."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.health_report import commissioned_at
from gridwatch.local_hours import SHANGHAI, local_hour
from gridwatch.records import AnomalyLevel, DeviceEvent, Reading
from tests.support.api_harness import ApiHarness, api_harness, auth
from tests.support.tiny_street import AREA_A1, AREA_WY1, LC_DEVICES

DAY = 86_400.0
ALLOW = 3 * 60.0 + 30.0  # the default offline rule over the tiny street's 60 s interval
SMOKE = "smoke_obscuration_pct_m"


def _agent(device: str) -> str:
    return "ag-" + LC_DEVICES[device][1].split("/")[2]


def _readings(device: str, times: list[float], metric: str = SMOKE) -> list[Reading]:
    return [Reading(_agent(device), device, metric, t, 1.0) for t in times]


def _event(device: str, type_: str, ts: float, state: str = "start") -> DeviceEvent:
    return DeviceEvent(_agent(device), f"{type_}-{state}-{ts}", device, ts, type_, state)  # type: ignore[arg-type]


@pytest.fixture
def h(tmp_path: Path) -> Iterator[ApiHarness]:
    with api_harness(tmp_path) as harness:
        # An alert raised and resolved two days ago: outside the window.
        harness.fire("wy1-tank-1", rule="old")
        harness.fire("wy1-tank-1", rule="old", kind="resolve")
        harness.clock.advance(2 * DAY)
        now = harness.clock()
        start = now - DAY
        # a1-smoke-1: reports every 60 s but for one silence of 1,000 s; the last
        # reading before the window is within its allowance of the window's start.
        early = [start + 60 * i for i in range(100)]  # last at start + 5,940
        late = [start + 6_940 + 60 * i for i in range(int((DAY - 6_940 - 50) // 60) + 1)]
        smoke = [start - 100, *early, *late]
        battery = [Reading(_agent("a1-smoke-1"), "a1-smoke-1", "battery_pct", t, v)
                   for t, v in ((start + 60, 90.0), (late[-1], 81.0), (start - 100, 99.0))]
        # wy1-tank-1: steady from before the window until 1,000 s ago, silent since.
        tank = [now - 1_000 - 60 * i for i in range(1_426)]  # first at start - 100
        harness.timeseries.write_readings(
            [*_readings("a1-smoke-1", smoke), *battery, *_readings("wy1-tank-1", tank),
             # a2-smoke-1: seen only long before the window.
             *_readings("a2-smoke-1", [start - 5_000])])
        harness.timeseries.write_events([
            _event("a1-smoke-1", "fire.fault", start + 100),
            _event("a1-smoke-1", "fire.fault", start + 200, "end"),
            _event("a1-smoke-1", "fire.alarm", start + 300),
            _event("a1-smoke-1", "fire.fault", start - 10),
        ])
        harness.fire("a1-smoke-1", rule="now")
        yield harness


def _report(h: ApiHarness, token: str, **params: str) -> list[dict[str, Any]]:
    resp = h.client.get("/api/v1/health/devices", params=params, headers=auth(token))
    assert resp.status_code == 200, resp.text
    body: list[dict[str, Any]] = resp.json()
    return body


def _by_device(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["device"]: r for r in rows}


def test_each_figure_on_known_histories(h: ApiHarness) -> None:
    rows = _by_device(_report(h, h.token("ops")))
    assert set(rows) == set(LC_DEVICES)
    now, start = h.clock(), h.clock() - DAY

    smoke = rows["a1-smoke-1"]
    late_count = int((DAY - 6_940 - 50) // 60) + 1
    last = start + 6_940 + 60 * (late_count - 1)
    assert smoke["online"] is True and smoke["allowance_s"] == ALLOW
    assert smoke["messages_24h"] == 100 + late_count  # battery at the same instants adds none
    assert smoke["expected_24h"] == 1440
    assert smoke["gaps_24h"] == 1
    assert smoke["uptime_pct_24h"] == round(100 * (1 - (1_000 - ALLOW) / DAY), 2)
    assert smoke["battery"] == 81.0
    assert smoke["faults_24h"] == 1
    assert smoke["alerts_24h"] == 1
    assert smoke["last_seen"] is not None and abs(_ts(smoke["last_seen"]) - last) < 1e-3

    tank = rows["wy1-tank-1"]
    assert tank["online"] is False and tank["gaps_24h"] == 1
    assert tank["uptime_pct_24h"] == round(100 * (1 - (1_000 - ALLOW) / DAY), 2)
    assert tank["messages_24h"] == 1_424 and tank["alerts_24h"] == 0
    assert abs(_ts(tank["last_seen"]) - (now - 1_000)) < 1e-3

    for gone in ("a2-smoke-1", "a1-elev-1"):  # silent all day; one was never seen
        row = rows[gone]
        assert row["online"] is False and row["messages_24h"] == 0, row
        assert row["gaps_24h"] == 1 and row["uptime_pct_24h"] == 0.0, row
        assert row["battery"] is None and row["faults_24h"] == 0, row
    assert rows["a1-elev-1"]["last_seen"] is None
    assert rows["a2-smoke-1"]["last_seen"] is not None


def _commission(h: ApiHarness, device: str, day: date) -> None:
    """Give a registry device a commissioning date (the tiny street has none)."""
    spec = h.registry.devices[device].model_copy(update={"commissioned": day})
    h.registry.devices[device] = spec
    listed = h.registry.config.devices
    listed[:] = [spec if d.id == device else d for d in listed]


def test_a_healthy_new_device_is_100_percent_up_from_its_first_report(h: ApiHarness) -> None:
    """Day one of a device: it has reported every interval since it was installed 2 h
    ago, so it is fully up with no gap, not silent for the 22 h before it existed (the
    old report said 8.33 % and one gap)."""
    now = h.clock()
    h.timeseries.write_readings(_readings("wy1-cam-1", [now - 7_200 + 60 * i for i in range(120)]))
    cam = _by_device(_report(h, h.token("ops")))["wy1-cam-1"]
    assert cam["online"] is True and cam["messages_24h"] == 120
    assert cam["uptime_pct_24h"] == 100.0 and cam["gaps_24h"] == 0, cam
    assert cam["expected_24h"] == 120, cam  # over the 2 h observed, not 1,440 over 24 h


def test_a_commissioned_device_is_judged_from_its_commissioning(h: ApiHarness) -> None:
    """Reports while being installed, silence, then service from the commissioning date
    (midnight Shanghai): the silence before it is no gap; one after it is."""
    h.clock.advance((12 - local_hour(h.clock())) % 24 * 3_600)  # local noon: midnight 12 h ago
    now = h.clock()
    midnight = datetime.fromtimestamp(now, SHANGHAI).replace(hour=0, minute=0, second=0,
                                                             microsecond=0)
    since = midnight.timestamp()
    _commission(h, "wy1-cam-1", midnight.date())
    install = [since - 18_000 + 60 * i for i in range(10)]  # 5 h before: a test run
    steady = [since + 60 * i for i in range(int((now - since) // 60))]
    served = [t for t in steady if not since + 600 < t < since + 1_620]  # one 1,020 s silence
    h.timeseries.write_readings(_readings("wy1-cam-1", [*install, *served]))
    cam = _by_device(_report(h, h.token("ops")))["wy1-cam-1"]
    assert cam["gaps_24h"] == 1, cam
    assert cam["uptime_pct_24h"] == round(100 * (1 - (1_020 - ALLOW) / (now - since)), 2), cam
    assert cam["expected_24h"] == round((now - since) / 60), cam
    assert cam["messages_24h"] == len(install) + len(served)

    # a device whose commissioning is still ahead is not judged yet
    _commission(h, "wy1-cam-1", midnight.date() + timedelta(days=1))
    cam = _by_device(_report(h, h.token("ops")))["wy1-cam-1"]
    assert cam["uptime_pct_24h"] is None and cam["gaps_24h"] == 0, cam
    assert cam["expected_24h"] == 0, cam


def test_commissioning_date_is_midnight_in_shanghai() -> None:
    assert commissioned_at(date(2026, 12, 4)) == datetime(2026, 12, 3, 16, tzinfo=UTC).timestamp()


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_scope_per_role(h: ApiHarness) -> None:
    def ids(token: str, **params: str) -> set[str]:
        return {r["device"] for r in _report(h, token, **params)}

    fire1 = {d for d, (_, _, m) in LC_DEVICES.items() if m == "fire1"}
    a1 = {d for d, (_, g, _) in LC_DEVICES.items() if g.startswith(AREA_A1 + "/")}
    assert ids(h.token("maintenance", maintainer="fire1")) == fire1
    assert ids(h.token("guard", AREA_A1)) == a1
    assert ids(h.token("ops"), maintainer="elev1") == {"a1-elev-1", "wy1-elev-1"}
    assert ids(h.token("ops"), grid=AREA_WY1) == {"wy1-elev-1", "wy1-cam-1", "wy1-tank-1"}
    assert ids(h.token("guard", AREA_A1), maintainer="elev1") == {"a1-elev-1"}


@pytest.mark.parametrize(
    ("role", "grid", "maintainer", "params"),
    [
        ("guard", AREA_A1, None, {"grid": AREA_WY1}),
        ("guard", AREA_A1, None, {"grid": "lc/nowhere"}),
        ("maintenance", None, "fire1", {"maintainer": "elev1"}),
        ("ops", None, None, {"maintainer": "no-such-unit"}),
    ],
)
def test_out_of_scope_filters_are_404(
    h: ApiHarness, role: str, grid: str | None, maintainer: str | None, params: dict[str, str]
) -> None:
    token = h.token(role, grid, maintainer)
    resp = h.client.get("/api/v1/health/devices", params=params, headers=auth(token))
    assert resp.status_code == 404, resp.text


def test_csv_has_a_header_and_the_json_figures(h: ApiHarness) -> None:
    token = h.token("ops")
    rows = _report(h, token)
    resp = h.client.get("/api/v1/health/devices", params={"format": "csv"}, headers=auth(token))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(resp.text)))
    assert list(table[0]) == [key for key in rows[0] if key != "anomaly"]  # JSON only
    assert len(table) == len(rows)
    for row, line in zip(rows, table, strict=True):
        for key, value in row.items():
            if key == "anomaly":
                continue
            text = line[key]
            if value is None:
                assert text == "", (key, line)
            elif isinstance(value, bool):
                assert text == str(value).lower(), (key, line)
            elif isinstance(value, (int, float)):
                assert float(text) == value, (key, line)
            else:
                assert text == value, (key, line)


def test_each_anomaly_rule_s_level_and_learning_state(h: ApiHarness) -> None:
    levels = {"wy1-tank-1": [AnomalyLevel("tank-level-anomaly", 0.9731, False, 1.0),
                             AnomalyLevel("tank-fixed", 0.5, False, None)],
              "a1-smoke-1": [AnomalyLevel("smoke-anomaly", 0.999, True, 2.0)]}
    rows = _by_device(_report(h, h.token("ops")))
    assert all(r["anomaly"] == [] for r in rows.values()), "no detector stage: no levels"
    h.ctx.anomaly_levels = lambda: levels
    rows = _by_device(_report(h, h.token("ops")))
    assert rows["wy1-tank-1"]["anomaly"] == [
        {"rule": "tank-level-anomaly", "level": 0.9731, "learning": False, "budget": 1.0},
        {"rule": "tank-fixed", "level": 0.5, "learning": False, "budget": None},
    ]
    assert rows["a1-smoke-1"]["anomaly"] == [
        {"rule": "smoke-anomaly", "level": 0.999, "learning": True, "budget": 2.0}
    ]
    assert rows["a2-smoke-1"]["anomaly"] == []


def test_bad_format_is_422_and_no_token_401(h: ApiHarness) -> None:
    ops = h.token("ops")
    bad = h.client.get("/api/v1/health/devices", params={"format": "xml"}, headers=auth(ops))
    assert bad.status_code == 422
    assert h.client.get("/api/v1/health/devices").status_code == 401
