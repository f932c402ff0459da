"""The maintenance health report in real headless Chromium against the real backend,
fed over MQTT: an offline device shows as offline, the table sorts and filters, the
sparklines draw, the CSV export holds the JSON's figures, and the daily report prints."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from config.registry import Registry
from tests.support.backend_proc import BackendProcess
from tests.support.browser import console_problems, shot, sign_in, until
from tests.support.mosquitto import Broker
from tests.support.mqtt_tools import TestPublisher, readings_msg
from tests.support.sample_street import area_path, smoke_detector_in
from tests.support.tokens import make_token

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SMOKE = "smoke_obscuration_pct_m"
HOLE = (6 * 3600.0, 8 * 3600.0)  # seconds ago: a two-hour silence in the history
FETCH_TEXT = "url => fetch(url, {credentials: 'same-origin'}).then(r => r.text())"


def _publish_history(broker: Broker, agent: str, device: str) -> float:
    """A day of readings every 60 s but for the hole, as a buffered agent would flush
    them; returns the newest timestamp."""
    now = time.time()
    ages = [a for a in range(0, 86_400 - 120, 60) if not HOLE[0] < a < HOLE[1]]
    rows = [(device, SMOKE, now - a, 0.25 + 0.1 * math.sin(a / 3600)) for a in ages]
    rows.append((device, "battery_pct", now, 55.0))
    pub = TestPublisher(broker.url, f"test-history-{device}")
    try:
        pub.publish(f"gw/v1/{agent}/readings", readings_msg(agent, 1, rows))
    finally:
        pub.close()
    return now


def _rows(page: Page) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = page.evaluate("""() =>
        [...document.querySelectorAll('#health tbody tr')].map(r => ({
          device: r.dataset.device, cls: r.className,
          online: r.querySelector('td.online').textContent}))""")
    return rows


def _csv_matches_json(table: list[dict[str, str]], rows: list[dict[str, Any]],
                      elapsed: float) -> None:
    assert [line["device"] for line in table] == [r["device"] for r in rows]
    assert list(table[0]) == [key for key in rows[0] if key != "anomaly"]  # JSON only
    for row, line in zip(rows, table, strict=True):
        for key, value in row.items():
            if key == "anomaly":
                continue
            text = line[key]
            if value is None:
                assert text == "", (key, row, line)
            elif isinstance(value, bool):
                assert text == str(value).lower(), (key, row, line)
            elif key == "uptime_pct_24h":
                # The two downloads are `elapsed` seconds apart, and a silent device's
                # uptime falls by 100/86,400 % a second (plus rounding to 0.01).
                assert abs(float(text) - value) <= 100 * elapsed / 86_400 + 0.01, (row, line)
            elif key == "expected_24h":
                # A device first seen inside the 24 h is judged from its first report,
                # a span that grows by `elapsed` between the downloads.
                assert abs(int(text) - value) <= elapsed / row["interval_s"] + 1, (row, line)
            elif isinstance(value, (int, float)):
                assert float(text) == value, (key, row, line)
            else:
                assert text == value, (key, row, line)


def test_maintenance_report(
    browser: Any, backend: BackendProcess, broker: Broker, registry: Registry, tmp_path: Path,
) -> None:
    reporting, agent = smoke_detector_in(registry, area_path(registry, "wy1"))
    unit = registry.devices[reporting].maintainer
    mine = sorted(d.id for d in registry.config.devices if d.maintainer == unit)
    silent = next(d for d in mine if d != reporting)  # never reports: offline
    token = make_token(backend.data_dir, "--role", "maintenance", "--maintainer", unit)
    _publish_history(broker, agent, reporting)
    with httpx.Client(base_url=backend.base, headers={"Authorization": f"Bearer {token}"}) as api:
        ready = until(lambda: next((r for r in api.get("/api/v1/health/devices").json()
                                    if r["device"] == reporting and r["online"]), None), 10)
    assert ready is not None, f"{reporting} never showed online:\n{backend.log()}"
    assert ready["gaps_24h"] >= 1 and ready["battery"] == 55.0, ready

    page = sign_in(browser, backend, token, home="/ui/maintenance")
    page.wait_for_selector("body[data-loaded='1']")
    rows = {r["device"]: r for r in _rows(page)}
    assert set(rows) == set(mine)
    assert rows[reporting]["online"] == "在线" and "offline" not in rows[reporting]["cls"]
    assert rows[silent]["online"] == "离线" and "offline" in rows[silent]["cls"]

    # Filters: offline only; then a search for one device.
    page.select_option("#state", "offline")
    shown = {r["device"] for r in _rows(page)}
    assert silent in shown and reporting not in shown
    page.select_option("#state", "")
    page.fill("#search", reporting)
    assert [r["device"] for r in _rows(page)] == [reporting]
    # Its sparklines: the metric and the message rate, drawn once it is on screen.
    spark = f"tr[data-device='{reporting}'] td.spark svg path"
    page.wait_for_selector(spark)
    paths = page.eval_on_selector_all(spark, "ps => ps.map(p => p.getAttribute('d'))")
    # The hole breaks the metric's line in two; the rate drops to zero instead.
    assert len(paths) == 2 and paths[0].count("M") == 2 and paths[1].count("M") == 1, paths
    page.fill("#search", "")
    # Sorting: by device id, ascending then descending.
    page.click("#health th[data-key='device']")
    assert [r["device"] for r in _rows(page)] == mine
    page.click("#health th[data-key='device']")
    assert [r["device"] for r in _rows(page)] == mine[::-1]
    page.fill("#search", reporting[:-1])  # a few rows, with the reporting one drawn
    page.wait_for_selector(spark)
    shot(page, tmp_path / "maintenance-zh.png")
    page.click("#lang")
    assert page.inner_text("h1") == "Device health report"
    shot(page, tmp_path / "maintenance-en.png")
    page.click("#lang")

    # The export links: the CSV holds the JSON's figures, row for row.
    csv_url = page.get_attribute("#csv", "href")
    json_url = page.get_attribute("#json", "href")
    assert csv_url is not None and json_url is not None
    # The page's CSV has its header in the page's language; the same figures under the
    # JSON's field names without `lang`.
    assert csv_url.endswith("&lang=zh"), csv_url
    header = page.evaluate(FETCH_TEXT, csv_url).splitlines()[0]
    assert header.startswith("设备,类型,") and "在线" in header, header
    started = time.monotonic()
    as_json = json.loads(page.evaluate(FETCH_TEXT, json_url))
    plain = csv_url.removesuffix("&lang=zh")
    as_csv = list(csv.DictReader(io.StringIO(page.evaluate(FETCH_TEXT, plain))))
    _csv_matches_json(as_csv, as_json, time.monotonic() - started)

    # The printable daily report, as printed.
    page.goto(f"{backend.base}/ui/maintenance/report")
    silent_row = page.locator("#report tr", has_text=silent)
    assert "离线" in silent_row.inner_text()
    assert page.locator("#report tbody tr").count() == len(mine)
    page.emulate_media(media="print")
    assert page.locator("button.noprint").is_hidden()
    shot(page, tmp_path / "maintenance-report-print.png", full_page=False)
    page.pdf(path=str(tmp_path / "maintenance-report.pdf"), landscape=True)
    assert console_problems(browser) == [], console_problems(browser)  # CSP included
    # In English, only English: no Chinese word outside the names of places and units.
    page.emulate_media(media="screen")
    page.goto(f"{backend.base}/ui/maintenance/report?lang=en")
    assert "OFFLINE" in page.locator("#report tr", has_text=silent).inner_text()
    assert "离线" not in page.inner_text("#report thead") + page.inner_text("dl.summary")
    shot(page, tmp_path / "maintenance-report-en.png", full_page=False)
