"""The web pages under /ui/: sign-in, the guard-room board, and (for now) plain
placeholder pages for the operations centre and the maintenance report.

Pages authenticate by the `gw_session` cookie only, since a browser loading a page
sends no Authorization header. The cookie holds the token itself, so revoking the
token ends the session at once.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from string import Template
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Cookie, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.auth import (
    SESSION_COOKIE,
    Ctx,
    devices_for,
    principal_of,
    scopes_for,
    visible_devices,
)
from api.tokens import Principal
from gridwatch.timefmt import iso

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
    return f"{node.name} ({node.path})"


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


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _placeholder(title: str, principal: Principal, scope: str, table: str) -> HTMLResponse:
    page = _template("placeholder.html").substitute(
        title=escape(title), name=escape(principal.name), scope=escape(scope), table=table
    )
    return HTMLResponse(page)


@router.get("/ops", response_class=HTMLResponse)
def ops_page(ctx: Ctx, session: Session = None) -> Response:
    """Placeholder for the operations centre: the firing alerts in scope, as a table."""
    principal = _session(ctx, session)
    if principal is None:
        return _to_signin()
    alerts = ctx.ops.list_alerts(
        scopes_for(principal), status="firing", limit=1000, devices=devices_for(principal)
    )
    rows = [
        [a.severity, a.type, a.device, a.building, a.grid, iso(a.started_at) or "", a.summary]
        for a in alerts
    ]
    headers = ["级别 severity", "类型 type", "设备 device", "楼 building", "网格 grid"]
    table = _table([*headers, "开始 started", "摘要 summary"], rows)
    scope = _scope_label(ctx, principal)
    return _placeholder("运营中心 / operations centre", principal, scope, table)


@router.get("/maintenance", response_class=HTMLResponse)
def maintenance_page(ctx: Ctx, session: Session = None) -> Response:
    """Placeholder for the maintenance report: the unit's devices, as a table."""
    principal = _session(ctx, session)
    if principal is None:
        return _to_signin()
    devices = visible_devices(ctx.registry, principal, scopes_for(principal))
    rows = [[d.id, d.type, d.grid, d.building, str(d.floor), d.maintainer] for d in devices]
    headers = ["设备 device", "类型 type", "网格 grid", "楼 building", "层 floor"]
    table = _table([*headers, "维保 maintainer"], rows)
    scope = principal.maintainer or _scope_label(ctx, principal)
    return _placeholder("维保报告 / maintenance report", principal, scope, table)
