"""The pages under their Content-Security-Policy in real headless Chromium, against the
real backend: each works (its scripts ran, its buttons act) with no console error and no
CSP violation; another site cannot frame them; /docs runs its own inline boot script.
Issue 18, hole 4."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from api.stream_quota import RETRY_AFTER_S, StreamLimits
from config.registry import Registry
from tests.support.backend_proc import BackendProcess
from tests.support.browser import console_problems, shot, sign_in, until
from tests.support.mosquitto import Broker
from tests.support.mqtt_tools import TestPublisher, readings_msg
from tests.support.sample_street import area_path, smoke_detector_in
from tests.support.tokens import make_token

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HEADERS = {"x-frame-options": "DENY", "x-content-type-options": "nosniff",
           "referrer-policy": "same-origin"}  # fmt: skip
# Records window.print() instead of opening the dialog (an init script runs outside CSP).
FAKE_PRINT = "window.__printed = 0; window.print = () => { window.__printed += 1; };"


def _smoke(broker: Broker, agent: str, device: str) -> None:
    """One smoke reading over the alarm threshold, published as the agent (QoS 1)."""
    pub = TestPublisher(broker.url, f"test-security-{device}")
    try:
        pub.publish(f"gw/v1/{agent}/readings",
                    readings_msg(agent, 1, [(device, "smoke_obscuration_pct_m", time.time(), 6.0)]))
    finally:
        pub.close()


def test_every_page_works_under_its_policy_with_a_clean_console(
    browser: BrowserContext, backend: BackendProcess, broker: Broker, registry: Registry,
) -> None:
    wy1 = area_path(registry, "wy1")
    device, agent = smoke_detector_in(registry, wy1)
    guard = make_token(backend.data_dir, "--role", "guard", "--grid", wy1)
    ops = make_token(backend.data_dir, "--role", "ops")
    unit = registry.devices[device].maintainer
    maintenance = make_token(backend.data_dir, "--role", "maintenance", "--maintainer", unit)

    # The board: its stream is open (sign_in waited for it) and a fire shows up live.
    board = sign_in(browser, backend, guard)
    _smoke(broker, agent, device)
    board.wait_for_selector(f"#firing tr:has(td.device:text-is('{device}'))")
    board.click("#lang")
    assert board.inner_text("h1") != "告警值班板"  # the language button's script ran

    # The operations centre (another host name: another session) draws its tree.
    centre = sign_in(browser, backend, ops, home="/ui/ops", host="localhost", new_page=True)
    centre.wait_for_selector(f"#tree div[data-path='{wy1}']")

    # The maintenance report, and its printable daily report's print button (the same
    # host name as the centre, so the centre's page goes first: one session per name).
    centre.close()
    page = sign_in(browser, backend, maintenance, home="/ui/maintenance", host="localhost")
    page.wait_for_selector("body[data-loaded='1']")
    browser.add_init_script(FAKE_PRINT)
    answer = page.goto(f"http://localhost:{backend.port}/ui/maintenance/report")
    assert answer is not None and answer.status == 200
    for name, value in HEADERS.items():
        assert answer.headers.get(name) == value, (name, answer.headers)
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    page.click("#print")
    assert until(lambda: page.evaluate("window.__printed") or None) == 1

    problems = console_problems(browser)
    assert problems == [], "\n".join(problems)


@contextmanager
def _serving(html: bytes) -> Iterator[str]:
    """Another origin (this machine, another port) serving one page."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_another_site_cannot_frame_a_page(
    browser: BrowserContext, backend: BackendProcess,
) -> None:
    """The sign-in page (it needs no session) framed by a page of another origin: the
    browser refuses to show it, as it would the board and its acknowledge button."""
    page = browser.new_page()
    html = f'<!doctype html><iframe src="{backend.base}/ui/"></iframe>'.encode()
    with _serving(html) as attacker:
        page.goto(attacker)
        frame = page.frames[-1]
        assert frame != page.main_frame
        until(lambda: frame.url if frame.url != "about:blank" else None)
        page.wait_for_timeout(500)  # a shown page would have parsed its form by now
        assert frame.query_selector("input[name=token]") is None, frame.url
        print(f"the framed sign-in page: {frame.url}")


def test_the_docs_boot_script_is_allowed_by_its_hash(
    browser: BrowserContext, backend: BackendProcess,
) -> None:
    """Swagger UI's inline boot script runs under the docs policy. (Where its bundle
    comes from is the docs page's business: fetched from a CDN it is refused by this
    policy and the page stays blank; served from this origin it runs.)"""
    page = browser.new_page()
    answer = page.goto(f"{backend.base}/docs")
    assert answer is not None and answer.status == 200
    page.wait_for_load_state("load")
    inline = [p for p in console_problems(browser) if "CSP violation" in p and "inline" in p]
    assert inline == [], inline


def test_a_refused_board_says_so_and_retries_after_the_servers_delay(
    browser: BrowserContext, backend: BackendProcess, broker: Broker, registry: Registry,
    tmp_path: Path,
) -> None:
    """Issue 18, hole 5: the board's token already holds its streams (other tabs), so the
    board's stream is refused with 429; the board shows why, waits Retry-After, and
    connects once a stream is free."""
    wy1 = area_path(registry, "wy1")
    guard = make_token(backend.data_dir, "--role", "guard", "--grid", wy1)
    page = browser.pages[0] if browser.pages else browser.new_page()
    with ExitStack() as tabs, httpx.Client(base_url=backend.base, timeout=10) as client:
        for _ in range(StreamLimits().per_token):  # the token's other tabs
            tab = tabs.enter_context(client.stream("GET", "/api/v1/alerts/stream",
                                                   headers={"Authorization": f"Bearer {guard}"}))
            assert tab.status_code == 200
        page.goto(f"{backend.base}/ui/")
        page.fill("input[name=token]", guard)
        with page.expect_response(lambda r: "/alerts/stream" in r.url) as refused:
            page.click("button[type=submit]")
        assert refused.value.status == 429
        assert refused.value.headers["retry-after"] == str(RETRY_AFTER_S)
        page.wait_for_selector("#banner", state="visible")
        assert "5 秒后自动重试" in page.inner_text("#banner")
        for size, name in (((1366, 768), "desktop"), ((390, 844), "phone")):
            page.set_viewport_size({"width": size[0], "height": size[1]})
            shot(page, tmp_path / f"board-refused-zh-{name}.png", full_page=False)
            page.click("#lang")
            assert "retrying in 5 s" in page.inner_text("#banner")
            shot(page, tmp_path / f"board-refused-en-{name}.png", full_page=False)
            page.click("#lang")
        closed_at = time.monotonic()
    # The tabs are closed: the board's retry (Retry-After after the refusal) connects.
    with page.expect_response(lambda r: "/alerts/stream" in r.url and r.status == 200,
                              timeout=(RETRY_AFTER_S + 5) * 1000):
        pass
    print(f"connected {time.monotonic() - closed_at:.1f} s after the tabs closed")
    page.wait_for_selector("#banner", state="hidden")
    device, agent = smoke_detector_in(registry, wy1)
    _smoke(broker, agent, device)
    page.wait_for_selector(f"#firing tr:has(td.device:text-is('{device}'))")
    page.set_viewport_size({"width": 1366, "height": 768})
