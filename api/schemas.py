"""Response and request bodies of the HTTP API (contract section 4).

Times leave as ISO 8601 strings with a UTC offset (`gridwatch.alert_json` is the one
alert shape shared with SSE and MQTT; these models document it in the OpenAPI).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from config.models import DeviceSpec, DeviceType, GridKind
from config.registry import GridNode, Registry
from gridwatch.alert_json import alert_json
from gridwatch.records import Alert, AlertStatus


class LocationOut(BaseModel):
    """Where a person has to go (contract section 4)."""

    area: str = Field(description="Residential area, e.g. 文苑一村.")
    building: str = Field(description="As people say it, e.g. 4号楼.")
    unit: str | None = Field(description="e.g. 2单元.")
    floor: int
    place: str | None = Field(description="e.g. 电梯前室.")
    text: str = Field(description="The whole location in one line (Chinese).")
    text_en: str = Field(description="The same in English (names without one stay Chinese).")
    mapped: bool = Field(
        description="False when a fire panel's point is not in its point table: the panel's "
        "own location, with the raw loop and point in the text."
    )


class PanelPointOut(BaseModel):
    loop: int
    point: int
    location: LocationOut
    device: str | None = Field(description="The detector at that point, when registered.")


class AlertOut(BaseModel):
    id: int
    fingerprint: str
    rule: str
    type: str = Field(description="Dotted alert type, e.g. fire.alarm.")
    # Plain str, not the Literal: one odd value in the store must not turn a whole
    # list into a 500.
    severity: str = Field(description="critical, major, minor, warning or info.")
    status: AlertStatus
    device: str
    device_type: str
    grid: str = Field(description="Grid path of the device's micro-grid.")
    building: str
    location: LocationOut | None
    started_at: str
    updated_at: str
    resolved_at: str | None
    value: float | None
    summary: str
    acked_by: str | None
    acked_at: str | None
    ack_note: str | None
    escalation_level: int
    incident_id: int | None
    receivers: list[str]

    @classmethod
    def of(cls, a: Alert) -> AlertOut:
        return cls.model_validate(alert_json(a))


class DeviceOut(BaseModel):
    id: str
    type: DeviceType
    agent: str
    grid: str = Field(description="Grid path of the device's micro-grid.")
    building: str
    floor: int
    maintainer: str
    location: LocationOut
    points: list[PanelPointOut] | None = Field(
        default=None, description="Fire panels: the point table (loop, point -> location)."
    )

    @classmethod
    def of(cls, d: DeviceSpec, registry: Registry) -> DeviceOut:
        locator = registry.locator
        assert locator is not None
        return cls.model_validate(
            {
                "id": d.id, "type": d.type, "agent": d.agent, "grid": d.grid,
                "building": d.building, "floor": d.floor, "maintainer": d.maintainer,
                "location": locator.device(d.id),
                "points": locator.point_table(d.id) if d.type == "fire_panel" else None,
            }
        )


class GridOut(BaseModel):
    id: str
    path: str
    name: str
    name_en: str | None
    kind: GridKind
    children: list[GridOut]

    @classmethod
    def tree(cls, registry: Registry, path: str) -> GridOut:
        node: GridNode = registry.grids[path]
        return cls(
            id=node.id,
            path=node.path,
            name=node.name,
            name_en=node.name_en,
            kind=node.kind,
            children=[cls.tree(registry, child) for child in node.children],
        )


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000, description="What was seen or done.")


class AnomalyLevelOut(BaseModel):
    """One anomaly rule's state for a device: the score it fires at now."""

    rule: str
    level: float = Field(description="Anomaly score at or above which the rule fires now.")
    learning: bool = Field(
        description="Still learning its level from normal operation: "
        "the rule does not page meanwhile."
    )
    budget: float | None = Field(
        description="False alerts per device-month the level is set for; null for a fixed level."
    )


class DeviceHealthOut(BaseModel):
    """One device's health over the last 24 h (see GET /api/v1/health/devices)."""

    device: str
    type: DeviceType
    grid: str = Field(description="Grid path of the device's micro-grid.")
    building: str
    floor: int
    maintainer: str
    interval_s: float = Field(description="Expected reporting interval.")
    allowance_s: float = Field(description="Longest silence still counted as online.")
    last_seen: str | None = Field(description="Last reading or event, ever; ISO 8601.")
    online: bool
    uptime_pct_24h: float | None = Field(ge=0, le=100)
    messages_24h: int = Field(ge=0)
    expected_24h: int = Field(ge=0)
    gaps_24h: int | None = Field(ge=0)
    battery: float | None = Field(description="Last battery_pct reported in the 24 h.")
    faults_24h: int | None = Field(ge=0)
    alerts_24h: int = Field(ge=0)
    anomaly: list[AnomalyLevelOut] = Field(
        default_factory=list,
        description="Each anomaly rule watching the device (not in the CSV export).",
    )
