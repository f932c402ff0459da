"""Configuration models: the YAML a street office edits, validated strictly.

Every model inherits one strict base, so an unknown or misspelt key is an error
instead of a silently ignored setting. Cross-references (a device's agent, grid,
maintainer) are checked by `config.validate`, which sees the whole configuration.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from config.models_base import (
    DEVICE_TYPES,
    DUTY_HOURS,
    GRID_PATH,
    NODE_ID,
    OBJECT_ID,
    SEVERITIES,
    DeviceType,
    GridKind,
    ReceiverKind,
    Role,
    Severity,
    Strict,
)
from config.models_routes import IncidentsSpec, RouteSpec
from config.models_rules import EventRuleSpec, OfflineRuleSpec, RulesSpec, ThresholdRuleSpec

# Importers take these from here, the one face of the YAML's models.
__all__ = [
    "DEVICE_TYPES", "GRID_PATH", "NODE_ID", "OBJECT_ID", "SEVERITIES", "AgentSpec", "DeviceSpec",
    "DeviceType", "EventRuleSpec", "GridKind", "GridNodeSpec", "MaintainerSpec", "OfflineRuleSpec",
    "ReceiverKind", "ReceiverSpec", "Role", "RouteSpec", "RulesSpec", "Severity", "StreetConfig",
    "Strict", "ThresholdRuleSpec", "TokenSpec",
]


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


class PanelPointSpec(Strict):
    """One addressable point of a fire alarm control panel (loop and address on it).

    Where a person has to go when the panel reports it: the detector's own place when
    `device` names one in the registry (building and floor are then taken from it unless
    given here), otherwise building and floor must be written out."""

    loop: int = Field(ge=0, le=255, description="Loop (回路) number on the panel.")
    point: int = Field(ge=0, le=9999, description="Point (address) on the loop.")
    device: str | None = Field(default=None, description="The detector there, if registered.")
    building: str | None = Field(default=None, min_length=1)
    unit: str | None = Field(default=None, min_length=1)
    floor: int | None = Field(default=None, ge=-5, le=100)
    place: str | None = Field(default=None, min_length=1, description="e.g. 电梯前室.")


class DeviceSpec(Strict):
    id: str = Field(pattern=OBJECT_ID, description="Device id, unique in the street.")
    type: DeviceType
    agent: str = Field(description="The edge agent the device reports through.")
    grid: str = Field(pattern=GRID_PATH, description="Grid path of the device's micro-grid.")
    building: str = Field(
        min_length=1, description="Building within the area: a number (4 -> 4号楼) or a name."
    )
    floor: int = Field(ge=-5, le=100)
    maintainer: str = Field(description="Maintenance unit id.")
    interval_s: float = Field(gt=0, le=86400, description="Expected reporting interval.")
    unit: str | None = Field(
        default=None, min_length=1, description="Stairwell unit (单元): a number or a name."
    )
    place: str | None = Field(
        default=None, min_length=1, description="Where on the floor, e.g. 电梯前室, 地下车库B区."
    )
    commissioned: date | None = Field(
        default=None,
        description="In service since (local date): the health report judges uptime and "
        "gaps from its midnight (Shanghai) on, not before.",
    )
    points: list[PanelPointSpec] = Field(
        default_factory=list, description="Fire panels only: loop and point to a location."
    )


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
    incidents: IncidentsSpec | None = Field(
        default=None, description="Incident groups and the ack target; built-in when absent."
    )
