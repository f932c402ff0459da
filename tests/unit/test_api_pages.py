"""The /ui/ pages: sign-in form, the session cookie, per-role landing pages, the board."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from api.auth import SESSION_COOKIE
from api.pages import STATIC_DIR
from api.tokens import create_token
from tests.support.api_harness import ApiHarness, api_harness
from tests.support.tiny_street import AREA_WY1


@pytest.fixture
def h(tmp_path: Path) -> Iterator[ApiHarness]:
    with api_harness(tmp_path) as harness:
        yield harness


class Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Inputs()
    parser.feed(html)
    return parser.tags


def _assert_signin_form(html: str) -> None:
    tags = _tags(html)
    assert [a for t, a in tags if t == "input" and a.get("name") == "token"]
    assert [a for t, a in tags if t == "button" and a.get("type") == "submit"]
    form = next(a for t, a in tags if t == "form")
    assert (form["method"], form["action"]) == ("post", "/ui/login")


def test_signin_page_has_the_token_form(h: ApiHarness) -> None:
    resp = h.client.get("/ui/")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    _assert_signin_form(resp.text)
    assert h.client.get("/ui", follow_redirects=True).url.path == "/ui/"


@pytest.mark.parametrize(
    ("role", "grid", "maintainer", "page"),
    [
        ("guard", AREA_WY1, None, "/ui/board"),
        ("ops", None, None, "/ui/ops"),
        ("admin", None, None, "/ui/ops"),
        ("maintenance", None, "elev1", "/ui/maintenance"),
    ],
)
def test_login_sets_cookie_and_opens_the_role_page(
    h: ApiHarness, role: str, grid: str | None, maintainer: str | None, page: str
) -> None:
    token = h.token(role, grid, maintainer)
    resp = h.client.post("/ui/login", data={"token": token}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == page
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/"} <= flags
    landed = h.client.get(page)
    assert landed.status_code == 200 and "<html" in landed.text
    assert h.client.get("/api/v1/alerts").status_code == 200


def test_bad_token_shows_the_form_again(h: ApiHarness) -> None:
    for form in ({"token": "nope"}, {"token": ""}, {}):
        resp = h.client.post("/ui/login", data=form, follow_redirects=False)
        assert resp.status_code == 401
        assert "set-cookie" not in resp.headers
        _assert_signin_form(resp.text)
        assert "invalid" in resp.text


def test_pages_without_session_go_to_signin(h: ApiHarness) -> None:
    for page in ("/ui/board", "/ui/ops", "/ui/maintenance"):
        resp = h.client.get(page, follow_redirects=False)
        assert (resp.status_code, resp.headers["location"]) == (303, "/ui/"), page
    h.client.cookies.set(SESSION_COOKIE, "forged")
    assert h.client.get("/ui/board", follow_redirects=False).status_code == 303


def test_logout_clears_the_cookie(h: ApiHarness) -> None:
    h.client.post("/ui/login", data={"token": h.token("guard", AREA_WY1)})
    assert h.client.get("/ui/board", follow_redirects=False).status_code == 200
    resp = h.client.get("/ui/logout", follow_redirects=False)
    assert resp.status_code == 303
    assert SESSION_COOKIE not in h.client.cookies
    assert h.client.get("/ui/board", follow_redirects=False).status_code == 303


def test_board_page_and_its_script(h: ApiHarness) -> None:
    h.client.post("/ui/login", data={"token": h.token("guard", AREA_WY1)})
    page = h.client.get("/ui/board")
    tags = _tags(page.text)
    body = next(a for t, a in tags if t == "body")
    assert body["data-role"] == "guard"
    scripts = [a["src"] for t, a in tags if t == "script" and a.get("src")]
    assert scripts and all(str(src).startswith("/ui/static/") for src in scripts)
    assert "正在告警" in page.text and h.registry.grids[AREA_WY1].name in page.text
    texts = []
    for src in scripts:
        script = h.client.get(str(src))
        assert script.status_code == 200
        texts.append(script.text)
    # What the browser tests and the live behaviour depend on (across the page's scripts:
    # the board's own, the shared i18n.js and alarm.js).
    for needle in (
        "dataset.alertId",
        "dataset.severity",
        "EventSource",
        "/ack",
        "localStorage",
        "gwSound",
    ):
        assert any(needle in text for text in texts), needle


def test_board_escapes_token_names(h: ApiHarness) -> None:
    name = "<script>x</script>"
    token, _ = create_token(h.ops, h.registry, "guard", AREA_WY1, None, name, None, h.clock())
    h.client.post("/ui/login", data={"token": token})
    assert "<script>x</script>" not in h.client.get("/ui/board").text


def test_ops_and_maintenance_pages_load_their_scripts(h: ApiHarness) -> None:
    h.client.post("/ui/login", data={"token": h.token("ops")})
    for page, script in (("/ui/ops", "ops.js"), ("/ui/maintenance", "maintenance.js")):
        tags = _tags(h.client.get(page).text)
        scripts = [a["src"] for t, a in tags if t == "script" and a.get("src")]
        assert f"/ui/static/{script}" in scripts, (page, scripts)
        for src in scripts:
            assert h.client.get(str(src)).status_code == 200, src


def test_static_files_are_served(h: ApiHarness) -> None:
    for name in ("board.js", "board.css", "pages.css"):
        assert (STATIC_DIR / name).is_file()
        assert h.client.get(f"/ui/static/{name}").status_code == 200
