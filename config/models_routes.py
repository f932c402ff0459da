"""The routing tree as written in YAML (`routes:`), in the spirit of Alertmanager's.

This is only the written form: a child leaves unset (None) whatever it inherits from
its parent. `dispatch.routes` resolves it into the runtime tree, where every option
is filled in, so the hot path never walks up the tree to find a setting.
"""

from __future__ import annotations

from typing import get_args

from pydantic import Field

from config.models_base import DeviceType, ReceiverKind, Severity, Strict

# A selector in `receivers:` is a receiver kind (resolved to the nearest on-duty receivers
# of that kind up the device's grid) or a receiver id (that receiver, when on duty).
RECEIVER_KIND_SELECTORS: tuple[str, ...] = get_args(ReceiverKind)


class MatchSpec(Strict):
    """Every field set must match (AND); a list matches any of its items (OR)."""

    type: list[str] | None = Field(
        default=None, description="Alert types; 'elevator.*' matches a whole family."
    )
    severity: list[Severity] | None = None
    device_type: list[DeviceType] | None = None
    grid: str | None = Field(default=None, description="Grid path prefix: this node or below.")
    building: list[str] | None = None


class RouteSpec(Strict):
    name: str | None = Field(default=None, description="Shown in logs and problems.")
    match: MatchSpec = Field(default_factory=MatchSpec)
    receivers: list[str] | None = Field(
        default=None, description="Receiver kinds or receiver ids; inherited when unset."
    )
    group_by: list[str] | None = Field(
        default=None, description="Labels whose equal values make one notification group."
    )
    escalate_after_s: float | None = Field(
        default=None, gt=0, description="Unacknowledged this long: escalate one grid level."
    )
    renotify_after_s: float | None = Field(
        default=None, gt=0, description="Acknowledged but unresolved this long: notify again."
    )
    continue_: bool = Field(
        default=False, alias="continue", description="Keep matching later siblings."
    )
    routes: list[RouteSpec] = Field(default_factory=list)


# Labels an incident group may be keyed by (see dispatch.incidents.incident_labels).
INCIDENT_LABELS = (
    "area", "building", "floor", "device", "device_type", "zone", "type", "family", "rule",
    "grid", "agent",
)


class IncidentGroupSpec(Strict):
    """Alerts of one real-world event make one incident. The words are Alertmanager's:
    `group_by` labels with equal values are one group; `group_wait_s` is how long a new
    group whose first alert is below critical waits for the rest before it opens (a
    critical alert opens it at once: an alarm never waits); `group_interval_s` is how
    long after its last alert a group still takes a late one (while any of its alerts
    fires it always does)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    match: MatchSpec = Field(default_factory=MatchSpec)
    group_by: list[str] = Field(min_length=1)
    group_wait_s: float = Field(default=10.0, ge=0, le=3600)
    group_interval_s: float = Field(default=1800.0, gt=0, le=7 * 86400)
    open_at: Severity = Field(
        default="critical", description="The least severity that opens an incident by itself."
    )
    title: str = Field(min_length=1, description="e.g. 火情; the location follows it.")
    title_en: str = Field(min_length=1, description="e.g. Fire.")


class IncidentsSpec(Strict):
    ack_target_s: float = Field(
        default=120.0, gt=0, description="Time to acknowledge the incident page measures against."
    )
    groups: list[IncidentGroupSpec] = Field(default_factory=list)
