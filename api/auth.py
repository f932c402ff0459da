"""Who is calling and what they may see, as FastAPI dependencies.

A token comes as `Authorization: Bearer TOKEN`, or in the `gw_session` cookie that the
sign-in page sets, because EventSource and page loads cannot send headers. The cookie
is SameSite=Strict, so another site cannot make a browser send it with a forged POST.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, cast

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from api.context import ApiContext
from api.tokens import Principal, verify
from config.models import DeviceSpec
from config.registry import Registry, in_scope
from gridwatch.records import Alert

SESSION_COOKIE = "gw_session"
ACK_ROLES = ("ops", "guard", "admin")
ROLE_CHECK_ATTR = "gw_roles"

# auto_error off: a missing token must be our 401 with WWW-Authenticate, and either
# source may carry it. Declared as schemes so that /docs offers to authorise.
_bearer = HTTPBearer(auto_error=False, description="An API token: gw_<id>_<secret>.")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="Set by signing in at /ui/."
)


def get_ctx(request: Request) -> ApiContext:
    return cast(ApiContext, request.app.state.ctx)


Ctx = Annotated[ApiContext, Depends(get_ctx)]


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{what} not found")


def principal_of(ctx: ApiContext, token: str) -> Principal | None:
    return verify(ctx.ops, ctx.registry, token, ctx.clock(), ctx.bootstrap_token)


def request_token(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> str | None:
    """The token the request carries (header first), or None."""
    return bearer.credentials if bearer is not None else cookie


RequestToken = Annotated[str | None, Depends(request_token)]


def current_principal(ctx: Ctx, token: RequestToken) -> Principal:
    if not token:
        raise unauthorized("missing token: send Authorization: Bearer TOKEN")
    principal = principal_of(ctx, token)
    if principal is None:
        raise unauthorized("invalid, expired or revoked token")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str) -> Callable[[Principal], Principal]:
    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role {principal.role} may not do this; allowed: {', '.join(roles)}",
            )
        return principal

    # Marks the dependency so that the OpenAPI document can list 403 where it applies.
    setattr(check, ROLE_CHECK_ATTR, roles)
    return check


AckPrincipal = Annotated[Principal, Depends(require_roles(*ACK_ROLES))]


def scopes_for(principal: Principal) -> list[str] | None:
    """Grid scopes for store queries; None is the whole street."""
    return None if principal.grid is None else [principal.grid]


def devices_for(principal: Principal) -> list[str] | None:
    """Device filter for store queries; None is every device."""
    return None if principal.devices is None else sorted(principal.devices)


def agents_in_scope(registry: Registry, principal: Principal) -> list[str] | None:
    """Agents whose whole area is in the principal's scope; None is every agent (and
    what no agent sent). An agent serves an area, so a narrower scope sees none."""
    if principal.grid is None:
        return None
    return [a.id for a in registry.agents.values() if in_scope(a.area, principal.grid)]


def alert_visible(principal: Principal, alert: Alert) -> bool:
    if not in_scope(alert.grid, principal.grid):
        return False
    return principal.devices is None or alert.device in principal.devices


def grid_scopes(ctx: ApiContext, principal: Principal, grid: str | None) -> list[str] | None:
    """Scopes for a `grid=` filter: 404 for an unknown grid or one outside the caller's
    scope (the two look the same, so a probe learns nothing about other areas)."""
    if grid is None:
        return scopes_for(principal)
    if grid not in ctx.registry.grids or not in_scope(grid, principal.grid):
        raise not_found(f"grid {grid!r}")
    return [grid]


def visible_devices(
    registry: Registry, principal: Principal, scopes: Sequence[str] | None
) -> list[DeviceSpec]:
    """Devices under any of `scopes` (None: all) that the principal may see."""
    return [
        d
        for d in registry.config.devices
        if (scopes is None or any(in_scope(d.grid, s) for s in scopes))
        and (principal.devices is None or d.id in principal.devices)
    ]
