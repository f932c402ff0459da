"""The web pages under /ui/: sign-in, the guard-room board, the operations centre, the
maintenance health report and its printable daily report.

Pages authenticate by the `gw_session` cookie only, since a browser loading a page
sends no Authorization header. The cookie holds the token itself, so revoking the
token ends the session at once.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from string import Template
from typing import Annotated, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Cookie, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.auth import SESSION_COOKIE, Ctx, principal_of, scopes_for, visible_devices
from api.health_report import health_report
from api.report_page import render_report
from api.tokens import Principal

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_FORM_BYTES = 4096
HOME = {
    "guard": "/ui/board",
    "ops": "/ui/ops",
    "admin": "/ui/ops",
    "maintenance": "/ui/maintenance",
}

router = APIRouter(prefix="/ui", include_in_schema=False)
Session = Annotated[str | None, Cookie(alias=SESSION_COOKIE)]


def _template(name: str) -> Template:
    return Template((STATIC_DIR / name).read_text(encoding="utf-8"))


def _signin(error: str = "", code: int = status.HTTP_200_OK) -> HTMLResponse:
    body = _template("login.html").substitute(error=escape(error))
    return HTMLResponse(body, status_code=code)


def _session(ctx: Ctx, token: str | None) -> Principal | None:
    return None if not token else principal_of(ctx, token)


def _to_signin() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/", response_class=HTMLResponse)
def signin_page() -> HTMLResponse:
    return _signin()


@router.post("/login")
async def login(request: Request, ctx: Ctx) -> Response:
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return _signin("表单过大 / form too large", status.HTTP_413_CONTENT_TOO_LARGE)
    form = parse_qs(raw.decode("utf-8", errors="replace"))
    token = (form.get("token") or [""])[0].strip()
    principal = await run_in_threadpool(_session, ctx, token)
    if principal is None:
        return _signin("令牌无效或已过期 / invalid or expired token", status.HTTP_401_UNAUTHORIZED)
    page = HOME.get(principal.role, "/ui/board")
    response = RedirectResponse(page, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.get("/logout")
def logout() -> Response:
    response = _to_signin()
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _scope_label(ctx: Ctx, principal: Principal) -> str:
    node = ctx.registry.grids[principal.grid or ctx.registry.street_path]
    return node.name


@router.get("/board", response_class=HTMLResponse)
def board(ctx: Ctx, session: Session = None) -> Response:
    principal = _session(ctx, session)
    if principal is None:
        return _to_signin()
    page = _template("board.html").substitute(
        role=escape(principal.role),
        name=escape(principal.name),
        scope=escape(_scope_label(ctx, principal)),
    )
    return HTMLResponse(page)


@router.get("/ops", response_class=HTMLResponse)
def ops_page(ctx: Ctx, session: Session = None) -> Response:
    """The operations centre: the grid tree, firing alerts and the incident queue, all
    read from the API by the page's script (so any role sees only its scope)."""
    principal = _session(ctx, session)
    if principal is None:
        return _to_signin()
    return _app_page("ops.html", ctx, principal)


def _app_page(template: str, ctx: Ctx, principal: Principal) -> HTMLResponse:
    page = _template(template).substitute(
        role=escape(principal.role),
        name=escape(principal.name),
        scope=escape(principal.maintainer or _scope_label(ctx, principal)),
    )
    return HTMLResponse(page)


@router.get("/maintenance", response_class=HTMLResponse)
def maintenance_page(ctx: Ctx, session: Session = None) -> Response:
    """The device health report: the figures come from /api/v1/health/devices."""
    principal = _session(ctx, session)
    if principal is None:
        return _to_signin()
    return _app_page("maintenance.html", ctx, principal)


@router.get("/maintenance/report", response_class=HTMLResponse)
async def maintenance_report(
    ctx: Ctx, session: Session = None, lang: Literal["zh", "en"] = "zh"
) -> Response:
    """The printable daily report of the devices in the session's scope."""
    principal = await run_in_threadpool(_session, ctx, session)
    if principal is None:
        return _to_signin()
    devices = visible_devices(ctx.registry, principal, scopes_for(principal))
    rows = await run_in_threadpool(health_report, ctx, devices)
    unit = principal.maintainer or _scope_label(ctx, principal)
    if principal.maintainer in ctx.registry.maintainers:
        unit = f"{ctx.registry.maintainers[principal.maintainer].name} ({principal.maintainer})"
    locator = ctx.registry.locator
    places = {} if locator is None else {
        d.id: (loc["text"] if lang == "zh" else loc["text_en"])
        for d in devices if (loc := locator.device(d.id)) is not None
    }
    return HTMLResponse(render_report(unit, principal.name, ctx.clock(), rows, places, lang))
