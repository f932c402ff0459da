"""Debian's Chromium driven by Playwright, for the browser tests of every page: the
browser itself, signing in through the real form, polling and screenshots."""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.backend_proc import BackendProcess

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out on a closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def _browser_problem() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not importable (pip install -e '.[dev]')"
    return None


DESK = (1366, 768)
PHONE = (390, 844)
# A guard-room console is set up once to play sound without a click; without this flag
# Chromium's autoplay policy blocks it (the pages then say so, see alarm.js).
AUTOPLAY = "--autoplay-policy=no-user-gesture-required"
NO_AUTOPLAY = "--autoplay-policy=user-gesture-required"  # as a fresh desktop Chrome


@contextmanager
def chromium(
    tmp_path: Path, viewport: tuple[int, int] = DESK, autoplay: bool = True
) -> Iterator[BrowserContext]:
    """Headless, with a fresh profile and a 1366x768 console screen (or `viewport`);
    Playwright's own browser downloads are never used. Skips (or fails, under CI)
    without Chromium."""
    problem = _browser_problem()
    if problem is not None:
        if os.environ.get("GRIDWATCH_REQUIRE_CHROMIUM"):
            pytest.fail(f"GRIDWATCH_REQUIRE_CHROMIUM is set but {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            tmp_path / "chromium-profile", executable_path=CHROMIUM, headless=True,
            args=[*CHROMIUM_ARGS, AUTOPLAY if autoplay else NO_AUTOPLAY],
            viewport={"width": viewport[0], "height": viewport[1]}, locale="zh-CN",
            timezone_id="Asia/Shanghai", has_touch=viewport[0] < 800)
        ctx.set_default_timeout(10_000)
        watch_console(ctx)
        try:
            yield ctx
        finally:
            _PROBLEMS.pop(id(ctx), None)
            ctx.close()


# Each page reports its CSP violations to the console, so one list holds both.
_REPORT_CSP = """document.addEventListener('securitypolicyviolation', e => console.error(
  `CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`
  + ` at ${e.sourceFile}:${e.lineNumber}`));"""
_PROBLEMS: dict[int, list[str]] = {}


def watch_console(ctx: BrowserContext) -> list[str]:
    """Collects every page's console errors and warnings, uncaught exceptions and
    Content-Security-Policy violations from now on (`console_problems` reads them)."""
    problems = _PROBLEMS.setdefault(id(ctx), [])
    ctx.add_init_script(_REPORT_CSP)

    def on_console(msg: Any) -> None:
        if msg.type in ("error", "warning"):
            problems.append(f"console {msg.type}: {msg.text} ({msg.location.get('url')})")

    ctx.on("console", on_console)
    ctx.on("weberror", lambda err: problems.append(f"uncaught: {err.error}"))
    return problems


def console_problems(ctx: BrowserContext) -> list[str]:
    """What `watch_console` collected in this browser so far (the `chromium` context
    watches from its start)."""
    return list(_PROBLEMS.get(id(ctx), []))


def sign_in(ctx: BrowserContext, backend: BackendProcess, token: str,
            home: str = "/ui/board", host: str = "127.0.0.1", new_page: bool = False) -> Page:
    """Types the token into the form and submits; returns once the home page's first
    API answer came (for the board and the ops page: their live stream, so what is
    published next reaches them over SSE). Cookies are per host name, so two pages
    signed in as two people use two names of this machine (127.0.0.1, localhost)."""
    live = home in ("/ui/board", "/ui/ops")
    api = "/api/v1/alerts/stream" if live else "/api/v1/"
    page = ctx.new_page() if new_page or not ctx.pages else ctx.pages[0]
    base = f"http://{host}:{backend.port}"
    page.goto(f"{base}/ui/")
    page.fill("input[name=token]", token)
    with page.expect_response(lambda r: api in r.url and r.status == 200):
        page.click("button[type=submit]")
    assert page.url == f"{base}{home}"
    return page


def until(probe: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Polls until `probe` returns something other than None (or the deadline passes)."""
    deadline = time.monotonic() + timeout
    while (found := probe()) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


def shot(page: Page, path: Path, full_page: bool = True) -> None:
    # A generous timeout: on a busy shared machine Chromium can be slow to paint.
    page.screenshot(path=str(path), full_page=full_page, timeout=30_000)
    print(f"screenshot: {path}")


# What a page must satisfy on any screen: no sideways scroll, every visible control at
# least 44 px tall (a finger, not a mouse). Returns the offenders, empty when all is well.
LAYOUT_PROBLEMS = """() => {
  const out = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1)
    out.push(`horizontal scroll: ${doc.scrollWidth} > ${doc.clientWidth}`);
  for (const el of document.querySelectorAll('button, select, input, header a, nav a')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === 'hidden') continue;
    if (r.height < 44) out.push(`${el.tagName} ${el.id || el.textContent.trim()}: ${r.height}px`);
  }
  return out;
}"""


def layout_problems(page: Page) -> list[str]:
    found: list[str] = page.evaluate(LAYOUT_PROBLEMS)
    return found


def in_view(page: Page, selector: str) -> bool:
    """Whether the element is visible inside the first screen, without scrolling."""
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return (box is not None and size is not None and box["y"] >= 0
            and box["y"] + box["height"] <= size["height"]
            and box["x"] + box["width"] <= size["width"])
