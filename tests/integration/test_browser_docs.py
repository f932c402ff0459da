"""/docs in real headless Chromium with every request off this machine
blocked, as on a console PC without internet: the Swagger UI assets come from the
backend itself, and the page renders the API."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.backend_proc import BackendProcess

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Route

pytestmark = [pytest.mark.browser, pytest.mark.integration]

LOCAL_HOSTS = ("127.0.0.1", "localhost")


def _offline(browser: BrowserContext) -> list[str]:
    """Aborts every request to another host; returns the list of those it aborted."""
    blocked: list[str] = []

    def handle(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    browser.route("**/*", handle)
    return blocked


def test_docs_render_with_the_network_off(backend: BackendProcess, browser: BrowserContext) -> None:
    blocked = _offline(browser)
    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{backend.port}/docs")
    # Swagger UI draws the document's title and one block per operation.
    title = page.wait_for_selector(".swagger-ui .info .title")
    assert title is not None and "gridwatch" in title.inner_text()
    page.wait_for_selector(".opblock-summary-path[data-path='/api/v1/alerts']")
    assert page.locator(".opblock").count() > 10
    assert blocked == []



def test_there_is_no_redoc_page_to_load_from_the_internet(backend: BackendProcess) -> None:
    assert httpx.get(f"http://127.0.0.1:{backend.port}/redoc").status_code == 404
