"""Every role's page at a desk (1366x768) and on a phone (390x844), in real Chromium fed
by real MQTT: no sideways scroll and 44 px tap targets; a critical alert shows with its
location, sounds and repeats until acked (counted through `window.gwSound`, the pages'
hook on their tone); the guard's ack and note show on the ops page; a false-alarm
close from the ops page resolves the alerts. Screenshots in both languages."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from config.registry import Registry
from tests.support.backend_proc import BackendProcess
from tests.support.browser import (
    DESK,
    PHONE,
    chromium,
    in_view,
    layout_problems,
    shot,
    sign_in,
    until,
)
from tests.support.mosquitto import Broker
from tests.support.mqtt_tools import TestPublisher, readings_msg
from tests.support.sample_street import area_path
from tests.support.tokens import make_token

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SCREENS = {"desk": DESK, "phone": PHONE}
NOTE = "已到场：厨房油烟，无明火"
REPEAT_S = 4.0  # alarm.js REPEAT_MS


@pytest.fixture(params=list(SCREENS))
def screen(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    with chromium(tmp_path, SCREENS[request.param]) as ctx:
        yield request.param, ctx


def smoke_fire(broker: Broker, registry: Registry) -> tuple[str, str]:
    """Smoke in a building of Wenyuan No.1 and the panel's alarm at another detector of
    that building; returns (smoke detector id, panel id)."""
    wy1 = area_path(registry, "wy1")
    panel = next(d for d in registry.devices_in(wy1) if d.type == "fire_panel")
    points = {p.device: p for p in panel.points if p.device}
    smoke = next(d for d in registry.devices_in(wy1) if d.type == "smoke_detector"
                 and d.id in points and d.building != panel.building)
    point = points[smoke.id]
    pub = TestPublisher(broker.url, f"test-browser-incidents-{time.monotonic_ns()}")
    now = time.time()
    try:
        pub.publish(f"gw/v1/{panel.agent}/readings",
                    readings_msg(panel.agent, 1, [(smoke.id, "smoke_obscuration_pct_m", now, 8)]))
        event = {"id": f"alarm-{now}", "device": panel.id, "ts": now + 0.5, "type": "fire.alarm",
                 "state": "start", "attrs": {"loop": point.loop, "point": point.point}}
        pub.publish(f"gw/v1/{panel.agent}/events",
                    {"agent": panel.agent, "seq": 1, "events": [event]})
    finally:
        pub.close()
    return smoke.id, panel.id


def plays(page: Page) -> int:
    return int(page.evaluate("window.gwSound.plays"))


def both_languages(page: Page, name: str, shots: Path) -> None:
    shot(page, shots / f"{name}-zh.png", full_page=False)
    page.click("#lang")
    shot(page, shots / f"{name}-en.png", full_page=False)
    page.click("#lang")


def assert_alarm_until_acked(page: Page) -> None:
    """The banner and its ack button are on the first screen; the tone repeats."""
    page.wait_for_selector("#critical", state="visible")
    assert in_view(page, "#critical-ack"), "the ack button is below the fold"
    first = until(lambda: plays(page) or None, 3)
    assert first, "no tone for a critical alert"
    time.sleep(REPEAT_S + 0.6)
    assert plays(page) > first, "the tone did not repeat"


def _moved_on(page: Page, shown: str | None) -> bool | None:
    """The banner shows another alert, or none: the ack went through."""
    gone = page.get_attribute("#critical-ack", "data-alert-id") != shown
    return True if gone or page.locator("#critical").is_hidden() else None


def ack_from_banner(page: Page) -> None:
    """Acks the newest critical alert from the banner until none is left."""
    page.on("dialog", lambda d: d.accept(NOTE))
    for _ in range(10):
        if page.locator("#critical").is_hidden():
            break
        shown = page.get_attribute("#critical-ack", "data-alert-id")
        page.click("#critical-ack")
        until(partial(_moved_on, page, shown))
    page.wait_for_selector("#critical", state="hidden")
    after = plays(page)
    time.sleep(REPEAT_S + 0.6)
    assert plays(page) == after, "the tone went on after the ack"


def test_guard_board(
    screen: tuple[str, BrowserContext], backend: BackendProcess, broker: Broker,
    registry: Registry, tmp_path: Path,
) -> None:
    name, ctx = screen
    wy1 = area_path(registry, "wy1")
    page = sign_in(ctx, backend, make_token(backend.data_dir, "--role", "guard", "--grid", wy1))
    smoke, _ = smoke_fire(broker, registry)
    page.wait_for_selector("#firing tr[data-severity=critical]")
    until(lambda: page.locator("#firing tr[data-severity=critical]").count() == 2 or None)
    assert layout_problems(page) == []
    assert_alarm_until_acked(page)
    rows = page.locator("#firing tbody tr td.location").all_inner_texts()
    detector = registry.devices[smoke]
    assert all(f"{detector.building}号楼" in r and f"{detector.floor}层" in r for r in rows), rows
    assert all("lc/" not in r for r in rows), rows  # names, not grid paths
    both_languages(page, f"board-{name}", tmp_path)
    ack_from_banner(page)
    acked = page.locator("#firing tr.acked td.status").all_inner_texts()
    assert len(acked) == 2 and all(NOTE in text for text in acked), acked
    assert layout_problems(page) == []


def test_ops_sees_the_guards_ack_and_closes_a_false_alarm(
    screen: tuple[str, BrowserContext], backend: BackendProcess, broker: Broker,
    registry: Registry, tmp_path: Path,
) -> None:
    name, ctx = screen
    ops = make_token(backend.data_dir, "--role", "ops", "--name", "城运值班")
    page = sign_in(ctx, backend, ops, home="/ui/ops")
    smoke, panel = smoke_fire(broker, registry)
    page.wait_for_selector("div.incident[data-status=open]")
    time.sleep(1.0)  # a second incident, if the fire made one, has come by now
    titles = page.locator("div.incident .title").all_inner_texts()
    assert len(titles) == 1, f"one fire, one incident: {titles}"
    title = titles[0]
    assert title.startswith("火情：文苑一村 "), title
    assert_alarm_until_acked(page)
    assert layout_problems(page) == []

    wy1 = area_path(registry, "wy1")
    guard = make_token(backend.data_dir, "--role", "guard", "--grid", wy1, "--name", "正门岗")
    with backend.client(guard) as api:
        alert = until(lambda: next((a for a in api.get("/api/v1/alerts?status=firing").json()
                                    if a["device"] == smoke), None))
        assert api.post(f"/api/v1/alerts/{alert['id']}/ack", json={"note": NOTE}).is_success
    status = page.locator(f'#alerts tr[data-alert-id="{alert["id"]}"] td.status')
    until(lambda: "正门岗" in status.inner_text() or None)
    assert NOTE in status.inner_text() and "已确认" in status.inner_text()
    acked_line = page.locator("div.incident li[data-kind=alert_acked]")
    until(lambda: acked_line.count() or None)
    assert "正门岗" in acked_line.inner_text() and NOTE in acked_line.inner_text()
    both_languages(page, f"ops-{name}", tmp_path)

    page.once("dialog", lambda d: d.accept("厨房油烟，非火情"))
    page.click("div.incident button.false-alarm")
    page.wait_for_selector("div.incident", state="detached")
    until(lambda: page.locator("#alerts tbody tr").count() == 0 or None)
    with backend.client() as api:
        fire = [a for a in api.get("/api/v1/alerts?status=all").json()
                if a["device"] in (smoke, panel)]
        assert fire and all(a["status"] == "resolved" for a in fire), fire
    page.wait_for_selector("#critical", state="hidden")


def test_maintenance_page(
    screen: tuple[str, BrowserContext], backend: BackendProcess, broker: Broker,
    registry: Registry, tmp_path: Path,
) -> None:
    """The unit's own alert (a fault of one of its elevators) is listed, and a device's
    chart draws each metric from the server's step-averaged series."""
    name, ctx = screen
    lift = next(d for d in registry.config.devices if d.type == "elevator")
    now = time.time()
    pub = TestPublisher(broker.url, f"test-maintenance-{name}")
    try:
        rows = [(lift.id, "vibration_rms_g", now - 600 + 30 * i, 0.02 + 0.001 * (i % 5))
                for i in range(20)]
        pub.publish(f"gw/v1/{lift.agent}/readings", readings_msg(lift.agent, 1, rows))
        fault = {"id": f"pl-{now}", "device": lift.id, "ts": now, "type": "elevator.power_loss",
                 "state": "start"}
        pub.publish(f"gw/v1/{lift.agent}/events",
                    {"agent": lift.agent, "seq": 1, "events": [fault]})
    finally:
        pub.close()
    token = make_token(backend.data_dir, "--role", "maintenance", "--maintainer", lift.maintainer)
    page = sign_in(ctx, backend, token, home="/ui/maintenance")
    page.wait_for_selector("body[data-loaded='1']")
    page.wait_for_selector(f"#alerts tr:has(td.device:text-is('{lift.id}'))", timeout=15_000)
    assert "电梯停电" in page.inner_text("#alerts tbody")
    steps: list[str] = []
    page.on("request", lambda r: steps.append(r.url) if "step=" in r.url else None)
    page.fill("#search", lift.id)
    page.click(f"#health td.device button:text-is('{lift.id}')")
    page.wait_for_selector("#charts .chart[data-metric='vibration_rms_g'] canvas")
    assert any("metric=vibration_rms_g" in u and "step=360" in u for u in steps), steps
    page.click("#chart button[data-range='604800']")
    until(lambda: any("step=2520" in u for u in steps) or None)
    page.wait_for_selector("#charts .chart[data-metric='vibration_rms_g'] canvas")
    assert layout_problems(page) == []
    both_languages(page, f"maintenance-{name}", tmp_path)


