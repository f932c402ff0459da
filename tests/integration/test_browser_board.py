"""The guard-room board in real headless Chromium, fed by live MQTT traffic: a real
Mosquitto, the real `gridwatch serve` process, tokens from the real CLI."""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from config.registry import Registry
from tests.support.backend_proc import BackendProcess
from tests.support.mosquitto import Broker
from tests.support.mqtt_tools import TestPublisher, readings_msg
from tests.support.sample_street import area_path, smoke_detector_in
from tests.support.tokens import make_token

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out on a closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SMOKE = "smoke_obscuration_pct_m"
NOTE = "已到场查看：厨房油烟，无明火"
FIND_ROW = """dev => {
  for (const r of document.querySelectorAll('#firing tr[data-alert-id]'))
    if (r.querySelector('td.device')?.textContent === dev)
      return {id: r.dataset.alertId, severity: r.dataset.severity};
  return null;
}"""


def _browser_problem() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not importable (pip install -e '.[dev]')"
    return None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """Debian's Chromium, headless, with a fresh profile; Playwright's own browser
    downloads are never used."""
    problem = _browser_problem()
    if problem is not None:
        if os.environ.get("GRIDWATCH_REQUIRE_CHROMIUM"):
            pytest.fail(f"GRIDWATCH_REQUIRE_CHROMIUM is set but {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            tmp_path / "chromium-profile", executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1366, "height": 768}, locale="zh-CN",
            timezone_id="Asia/Shanghai")
        ctx.set_default_timeout(10_000)
        try:
            yield ctx
        finally:
            ctx.close()


def sign_in(ctx: BrowserContext, backend: BackendProcess, token: str) -> Page:
    """Types the token into the form and submits; returns once the board's live stream
    answered, so that whatever is published next reaches it over SSE."""
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    page.goto(f"{backend.base}/ui/")
    page.fill("input[name=token]", token)
    with page.expect_response(lambda r: "/api/v1/alerts/stream" in r.url and r.status == 200):
        page.click("button[type=submit]")
    assert page.url == f"{backend.base}/ui/board"
    return page


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


def until(probe: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Polls until `probe` returns something other than None (or the deadline passes)."""
    deadline = time.monotonic() + timeout
    while (found := probe()) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


def wait_for_row(page: Page, device: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """The board's firing row for `device`, as {id, severity}, once it shows."""
    row: dict[str, Any] | None = until(lambda: page.evaluate(FIND_ROW, device), timeout)
    return row


def shot(page: Page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


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
