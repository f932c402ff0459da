"""Security headers on every page and API answer; no inline script or style in any page,
so the strict policy costs the pages nothing; /docs allows exactly its own inline
scripts by hash. Issue 18, hole 4 (the pages under the policy in real Chromium:
tests/integration/test_browser_security.py)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.auth import SESSION_COOKIE
from api.pages import STATIC_DIR
from tests.support.api_harness import ApiHarness, api_harness, auth, served
from tests.support.populated import UNIT
from tests.support.tiny_street import AREA_A1

COMMON = {"x-frame-options": "DENY", "x-content-type-options": "nosniff",
          "referrer-policy": "same-origin"}  # fmt: skip
PAGES = {  # page -> the role whose session opens it
    "/ui/": None, "/ui/board": "guard", "/ui/ops": "ops", "/ui/maintenance": "maintenance",
    "/ui/maintenance/report": "maintenance",
}  # fmt: skip
# Anything a browser would run or apply from the HTML itself.
INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc\s*=)[^>]*>", re.I),
    "event handler attribute": re.compile(r"<[^>]+\son[a-z]+\s*=", re.I),
    "style attribute": re.compile(r"<[^>]+\sstyle\s*=", re.I),
    "style element": re.compile(r"<style\b", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


@pytest.fixture
def h(tmp_path: Path) -> Iterator[ApiHarness]:
    with api_harness(tmp_path) as harness:
        yield harness


def _directives(csp: str) -> dict[str, list[str]]:
    parts = (d.strip().split() for d in csp.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


def _page(h: ApiHarness, path: str, role: str | None) -> httpx.Response:
    if role is not None:
        token = h.token(role, AREA_A1 if role == "guard" else None,
                        UNIT if role == "maintenance" else None)
        h.client.cookies.set(SESSION_COOKIE, token)
    try:
        resp: httpx.Response = h.client.get(path, follow_redirects=False)
    finally:
        h.client.cookies.clear()
    return resp


def _assert_common(resp: httpx.Response, what: str) -> dict[str, list[str]]:
    for name, value in COMMON.items():
        assert resp.headers.get(name) == value, (what, name, dict(resp.headers))
    csp = _directives(resp.headers.get("content-security-policy", ""))
    assert csp.get("frame-ancestors") == ["'none'"], (what, csp)
    return csp


@pytest.mark.parametrize(("path", "role"), PAGES.items())
def test_pages_send_a_strict_policy_and_hold_nothing_inline(
    h: ApiHarness, path: str, role: str | None
) -> None:
    resp = _page(h, path, role)
    assert resp.status_code == 200, resp.text
    csp = _assert_common(resp, path)
    for directive in ("default-src", "script-src", "style-src", "connect-src"):
        assert csp[directive] == ["'self'"], (directive, csp)
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    for what, pattern in INLINE.items():
        assert not pattern.search(resp.text), f"{path} has an {what}: {pattern.pattern}"


@pytest.mark.parametrize("name", sorted(p.name for p in STATIC_DIR.glob("*.html")))
def test_page_templates_hold_nothing_inline(name: str) -> None:
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    for what, pattern in INLINE.items():
        assert not pattern.search(text), f"{name} has an {what}"


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/v1/alerts", 200), ("/api/v1/alerts", 401), ("/api/v1/alerts/999", 404),
     ("/healthz", 200), ("/metrics", 200), ("/ui/static/board.js", 200),
     ("/ui/static/missing.js", 404), ("/openapi.json", 200), ("/ui/board", 303)],
)
def test_every_answer_carries_the_headers(h: ApiHarness, path: str, status: int) -> None:
    headers = auth(h.token("ops")) if status != 401 else {}
    resp = h.client.get(path, headers=headers, follow_redirects=False)
    assert resp.status_code == status, resp.text
    csp = _assert_common(resp, path)
    if not path.startswith("/ui"):
        assert csp["default-src"] == ["'none'"], (path, csp)  # JSON runs nothing


def test_the_docs_allow_exactly_their_own_inline_scripts(h: ApiHarness) -> None:
    resp = h.client.get("/docs")
    assert resp.status_code == 200
    csp = _assert_common(resp, "/docs")
    inline = re.findall(r"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script>", resp.text, re.S)
    assert inline, "the docs page boots Swagger UI from an inline script"
    wanted = {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
              for s in inline}  # fmt: skip
    assert set(csp["script-src"]) == {"'self'"} | wanted, csp["script-src"]
    assert not any(src.startswith("http") for srcs in csp.values() for src in srcs), csp


def test_the_alert_stream_carries_the_headers(h: ApiHarness) -> None:
    with (
        served(h.app) as base,
        httpx.Client(base_url=base, timeout=10) as client,
        client.stream("GET", "/api/v1/alerts/stream", headers=auth(h.token("ops"))) as resp,
    ):
        assert resp.status_code == 200
        _assert_common(resp, "stream")
