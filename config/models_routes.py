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
