"""`/api/v1/readings` (a device's series) and `/api/v1/dead-letters` (what ingest
refused, and why): the stored data behind the alerts."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel

from api.auth import Ctx, CurrentPrincipal, agents_in_scope, not_found, require_roles
from api.params import time_param
from api.tokens import Principal
from config.registry import in_scope
from gridwatch.timefmt import iso

router = APIRouter(prefix="/api/v1", tags=["data"])

MAX_POINTS = 100_000  # per response: a longer range needs a coarser step
DEFAULT_RANGE_S = 86_400.0


class PointOut(BaseModel):
    ts: float
    value: float


class SeriesOut(BaseModel):
    device: str
    metric: str
    step: float | None
    points: list[PointOut]


class DeadLetterOut(BaseModel):
    id: int
    received_at: str
    topic: str
    agent: str | None
    reason: str
    payload_b64: str


@router.get("/readings", response_model=SeriesOut)
def readings(
    ctx: Ctx,
    principal: CurrentPrincipal,
    device: Annotated[str, Query(min_length=1, max_length=128)],
    metric: Annotated[str, Query(min_length=1, max_length=64)],
    start: Annotated[
        str | None, Query(description="ISO 8601 or Unix s; default: end - 24 h")
    ] = None,
    end: Annotated[str | None, Query(description="ISO 8601 or Unix s; default now")] = None,
    step: Annotated[float | None, Query(gt=0, le=86_400 * 31, description="bucket, s")] = None,
) -> SeriesOut:
    """One device's metric over [start, end), averaged per `step` seconds when given.
    Points carry Unix seconds, so charts need no parsing."""
    spec = ctx.registry.devices.get(device)
    visible = spec is not None and in_scope(spec.grid, principal.grid) and (
        principal.devices is None or device in principal.devices
    )
    if not visible:
        raise not_found(f"device {device!r}")
    t_end = time_param("end", end)
    t_end = ctx.clock() if t_end is None else t_end
    t_start = time_param("start", start)
    t_start = t_end - DEFAULT_RANGE_S if t_start is None else t_start
    if t_start >= t_end:
        raise _unprocessable("start", "start must be before end")
    if step is not None and (t_end - t_start) / step > MAX_POINTS:
        raise _unprocessable("step", f"more than {MAX_POINTS} buckets; use a larger step")
    points = ctx.timeseries.series(device, metric, t_start, t_end, step)
    if len(points) > MAX_POINTS:
        raise _unprocessable("end", f"more than {MAX_POINTS} points; narrow the range or add step")
    return SeriesOut(device=device, metric=metric, step=step,
                     points=[PointOut(ts=p.ts, value=p.value) for p in points])


def _unprocessable(field: str, msg: str) -> HTTPException:
    detail = [{"type": "value_error", "loc": ["query", field], "msg": msg}]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


OpsPrincipal = Annotated[Principal, Depends(require_roles("ops", "admin"))]


@router.get("/dead-letters", response_model=list[DeadLetterOut])
def dead_letters(
    ctx: Ctx,
    principal: OpsPrincipal,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadLetterOut]:
    """Messages and items ingest refused, newest first, each with its reason. Payloads
    are base64, since a refused message need not be text. A token scoped to a grid sees
    only the dead letters of the agents of the areas in it."""
    return [
        DeadLetterOut(
            id=d.id, received_at=iso(d.received_at) or "", topic=d.topic, agent=d.agent,
            reason=d.reason, payload_b64=base64.b64encode(d.payload).decode(),
        )
        for d in ctx.ops.dead_letters(limit, agents_in_scope(ctx.registry, principal))
    ]
