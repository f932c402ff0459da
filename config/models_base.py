"""What every configuration model shares: the strict base and the enumerations and id
patterns the YAML is written in. Imports nothing of the other model modules, so
`models_rules`, `models_routes` and `models` (which gathers them) import one way."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

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
    "fire_pump",
]
DEVICE_TYPES: tuple[str, ...] = get_args(DeviceType)

Severity = Literal["critical", "major", "minor", "warning", "info"]
SEVERITIES: tuple[str, ...] = get_args(Severity)
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
_HOURS = r"([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9]"
LOCAL_HOURS = rf"^{_HOURS}$"  # 'HH:MM-HH:MM', Asia/Shanghai; an end of 24:00 is midnight
DUTY_HOURS = rf"^(always|{_HOURS})$"


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
