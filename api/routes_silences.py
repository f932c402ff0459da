"""`/api/v1/silences`: maintenance windows and silences, with who, why and until when.

A silenced alert is still stored and shown; it is not published, escalated or turned
into an incident (see dispatch.suppression). Roles ops and admin create and expire
silences; guards may list them. A silence is listed to a caller only when it can reach
one of the caller's devices (its grid, building, device and device-type matchers), so
one area's silences, comments included, stay in that area; a token scoped to a grid
creates and expires only silences confined to that grid."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.auth import Ctx, require_roles, scopes_for, visible_devices
from api.params import time_param
from api.tokens import Principal
from config.models import DeviceSpec, DeviceType, Severity
from config.registry import in_scope
from dispatch.suppression import SILENCE_KEYS, silence_matches
from gridwatch.timefmt import iso
from store.opstate_dispatch import DispatchState, Silence

router = APIRouter(prefix="/api/v1/silences", tags=["silences"])
Reader = Annotated[Principal, Depends(require_roles("ops", "guard", "admin"))]
Writer = Annotated[Principal, Depends(require_roles("ops", "admin"))]
MAX_DURATION_S = 30 * 86400  # a forgotten silence must not hide a street for ever
DEVICE_KEYS = ("grid", "building", "device", "device_type")  # the rest are the alert's


class MatchersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: list[str] | None = None
    severity: list[Severity] | None = None
    device_type: list[DeviceType] | None = None
    grid: str | None = None
    building: list[str] | None = None
    device: list[str] | None = None
    rule: list[str] | None = None


class SilenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    matchers: MatchersIn
    comment: str = Field(min_length=1, max_length=2000, description="Why.")
    until: str | float = Field(description="ISO 8601 or Unix seconds.")
    starts: str | float | None = None

    @field_validator("matchers")
    @classmethod
    def not_everything(cls, value: MatchersIn) -> MatchersIn:
        if not value.model_dump(exclude_none=True):
            raise ValueError("a silence needs at least one matcher")
        return value


def silence_json(s: Silence) -> dict[str, Any]:
    return {
        "id": s.id, "matchers": s.matchers, "created_by": s.created_by, "comment": s.comment,
        "starts_at": iso(s.starts_at), "ends_at": iso(s.ends_at),
        "created_at": iso(s.created_at), "deleted_at": iso(s.deleted_at),
    }


def _state(ctx: Ctx) -> DispatchState:
    return DispatchState(ctx.ops)


def _when(name: str, value: str | float) -> float:
    found = time_param(name, str(value))
    assert found is not None
    return found


def _unprocessable(msg: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, msg)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_silence(ctx: Ctx, principal: Writer, body: SilenceIn) -> dict[str, Any]:
    now = ctx.clock()
    starts = now if body.starts is None else _when("starts", body.starts)
    until = _when("until", body.until)
    if until <= max(starts, now):
        raise _unprocessable("until must be in the future and after starts")
    if until - starts > MAX_DURATION_S:
        raise _unprocessable(f"a silence may last at most {MAX_DURATION_S // 86400} days")
    grid = body.matchers.grid
    if grid is not None and (grid not in ctx.registry.grids or not in_scope(grid, principal.grid)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"grid {grid!r} not found")
    if grid is None and principal.grid is not None:
        raise _unprocessable(
            f"a token scoped to {principal.grid} must set matchers.grid (at or below it)"
        )
    matchers = body.matchers.model_dump(exclude_none=True)
    assert set(matchers) <= set(SILENCE_KEYS)
    made = _state(ctx).add_silence(matchers, principal.name, body.comment, starts, until, now)
    return silence_json(made)


@router.get("")
def list_silences(ctx: Ctx, principal: Reader) -> list[dict[str, Any]]:
    """Live (not expired, not deleted) silences that can reach a device in the
    caller's scope."""
    now = ctx.clock()
    live = [s for s in _state(ctx).silences(now) if s.ends_at > now]
    return [silence_json(s) for s in live if _reaches_scope(ctx, s, principal)]


def _reaches(s: Silence, device: DeviceSpec) -> bool:
    labels = {"grid": device.grid, "building": device.building, "device": device.id,
              "device_type": device.type}
    return silence_matches({k: v for k, v in s.matchers.items() if k in DEVICE_KEYS}, labels)


def _reaches_scope(ctx: Ctx, s: Silence, principal: Principal) -> bool:
    if principal.grid is None and principal.devices is None:
        return True
    mine = visible_devices(ctx.registry, principal, scopes_for(principal))
    return any(_reaches(s, d) for d in mine)


def _confined(s: Silence, principal: Principal) -> bool:
    """Whether the caller may expire it: a scoped token only silences within its grid."""
    grid = s.matchers.get("grid")
    return principal.grid is None or (isinstance(grid, str) and in_scope(grid, principal.grid))


@router.delete("/{silence_id}")
def delete_silence(
    ctx: Ctx, principal: Writer, silence_id: Annotated[int, Path(ge=1, le=2**63 - 1)]
) -> dict[str, Any]:
    state = _state(ctx)
    found = state.get_silence(silence_id)
    if found is None or found.deleted_at is not None or not _reaches_scope(ctx, found, principal):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"silence {silence_id} not found")
    if not _confined(found, principal):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"silence {silence_id} reaches beyond {principal.grid}; a street-wide token expires it",
        )
    state.delete_silence(silence_id, ctx.clock())
    gone = state.get_silence(silence_id)
    assert gone is not None
    return silence_json(gone)
