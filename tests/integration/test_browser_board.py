"""The guard-room board in real headless Chromium, fed by live MQTT traffic: a real
Mosquitto, the real `gridwatch serve` process, tokens from the real CLI."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from config.registry import Registry
from tests.support.backend_proc import BackendProcess
from tests.support.browser import console_problems, shot, sign_in, until
from tests.support.mosquitto import Broker
from tests.support.mqtt_tools import TestPublisher, readings_msg
from tests.support.sample_street import area_path, smoke_detector_in
from tests.support.tokens import make_token

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SMOKE = "smoke_obscuration_pct_m"
NOTE = "已到场查看：厨房油烟，无明火"
FIND_ROW = """dev => {
  for (const r of document.querySelectorAll('#firing tr[data-alert-id]'))
    if (r.querySelector('td.device')?.textContent === dev)
      return {id: r.dataset.alertId, severity: r.dataset.severity};
  return null;
}"""


def fire(broker: Broker, agent: str, device: str, value: float = 6.0) -> float:
    """Publishes one smoke reading (QoS 1); returns the time just before publishing."""
    pub = TestPublisher(broker.url, f"test-browser-{device}")
    try:
        sent = time.monotonic()
        pub.publish(f"gw/v1/{agent}/readings",
                    readings_msg(agent, 1, [(device, SMOKE, time.time(), value)]))
        return sent
    finally:
        pub.close()


def wait_for_row(page: Page, device: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """The board's firing row for `device`, as {id, severity}, once it shows."""
    row: dict[str, Any] | None = until(lambda: page.evaluate(FIND_ROW, device), timeout)
    return row


def test_guard_sees_fire_within_2s_and_acks_it_from_the_page(
    browser: BrowserContext, backend: BackendProcess, broker: Broker, registry: Registry,
    tmp_path: Path,
) -> None:
    wy1 = area_path(registry, "wy1")
    guard = make_token(backend.data_dir, "--role", "guard", "--grid", wy1, "--name", "文苑一村门卫")
    page = sign_in(browser, backend, guard)
    session = [c for c in browser.cookies() if c["name"] == "gw_session"]
    assert len(session) == 1 and session[0].get("httpOnly") is True, session
    assert page.locator("#firing tbody tr").count() == 0

    device, agent = smoke_detector_in(registry, wy1)
    sent = fire(broker, agent, device)
    row = wait_for_row(page, device)
    elapsed = time.monotonic() - sent
    assert row is not None, f"no row for {device} on the board:\n{backend.log()}"
    assert row["severity"] == "critical", row
    assert elapsed < 2.0, f"the row took {elapsed:.2f} s"
    print(f"publish -> critical row on the board: {elapsed:.3f} s")
    assert page.locator("#critical").is_visible()  # the visible cue, whatever the filters
    shot(page, tmp_path / "board-critical.png")

    prompts: list[str] = []

    def answer(dialog: Any) -> None:
        prompts.append(dialog.type)
        dialog.accept(NOTE)

    page.once("dialog", answer)
    page.click(f'tr[data-alert-id="{row["id"]}"] button.ack')
    page.wait_for_selector(f'tr[data-alert-id="{row["id"]}"].acked')
    assert prompts == ["prompt"]
    assert page.locator(f'tr[data-alert-id="{row["id"]}"] button.ack').count() == 0
    assert page.locator("#critical").is_hidden()
    shot(page, tmp_path / "board-acked.png")

    with backend.client() as ops:
        alert = ops.get(f"/api/v1/alerts/{row['id']}").raise_for_status().json()
    assert alert["device"] == device and alert["severity"] == "critical"
    assert alert["acked_by"] == "文苑一村门卫" and alert["acked_at"] is not None, alert
    # The note is in no API response (contract §4), so read it from the store itself.
    db = sqlite3.connect(f"file:{backend.data_dir / 'ops.sqlite3'}?mode=ro", uri=True)
    try:
        stored = db.execute("SELECT ack_note FROM alerts WHERE id = ?", (row["id"],)).fetchone()
    finally:
        db.close()
    assert stored == (NOTE,)
    assert console_problems(browser) == [], console_problems(browser)  # CSP included


