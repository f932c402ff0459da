"""`/api/v1/grids` and `/api/v1/devices`: what the registry says, cut to the caller's scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import Ctx, CurrentPrincipal, grid_scopes, visible_devices
from api.schemas import DeviceOut, GridOut
from config.models import DeviceType

router = APIRouter(prefix="/api/v1", tags=["registry"])


@router.get("/grids", response_model=list[GridOut])
def list_grids(ctx: Ctx, principal: CurrentPrincipal) -> list[GridOut]:
    """The grid tree in scope, as an array of roots: the whole street for ops and admin,
    the token's subtree for a guard room. A maintenance unit gets its token's grid, or
    the whole street: its devices may sit anywhere, and the tree holds no device data."""
    root = principal.grid or ctx.registry.street_path
    return [GridOut.tree(ctx.registry, root)]


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(
    ctx: Ctx,
    principal: CurrentPrincipal,
    grid: Annotated[
        str | None, Query(description="Grid path; only devices at or below it.")
    ] = None,
    type_: Annotated[DeviceType | None, Query(alias="type")] = None,
) -> list[DeviceOut]:
    """Devices in scope, in configuration order; a maintenance unit sees only its own."""
    scopes = grid_scopes(ctx, principal, grid)
    devices = visible_devices(ctx.registry, principal, scopes)
    return [DeviceOut.of(d, ctx.registry) for d in devices if type_ is None or d.type == type_]
