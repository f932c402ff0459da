"""The operations centre in real headless Chromium against the real backend, fed over
MQTT: firing counts on the grid tree, a guard's acknowledgement from the board showing
up live, and an incident moved through its whole lifecycle from the page."""

from __future__ import annotations

import time
from functools import partial
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
    from playwright.sync_api import BrowserContext, Dialog, Page

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SMOKE = "smoke_obscuration_pct_m"
STEPS = [("dispatched", "派往文苑一村物业"), ("acknowledged", "物业已接单"),
         ("resolved", "厨房油烟，已通风"), ("closed", "结案")]


def _count(page: Page, path: str) -> int:
    text: str = page.inner_text(f"#tree div[data-path='{path}'] .count")
    return int(text)


def _answer(note: str, dialog: Dialog) -> None:
    dialog.accept(note)


def test_ops_centre(
    browser: BrowserContext, backend: BackendProcess, broker: Broker, registry: Registry,
    tmp_path: Path,
) -> None:
    wy1 = area_path(registry, "wy1")
    device, agent = smoke_detector_in(registry, wy1)
    micro, district = registry.devices[device].grid, wy1.rsplit("/", 1)[0]
    ops_token = make_token(backend.data_dir, "--role", "ops", "--name", "运营中心值班长")
    guard_token = make_token(backend.data_dir, "--role", "guard", "--grid", wy1, "--name", "门卫")
    ops = sign_in(browser, backend, ops_token, home="/ui/ops", host="localhost")
    assert _count(ops, wy1) == 0

    pub = TestPublisher(broker.url, "test-ops")
    try:
        pub.publish(f"gw/v1/{agent}/readings",
                    readings_msg(agent, 1, [(device, SMOKE, time.time(), 6.0)]))
    finally:
        pub.close()
    row = f"#alerts tr:has(td.device:text-is('{device}'))"
    ops.wait_for_selector(row)
    for path in (registry.street_path, district, wy1, micro):
        assert _count(ops, path) == 1, path
    alert_id = int(ops.get_attribute(row, "data-alert-id") or 0)
    incident = int(until(lambda: ops.inner_text(f"{row} td.incident") or None, 10).lstrip("#"))
    ops.wait_for_selector(f".incident[data-incident-id='{incident}'][data-status='open']")
    shot(ops, tmp_path / "ops-firing.png")

    # The guard acknowledges on the board (another host name: another session) ...
    board = sign_in(browser, backend, guard_token, new_page=True)
    board.once("dialog", lambda d: d.accept("已到场"))
    board.click(f"tr[data-alert-id='{alert_id}'] button.ack")
    # ... and the operations centre sees it without reloading.
    ops.wait_for_selector(f"{row} td.status:has-text('门卫')", timeout=5_000)
    board.close()

    # The incident's lifecycle, each step with its note, from the page's buttons.
    for to, note in STEPS:
        ops.once("dialog", partial(_answer, note))
        ops.click(f".incident[data-incident-id='{incident}'] button[data-to='{to}']")
        if to == "closed":  # closed incidents leave the default queue; show them
            ops.select_option("#queue-status", "closed")
        ops.wait_for_selector(f".incident[data-incident-id='{incident}'][data-status='{to}']")
        if to == "resolved":
            shot(ops, tmp_path / "ops-resolved.png")
    history = ops.inner_text(f".incident[data-incident-id='{incident}'] ol")
    for _, note in STEPS:
        assert note in history, history
    assert ops.locator(f".incident[data-incident-id='{incident}'] button").count() == 0
    with backend.client() as api:
        stored: dict[str, Any] = api.get(f"/api/v1/incidents/{incident}").raise_for_status().json()
    moves = [(h["to"], h["note"], h["who"]) for h in stored["history"][1:]]
    assert moves == [(to, note, "运营中心值班长") for to, note in STEPS], stored["history"]
    ops.click("#lang")
    shot(ops, tmp_path / "ops-closed-en.png")
    assert console_problems(browser) == [], console_problems(browser)  # CSP included


def test_an_older_queue_answer_arriving_last_does_not_replace_the_chosen_queue(
    browser: BrowserContext, backend: BackendProcess, broker: Broker, registry: Registry,
) -> None:
    """A transition reloads the open queue while the user switches to "closed"; when the
    open queue's answer arrives last, it must not be shown under the "closed" filter
    (under load, a closed incident vanished from the closed view this way)."""
    device, agent = smoke_detector_in(registry, area_path(registry, "wy1"))
    ops_token = make_token(backend.data_dir, "--role", "ops", "--name", "运营中心值班长")
    ops = sign_in(browser, backend, ops_token, home="/ui/ops", host="localhost")
    pub = TestPublisher(broker.url, "test-ops-race")
    try:
        pub.publish(f"gw/v1/{agent}/readings",
                    readings_msg(agent, 1, [(device, SMOKE, time.time(), 6.0)]))
    finally:
        pub.close()
    ops.wait_for_selector(".incident[data-status='open']", timeout=15_000)

    # The open queue's answer comes late (a fetch wrapper in the page: the network is
    # real, only the answer is held back 1.5 s).
    ops.evaluate("""() => {
      const real = window.fetch;
      window.fetch = async (url, opts) => {
        const answer = await real(url, opts);
        if (String(url).includes('/api/v1/incidents?limit=200') && !String(url).includes('status='))
          await new Promise((done) => setTimeout(done, 1500));
        return answer;
      };
    }""")
    # The open queue is asked for first (as after a transition), then "closed" is chosen.
    ops.evaluate("""() => {
      const pick = document.getElementById('queue-status');
      pick.value = ''; pick.dispatchEvent(new Event('change'));
      pick.value = 'closed'; pick.dispatchEvent(new Event('change'));
    }""")
    ops.wait_for_timeout(3_000)  # both answers are in by now
    assert ops.input_value("#queue-status") == "closed"
    assert ops.locator("#queue .incident[data-status='open']").count() == 0
