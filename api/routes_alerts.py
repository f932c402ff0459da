"""`/api/v1/alerts`: list, one alert, acknowledge, and the live stream."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.auth import (
    AckPrincipal,
    Ctx,
    CurrentPrincipal,
    RequestToken,
    alert_visible,
    devices_for,
    grid_scopes,
    not_found,
    principal_of,
)
from api.params import Since
from api.resume_point import MAX_ID, ResumePoint, parse_resume_point
from api.schemas import AckIn, AlertOut
from api.sse import SlotResponse, TokenCheck, alert_events
from api.stream_quota import RETRY_AFTER_S, StreamQuota
from config.models import Severity

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

LOG_SEQ_HEADER = "X-Log-Seq"
# SQLite integers are 64-bit: a larger id must be a 422, not an overflow deep in the store.
AlertId = Annotated[int, Path(ge=1, le=MAX_ID)]
GridQuery = Annotated[
    str | None, Query(description="Grid path; only alerts at or below it (must be in scope).")
]


@router.get("", response_model=list[AlertOut])
def list_alerts(
    ctx: Ctx,
    principal: CurrentPrincipal,
    response: Response,
    since: Since,
    grid: GridQuery = None,
    status_: Annotated[Literal["firing", "resolved", "all"], Query(alias="status")] = "all",
    severity: Severity | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AlertOut]:
    """Alerts in scope, newest first. The `X-Log-Seq` header is the alert log position
    before the query: a stream opened with `last_event_id` set to it misses nothing."""
    scopes = grid_scopes(ctx, principal, grid)
    response.headers[LOG_SEQ_HEADER] = str(ctx.ops.last_log_seq())
    alerts = ctx.ops.list_alerts(
        scopes,
        status=status_,
        severity=severity,
        since=since,
        limit=limit,
        devices=devices_for(principal),
    )
    return [AlertOut.of(a) for a in alerts]


def _resume_point(header: str | None, query: str | None) -> ResumePoint | None:
    # The header wins: a browser's EventSource sends it on every reconnect, while the
    # query parameter stays what the page first asked for.
    text = header if header is not None and header.strip() else query
    if text is None:
        return None
    try:
        return parse_resume_point(text)
    except ValueError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"Last-Event-ID must be an event id of this stream (a log sequence, "
                   f"or one followed by ':' and the sequences sent ahead), not {text!r}",
        ) from None


@router.get(
    "/stream",
    response_class=SlotResponse,
    status_code=status.HTTP_200_OK,
    responses={429: {"description": "A stream limit of this token or its pool is full; "
                          "`detail` says which. Retry after `Retry-After` seconds."}},
)
async def stream_alerts(
    ctx: Ctx,
    principal: CurrentPrincipal,
    token: RequestToken,
    request: Request,
    grid: GridQuery = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    last_event_id: Annotated[
        str | None, Query(max_length=700, description=(
            "Resume after this event id: a log sequence, or one followed by ':' and the "
            "sequences the stream sent ahead of it (critical alerts go first)."))
    ] = None,
) -> Response:
    """Server-Sent Events: `event: alert`, `id:` the log sequence, `data:` the alert.
    Entries come in log order, except that a critical alert logged behind entries not
    yet sent goes first; its `id` is then the in-order point and the entries sent ahead
    (`N:A,B`), so resuming from any event's id gives every entry once. Without a resume
    point it starts at the current end of the log. The token is checked again every few
    seconds: once revoked or expired, a last `event: closed` ends the stream (and a
    reconnect gets 401)."""
    scopes = grid_scopes(ctx, principal, grid)
    resume = _resume_point(last_event_id_header, last_event_id)
    head = await run_in_threadpool(ctx.ops.last_log_seq)
    # A resume point past the head means the log was reset; start from its end.
    if resume is None or resume.after > head:
        resume = ResumePoint(head)
    quota: StreamQuota = request.app.state.streams
    if (refused := quota.acquire(principal)) is not None:
        return JSONResponse(
            {"detail": f"{refused}; retry after {RETRY_AFTER_S} s"},
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    check = TokenCheck(lambda: token is not None and principal_of(ctx, token) == principal)
    events = alert_events(ctx.ops, ctx.notifier, resume, scopes, principal.devices, check)
    return SlotResponse(events, lambda: quota.release(principal))


@router.get("/{alert_id}", response_model=AlertOut)
def get_alert(ctx: Ctx, principal: CurrentPrincipal, alert_id: AlertId) -> AlertOut:
    """One alert; 404 when it is missing or outside the caller's scope alike."""
    alert = ctx.ops.get_alert(alert_id)
    if alert is None or not alert_visible(principal, alert):
        raise not_found(f"alert {alert_id}")
    return AlertOut.of(alert)


@router.post("/{alert_id}/ack", response_model=AlertOut)
def ack_alert(ctx: Ctx, principal: AckPrincipal, alert_id: AlertId, body: AckIn) -> AlertOut:
    """Acknowledge an alert (roles ops, guard, admin); returns it as acknowledged."""
    alert = ctx.ops.get_alert(alert_id)
    if alert is None or not alert_visible(principal, alert):
        raise not_found(f"alert {alert_id}")
    acked = ctx.ack_alert(alert_id, principal.name, body.note)
    if acked is None:
        raise not_found(f"alert {alert_id}")
    return AlertOut.of(acked)
