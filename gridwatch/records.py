"""Records that pass between the stages: what ingest writes, what detectors raise,
what dispatch stores and the API serves. Plain dataclasses so every stage can use
them without importing another stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

AlertStatus = Literal["firing", "resolved"]
ChangeKind = Literal["fire", "update", "resolve"]


@dataclass(frozen=True, slots=True)
class Reading:
    agent: str
    device: str
    metric: str
    ts: float  # Unix seconds, device time
    value: float


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    agent: str
    id: str  # unique per agent
    device: str
    ts: float
    type: str  # dotted, e.g. "fire.alarm"
    state: Literal["start", "update", "end", "instant"]
    zone: str | None = None
    score: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    snapshot: str | None = None


@dataclass(frozen=True, slots=True)
class AlertChange:
    """What a detector decided about one fingerprint at device time `ts`."""

    kind: ChangeKind
    fingerprint: str  # stable: rule + device (+ metric/zone when needed)
    rule: str
    type: str  # dotted alert type, e.g. "fire.smoke"
    severity: str
    device: str
    ts: float
    value: float | None
    summary: str
    # A fire panel's (loop, point) from the event's attrs, raw: the alert's location is
    # that point's, from the panel's point table (contract section 4).
    point: tuple[object, object] | None = None


@dataclass(slots=True)
class Alert:
    """An alert as stored and served (contract section 4)."""

    id: int
    fingerprint: str
    rule: str
    type: str
    severity: str
    status: AlertStatus
    device: str
    device_type: str
    grid: str
    building: str
    started_at: float
    updated_at: float
    resolved_at: float | None
    value: float | None
    summary: str
    acked_by: str | None = None
    acked_at: float | None = None
    escalation_level: int = 0
    incident_id: int | None = None
    receivers: list[str] = field(default_factory=list)
    ack_note: str | None = None
    # Where to go (contract section 4): area, building, unit, floor, place, text, mapped.
    location: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AnomalyLevel:
    """One device's anomaly rule as the health report shows it (detectors.anomaly_rule)."""

    rule: str
    level: float  # the score it fires at now
    learning: bool  # still learning its level: does not page
    budget: float | None  # false alerts per device-month; None: a fixed level
