"""Configuration models: the YAML a street office edits, validated strictly.

Every model inherits one strict base, so an unknown or misspelt key is an error
instead of a silently ignored setting. Cross-references (a device's agent, grid,
maintainer) are checked by `config.validate`, which sees the whole configuration.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from config.models_routes import RouteSpec
    from config.models_rules import (
        AnomalyRuleSpec,
        CameraRuleSpec,
        CorrelationSpec,
        ElevatorRulesSpec,
        FlatlineRuleSpec,
        NoisyRuleSpec,
        RangeRuleSpec,
        RateRuleSpec,
    )

DeviceType = Literal[
    "camera",
    "elevator",
    "smoke_detector",
    "heat_detector",
    "gas_detector",
    "hydrant_pressure",
    "sprinkler_pressure",
    "water_tank",
    "fire_panel",
]
DEVICE_TYPES: tuple[str, ...] = DeviceType.__args__  # type: ignore[attr-defined]

Severity = Literal["critical", "major", "minor", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("critical", "major", "minor", "warning", "info")
Role = Literal["ops", "guard", "maintenance", "admin"]
GridKind = Literal["street", "district", "area", "micro"]
ReceiverKind = Literal[
    "guard_room",
    "console",
    "property",
    "maintenance",
    "volunteers",
    "district",
    "operations",
    "outside",
]

NODE_ID = r"^[a-z0-9][a-z0-9_-]{0,31}$"
GRID_PATH = r"^[a-z0-9][a-z0-9_-]{0,31}(/[a-z0-9][a-z0-9_-]{0,31}){0,3}$"
OBJECT_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
DUTY_HOURS = r"^(always|([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9])$"


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class GridNodeSpec(Strict):
    id: str = Field(pattern=NODE_ID, description="Node id, unique among its siblings.")
    name: str = Field(min_length=1, description="Display name (Chinese).")
    name_en: str | None = Field(default=None, description="Display name in English.")
    children: list[GridNodeSpec] = Field(
        default_factory=list,
        description="Sub-grids: street -> districts -> residential areas -> micro-grids.",
    )


class AgentSpec(Strict):
    id: str = Field(pattern=NODE_ID, description="Agent id; the second level of its MQTT topics.")
    area: str = Field(pattern=GRID_PATH, description="Grid path of the residential area it serves.")
    name: str = Field(min_length=1, description="Where it runs, e.g. the area's console PC.")


class MaintainerSpec(Strict):
    id: str = Field(pattern=OBJECT_ID)
    name: str = Field(min_length=1)
    kind: Literal["property", "elevator", "fire", "camera"] = Field(
        description="What the unit looks after."
    )


class DeviceSpec(Strict):
    id: str = Field(pattern=OBJECT_ID, description="Device id, unique in the street.")
    type: DeviceType
    agent: str = Field(description="The edge agent the device reports through.")
    grid: str = Field(pattern=GRID_PATH, description="Grid path of the device's micro-grid.")
    building: str = Field(min_length=1, description="Building number within the area.")
    floor: int = Field(ge=-5, le=100)
    maintainer: str = Field(description="Maintenance unit id.")
    interval_s: float = Field(gt=0, le=86400, description="Expected reporting interval.")


class ReceiverSpec(Strict):
    id: str = Field(pattern=OBJECT_ID)
    name: str = Field(min_length=1)
    kind: ReceiverKind
    grid: str = Field(pattern=GRID_PATH, description="Grid node the receiver is attached to.")
    on_duty: str = Field(
        default="always",
        pattern=DUTY_HOURS,
        description="'always' or local hours 'HH:MM-HH:MM' (Asia/Shanghai).",
    )
    maintainer: str | None = Field(
        default=None, description="For maintenance receivers: the unit whose devices they get."
    )
    device_types: list[DeviceType] | None = Field(
        default=None, description="Only alerts of these device types (all when omitted)."
    )
    webhook: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="Outside units: alerts and dispatched incidents are POSTed here (JSON).",
    )


class ThresholdRuleSpec(Strict):
    id: str = Field(pattern=OBJECT_ID, description="Rule id; part of the alert fingerprint.")
    device_type: DeviceType
    metric: str = Field(min_length=1)
    direction: Literal["above", "below"] = Field(description="Fire when above or below.")
    fire_at: float = Field(description="Value at which the condition starts.")
    clear_at: float = Field(description="Value past which it clears (hysteresis).")
    min_duration_s: float = Field(default=0.0, ge=0, description="Condition must hold this long.")
    severity: Severity
    alert_type: str = Field(pattern=r"^[a-z]+(\.[a-z_]+)+$", description="Dotted alert type.")
    summary: str = Field(min_length=1, description="Summary; {device} and {value} are filled in.")
    overrides: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Per-device overrides of fire_at / clear_at / min_duration_s.",
    )


class OfflineRuleSpec(Strict):
    factor: float = Field(
        default=3.0, gt=1, description="Offline after this many expected intervals of silence."
    )
    grace_s: float = Field(default=30.0, ge=0, description="Added to the silence allowance.")
    severity: Severity = "major"


class EventRuleSpec(Strict):
    event_type: str = Field(pattern=r"^[a-z]+\.[a-z_]+$")
    severity: Severity
    summary: str = Field(min_length=1)


class RulesSpec(Strict):
    thresholds: list[ThresholdRuleSpec] = Field(default_factory=list)
    offline: OfflineRuleSpec = Field(default_factory=OfflineRuleSpec)
    events: list[EventRuleSpec] = Field(default_factory=list)
    # The rule library (config.models_rules); completed at the end of this module.
    rates: list[RateRuleSpec] = Field(default_factory=list)
    ranges: list[RangeRuleSpec] = Field(default_factory=list)
    flatlines: list[FlatlineRuleSpec] = Field(default_factory=list)
    noisy: list[NoisyRuleSpec] = Field(default_factory=list)
    anomalies: list[AnomalyRuleSpec] = Field(default_factory=list)
    elevator: ElevatorRulesSpec | None = None
    cameras: list[CameraRuleSpec] = Field(default_factory=list)
    correlation: CorrelationSpec | None = None


class TokenSpec(Strict):
    id: str = Field(pattern=OBJECT_ID)
    name: str = Field(min_length=1)
    role: Role
    grid: str | None = Field(default=None, pattern=GRID_PATH)
    maintainer: str | None = None
    sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="SHA-256 (hex) of the whole token string."
    )
    expires: datetime | None = None


class StreetConfig(Strict):
    version: Literal[1] = 1
    street: GridNodeSpec
    agents: list[AgentSpec] = Field(default_factory=list)
    maintainers: list[MaintainerSpec] = Field(default_factory=list)
    devices: list[DeviceSpec] = Field(default_factory=list)
    receivers: list[ReceiverSpec] = Field(default_factory=list)
    rules: RulesSpec = Field(default_factory=RulesSpec)
    tokens: list[TokenSpec] = Field(default_factory=list)
    routes: RouteSpec | None = Field(
        default=None, description="The routing tree's root; built-in routing when absent."
    )


# Last: the rule library completes `RulesSpec`, then the routing models `StreetConfig`.
from config import models_rules  # noqa: E402, F401

# isort: split
from config import models_routes  # noqa: E402, F401