def test_board_shows_lost_connection_and_resumes_without_missing_an_alert(
    browser: BrowserContext, backend: BackendProcess, broker: Broker, registry: Registry,
    tmp_path: Path,
) -> None:
    wy1 = area_path(registry, "wy1")
    page = sign_in(browser, backend, make_token(backend.data_dir, "--role", "guard", "--grid", wy1))
    resumes: list[dict[str, str]] = []
    page.on("request", lambda r: resumes.append({"url": r.url, **r.headers})
            if "/alerts/stream" in r.url else None)
    device, agent = smoke_detector_in(registry, wy1)
    fire(broker, agent, device)  # gives the board a Last-Event-ID to resume from
    assert wait_for_row(page, device) is not None
    # The stream drops: the backend goes away. Reconnects are held back until the alert
    # published meanwhile exists, so that only a resume after Last-Event-ID can bring it.
    page.route("**/api/v1/alerts/stream**", lambda route: route.abort())
    backend.stop()
    page.wait_for_selector("#banner", state="visible", timeout=15_000)
    shot(page, tmp_path / "board-reconnecting.png")
    backend.start()
    other = next(d for d in registry.config.devices
                 if d.type == "smoke_detector" and d.grid.startswith(wy1 + "/") and d.id != device)
    fire(broker, other.agent, other.id)
    with backend.client() as ops:
        made = until(lambda: next((a for a in ops.get("/api/v1/alerts").json()
                                   if a["device"] == other.id), None), 10)
    assert made is not None, f"no alert for {other.id}:\n{backend.log()}"
    resumes.clear()
    page.unroute("**/api/v1/alerts/stream**")
    row = wait_for_row(page, other.id, timeout=20)
    assert row is not None and row["id"] == str(made["id"]), row
    page.wait_for_selector("#banner", state="hidden")
    assert any(r.get("last-event-id") or "last_event_id=" in r["url"] for r in resumes), resumes
    # The building filter: its own building shows the row, the first device's hides it.
    page.select_option("#f-building", made["building"])
    assert wait_for_row(page, other.id, timeout=1) is not None
    first_building = registry.devices[device].building
    if first_building != made["building"]:
        page.select_option("#f-building", first_building)
        assert wait_for_row(page, other.id, timeout=0.2) is None
        assert wait_for_row(page, device, timeout=1) is not None
    page.select_option("#f-building", made["building"])
    shot(page, tmp_path / "board-resumed.png")


def test_guard_of_another_area_does_not_see_the_alert(
    browser: BrowserContext, backend: BackendProcess, broker: Broker, registry: Registry,
) -> None:
    wy1, wy2 = area_path(registry, "wy1"), area_path(registry, "wy2")
    page = sign_in(browser, backend, make_token(backend.data_dir, "--role", "guard", "--grid", wy2))
    theirs, their_agent = smoke_detector_in(registry, wy1)
    own, own_agent = smoke_detector_in(registry, wy2)
    fire(broker, their_agent, theirs)
    fire(broker, own_agent, own)
    # The board is live: the fire in its own area shows (so an absent row means something).
    assert wait_for_row(page, own) is not None, f"own-area alert missing:\n{backend.log()}"
    with backend.client() as ops:  # the alert exists, seen from the operations centre
        alert = until(lambda: next((a for a in ops.get("/api/v1/alerts").json()
                                    if a["device"] == theirs), None))
    assert alert is not None, f"no alert for {theirs}:\n{backend.log()}"
    time.sleep(1.0)
    assert page.locator(f'tr[data-alert-id="{alert["id"]}"]').count() == 0
    assert wait_for_row(page, theirs, timeout=0.1) is None


def test_bad_token_shows_an_error_and_sets_no_cookie(
    browser: BrowserContext, backend: BackendProcess, tmp_path: Path,
) -> None:
    page = browser.pages[0] if browser.pages else browser.new_page()
    page.goto(f"{backend.base}/ui/")
    page.fill("input[name=token]", "gw_not-a-real-token-0000000000")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == f"{backend.base}/ui/login"
    assert "令牌无效" in page.inner_text("p.error")
    assert page.locator("input[name=token]").count() == 1
    assert [c for c in browser.cookies() if c["name"] == "gw_session"] == []
    shot(page, tmp_path / "signin-error.png")
