"""`/api/v1/incidents`: list, one incident, and lifecycle transitions.

Roles ops and admin may transition; guards see the incidents of their grid scope read
only; maintenance units have no incident view (403). Out of scope looks like missing."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Ctx, require_roles, scopes_for
from api.context import store_false_alarm
from api.params import Since
from api.tokens import Principal
from config.registry import in_scope
from dispatch.incidents import DEFAULT_INCIDENTS
from dispatch.webhooks import WebhookSender
from gridwatch.timefmt import iso
from store.opstate_incidents import STATUSES, Incident, IncidentStore, InvalidTransition

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Reader = Annotated[Principal, Depends(require_roles("ops", "guard", "admin"))]
Writer = Annotated[Principal, Depends(require_roles("ops", "admin"))]
Status = Literal["open", "dispatched", "acknowledged", "resolved", "closed"]
assert set(Status.__args__) == set(STATUSES)  # type: ignore[attr-defined]


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: Literal["dispatched", "acknowledged", "resolved", "closed"]
    note: str = Field(default="", max_length=2000)
    false_alarm: bool = Field(
        default=False,
        description="With to=closed: a false alarm (误报), from any state; `note` is the "
        "reason (required) and the incident's firing alerts are resolved.",
    )
    unit: str | None = Field(
        default=None,
        description="With to=dispatched: an outside unit's receiver id; the incident is "
        "sent to its webhook.",
    )


def first_ack(incident: Incident) -> float | None:
    """When someone first took it: an alert's ack or the move to acknowledged."""
    times = [t.at for t in incident.timeline if t.kind == "alert_acked"]
    times += [h.at for h in incident.history if h.to_status == "acknowledged"]
    return min(times, default=None)


def incident_json(incident: Incident, ack_target_s: float | None = None) -> dict[str, Any]:
    acked = first_ack(incident)
    return {
        "id": incident.id,
        "title": incident.title,
        "title_en": incident.title_en,
        "status": incident.status,
        "severity": incident.severity,
        "alerts": incident.alerts,
        "grid": incident.grid,
        "location": incident.location,
        "dedup_key": incident.dedup_key,
        "created_at": iso(incident.created_at),
        "updated_at": iso(incident.updated_at),
        "first_ack_at": iso(acked),
        "time_to_ack_s": None if acked is None else round(acked - incident.created_at, 1),
        "ack_target_s": ack_target_s,
        "false_alarm": incident.false_alarm,
        "close_reason": incident.close_reason,
        "history": [
            {"who": h.who, "when": iso(h.at), "from": h.from_status, "to": h.to_status,
             "note": h.note}
            for h in incident.history
        ],
        "timeline": [
            {"at": iso(t.at), "kind": t.kind, "by": t.by, "note": t.note, "alert_id": t.alert_id}
            for t in incident.timeline
        ],
    }


def _target(ctx: Ctx) -> float:
    return (ctx.registry.config.incidents or DEFAULT_INCIDENTS).ack_target_s


def _store(ctx: Ctx) -> IncidentStore:
    return IncidentStore(ctx.ops)


def _visible(ctx: Ctx, principal: Principal, incident_id: int) -> Incident:
    incident = _store(ctx).get(incident_id)
    if incident is None or not in_scope(incident.grid, principal.grid):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"incident {incident_id} not found")
    return incident


@router.get("")
def list_incidents(
    ctx: Ctx,
    principal: Reader,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Incidents in scope, most recently changed first."""
    found = _store(ctx).list(scopes_for(principal), status_, limit)
    return [incident_json(i, _target(ctx)) for i in found]


@router.get("/false-alarms")
def false_alarms(ctx: Ctx, principal: Reader, since: Since) -> list[dict[str, Any]]:
    """Alerts closed as false alarms, counted per device and type (newest 30 days by
    default): which detectors cry wolf."""
    start = ctx.clock() - 30 * 86400 if since is None else since
    counts = _store(ctx).false_alarm_counts(scopes_for(principal), start)
    return [{"device": d, "type": t, "count": n} for d, t, n in counts]


@router.get("/{incident_id}")
def get_incident(ctx: Ctx, principal: Reader, incident_id: IncidentId) -> dict[str, Any]:
    return incident_json(_visible(ctx, principal, incident_id), _target(ctx))


@router.post(
    "/{incident_id}/transition",
    responses={409: {"description": "May not move there; detail lists the allowed states."}},
)
def transition(
    ctx: Ctx, principal: Writer, incident_id: IncidentId, body: TransitionIn
) -> dict[str, Any]:
    """Move an incident on; 409 with the allowed next states when it may not go there."""
    _visible(ctx, principal, incident_id)
    sender = WebhookSender(ctx.registry, ctx.ops, ctx.clock)
    if body.unit is not None and (body.to != "dispatched" or body.unit not in sender.urls):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"unit must be a receiver with a webhook, and only with to=dispatched: {body.unit!r}",
        )
    if body.false_alarm:
        return _close_false_alarm(ctx, principal, incident_id, body)
    try:
        moved = _store(ctx).transition(incident_id, body.to, principal.name, body.note, ctx.clock())
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    out = incident_json(moved, _target(ctx))
    if body.unit is not None:
        sender.enqueue_incident(body.unit, out)  # delivered by the backend's sender thread
    return out


def _close_false_alarm(
    ctx: Ctx, principal: Principal, incident_id: int, body: TransitionIn
) -> dict[str, Any]:
    if body.to != "closed" or not body.note.strip():
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "a false alarm is closed with to=closed and its reason in note",
        )
    close = ctx.close_false_alarm or store_false_alarm(ctx.ops, ctx.notifier, ctx.clock)
    try:
        close(incident_id, principal.name, body.note.strip())
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    done = _store(ctx).get(incident_id)
    assert done is not None
    return incident_json(done, _target(ctx))
