"""Camera snapshots (JPEGs ingest saved under <data_dir>/snapshots/<agent>/<id>.jpg).

A snapshot is scoped by the device of the event that carried it: a caller who may not
see that device gets the same 404 as for a snapshot that does not exist."""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated, Any, Protocol, runtime_checkable

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from api.auth import Ctx, CurrentPrincipal, alert_visible, not_found
from api.context import ApiContext
from api.routes_alerts import AlertId
from api.tokens import Principal
from config.registry import in_scope
from gridwatch.snapshot_ref import PATTERN, snapshot_file

router = APIRouter(prefix="/api/v1", tags=["snapshots"])

# The ingest rule for snapshot ids (and agent ids are of the same alphabet); the file is
# then resolved by the one function that keeps it inside the agent's snapshot folder.
SafeId = Annotated[str, Path(pattern=PATTERN)]
# An alert's snapshot is the device's last one from a minute before it started on.
LEAD_S = 60.0
_JPEG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}}, "description": "The JPEG."}
}


@runtime_checkable
class SnapshotIndex(Protocol):
    def snapshot_device(self, agent: str, snapshot_id: str) -> str | None: ...

    def latest_snapshot(self, device: str, start: float, end: float) -> tuple[str, str] | None: ...


def _device_visible(ctx: ApiContext, principal: Principal, device: str) -> bool:
    spec = ctx.registry.devices.get(device)
    return (
        spec is not None
        and in_scope(spec.grid, principal.grid)
        and (principal.devices is None or device in principal.devices)
    )


def _file(ctx: ApiContext, agent: str, snapshot_id: str) -> FsPath | None:
    # The store may hold references written before ingest checked them: a stored
    # reference is trusted no more than a URL.
    return None if ctx.snapshot_dir is None else snapshot_file(ctx.snapshot_dir, agent, snapshot_id)


def _index(ctx: ApiContext) -> SnapshotIndex | None:
    store = ctx.timeseries
    return store if isinstance(store, SnapshotIndex) else None


@router.get("/snapshots/{agent}/{snapshot_id}", response_class=FileResponse, responses=_JPEG)
async def get_snapshot(
    ctx: Ctx, principal: CurrentPrincipal, agent: SafeId, snapshot_id: SafeId
) -> FileResponse:
    """A snapshot JPEG; 404 when missing or when its device is outside the caller's scope."""
    index = _index(ctx)
    device = None if index is None else await run_in_threadpool(
        index.snapshot_device, agent, snapshot_id
    )
    path = _file(ctx, agent, snapshot_id)
    if device is None or path is None or not _device_visible(ctx, principal, device):
        raise not_found(f"snapshot {agent}/{snapshot_id}")
    return FileResponse(path, media_type="image/jpeg")


@router.get("/alerts/{alert_id}/snapshot", response_class=FileResponse, responses=_JPEG)
async def alert_snapshot(ctx: Ctx, principal: CurrentPrincipal, alert_id: AlertId) -> FileResponse:
    """The camera snapshot of an alert: its device's last one from a minute before the
    alert started until it resolved (or now); 404 when none, or when out of scope."""
    alert = await run_in_threadpool(ctx.ops.get_alert, alert_id)
    index = _index(ctx)
    if alert is None or index is None or not alert_visible(principal, alert):
        raise not_found(f"snapshot of alert {alert_id}")
    end = ctx.clock() if alert.resolved_at is None else alert.resolved_at
    found = await run_in_threadpool(
        index.latest_snapshot, alert.device, alert.started_at - LEAD_S, end
    )
    path = None if found is None else _file(ctx, *found)
    if path is None:
        raise not_found(f"snapshot of alert {alert_id}")
    return FileResponse(path, media_type="image/jpeg")