# Headless Chromium plays Web Audio whatever its autoplay flag says, so the policy of a
# desktop browser is put in front of it: a context starts suspended and resumes only
# after a real (trusted) click on the page.
BLOCKING_AUDIO = """(() => {
  const Real = window.AudioContext;
  let clicked = false;
  addEventListener('click', (e) => { if (e.isTrusted) clicked = true; }, true);
  window.AudioContext = class extends Real {
    constructor(...args) { super(...args); this.suspend(); this._blocked = true; }
    get state() { return this._blocked ? 'suspended' : super.state; }
    resume() {
      if (!clicked) return Promise.reject(new DOMException('blocked', 'NotAllowedError'));
      this._blocked = false;
      return super.resume();
    }
  };
})();"""


def test_blocked_sound_is_said_and_one_click_enables_it(
    backend: BackendProcess, broker: Broker, registry: Registry, tmp_path: Path,
) -> None:
    with chromium(tmp_path, PHONE, autoplay=False) as ctx:
        wy1 = area_path(registry, "wy1")
        token = make_token(backend.data_dir, "--role", "guard", "--grid", wy1)
        # Signed in without a click on the site (a click would let Chrome play sound):
        # the session cookie through the context's own requests, then a plain load.
        ctx.request.post(f"{backend.base}/ui/login", form={"token": token}, max_redirects=0)
        page = ctx.new_page()
        page.add_init_script(BLOCKING_AUDIO)
        with page.expect_response(lambda r: "/api/v1/alerts/stream" in r.url):
            page.goto(f"{backend.base}/ui/board")
        smoke_fire(broker, registry)
        page.wait_for_selector("#critical", state="visible")
        page.wait_for_selector("#sound-blocked", state="visible")
        assert plays(page) == 0
        assert in_view(page, "#sound-enable")
        shot(page, tmp_path / "board-sound-blocked.png", full_page=False)
        page.click("#sound-enable")
        until(lambda: plays(page) or None)
        page.wait_for_selector("#sound-blocked", state="hidden")
