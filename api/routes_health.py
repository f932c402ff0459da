"""`/api/v1/health/devices`: the device health report, as JSON or CSV.

Every role may ask; what it gets is cut to its scope: a maintenance unit its own
devices, a guard room its grid subtree, ops and admin the whole street."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api.auth import Ctx, CurrentPrincipal, grid_scopes, not_found, visible_devices
from api.health_report import health_report
from api.labels import HEALTH_COLUMNS, Lang, word
from api.schemas import DeviceHealthOut

router = APIRouter(prefix="/api/v1/health", tags=["health"])

# The CSV stays flat: the per-rule anomaly list is in the JSON only.
CSV_COLUMNS = [name for name in DeviceHealthOut.model_fields if name != "anomaly"]
_CSV_DOC = {
    "description": "With format=csv: the same figures, one header row, one row per device.",
    "content": {"text/csv": {"schema": {"type": "string"}}},
}


def to_csv(rows: list[DeviceHealthOut], lang: Lang | None = None) -> str:
    """A header row (the JSON field names, or with `lang` the columns' names in that
    language), then one row per device with the same figures (null is an empty cell,
    booleans are true/false as in JSON)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS if lang is None else [word(HEALTH_COLUMNS, c, lang)
                                                       for c in CSV_COLUMNS])
    for row in rows:
        data = row.model_dump()
        writer.writerow(
            ["" if data[c] is None else str(data[c]).lower() if isinstance(data[c], bool)
             else data[c] for c in CSV_COLUMNS]
        )
    return buf.getvalue()


@router.get(
    "/devices",
    response_model=list[DeviceHealthOut],
    responses={200: _CSV_DOC, 404: {"description": "Grid or maintainer not in scope."}},
)
async def device_health(
    ctx: Ctx,
    principal: CurrentPrincipal,
    grid: Annotated[
        str | None, Query(description="Grid path; only devices at or below it.")
    ] = None,
    maintainer: Annotated[
        str | None, Query(max_length=128, description="Maintenance unit id.")
    ] = None,
    format_: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
    lang: Annotated[
        Lang | None, Query(description="With format=csv: the header row in zh or en words.")
    ] = None,
) -> Response:
    """Per device in scope, over the last 24 h: `last_seen` (last reading or event,
    ever), `online` (seen within its allowance: offline factor x `interval_s` + grace),
    `uptime_pct_24h` (share of the observed span not spent silent past the allowance;
    the span is the 24 h from the latest of their start, the device's first report and
    its `commissioned` date, so a healthy new device is at 100 %; a device never heard
    from is at 0 %; null before its commissioning date), `messages_24h` (distinct
    reading times), `expected_24h` (observed span / `interval_s`), `gaps_24h`
    (silences longer than the allowance touching the observed span, a running one
    included), `battery` (last `battery_pct` in the 24 h), `faults_24h` (device fault
    events started in the 24 h), `alerts_24h` (alerts raised, changed or still firing
    in the 24 h), `anomaly` (each anomaly rule watching the device: the score it fires
    at now, learnt for its false-alert budget, and whether it is still learning; JSON
    only). An unknown or out-of-scope grid or maintainer is 404."""
    scopes = grid_scopes(ctx, principal, grid)
    devices = visible_devices(ctx.registry, principal, scopes)
    if maintainer is not None:
        # A unit outside what the caller sees looks the same as one that does not exist.
        if maintainer not in ctx.registry.maintainers or (
            principal.maintainer is not None and maintainer != principal.maintainer
        ):
            raise not_found(f"maintainer {maintainer!r}")
        devices = [d for d in devices if d.maintainer == maintainer]
    rows = await run_in_threadpool(health_report, ctx, devices)
    if format_ == "csv":
        return Response(
            to_csv(rows, lang),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="device-health.csv"'},
        )
    return JSONResponse([r.model_dump(mode="json") for r in rows])
