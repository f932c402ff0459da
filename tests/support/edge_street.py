"""A small street for edge-agent tests: one agent, two buildings, every device type."""

from __future__ import annotations

import time

from config.models import AgentSpec, DeviceSpec, GridNodeSpec, MaintainerSpec, StreetConfig
from config.registry import Registry

AGENT = "wy1-edge"
MICRO = "lc/d1/wy1/mg01"

# (id, type, building, floor)
DEVICES: list[tuple[str, str, str, int]] = [
    ("wy1-b01-smk-0301", "smoke_detector", "1", 3),
    ("wy1-b01-smk-0501", "smoke_detector", "1", 5),
    ("wy1-b01-het-0101", "heat_detector", "1", 1),
    ("wy1-b01-gas-0101", "gas_detector", "1", 1),
    ("wy1-b01-elv-0101", "elevator", "1", 1),
    ("wy1-b01-cam-0101", "camera", "1", 1),
    ("wy1-b02-smk-0201", "smoke_detector", "2", 2),
    ("wy1-b02-het-0101", "heat_detector", "2", 1),
    ("wy1-b02-hyd-1201", "hydrant_pressure", "2", 12),
    ("wy1-b02-spr-1201", "sprinkler_pressure", "2", 12),
    ("wy1-b02-tnk-1301", "water_tank", "2", 13),
    ("wy1-b02-fap-0101", "fire_panel", "2", 1),
    ("wy1-b02-pmp-0101", "fire_pump", "2", 1),
    ("wy1-b02-elv-0101", "elevator", "2", 1),
    ("wy1-b02-cam-0101", "camera", "2", 1),
]


def small_registry(interval_s: float = 30.0, agent: str = AGENT) -> Registry:
    street = GridNodeSpec(
        id="lc",
        name="凉城新村街道",
        children=[
            GridNodeSpec(
                id="d1",
                name="一片区",
                children=[
                    GridNodeSpec(
                        id="wy1", name="文苑一村", children=[GridNodeSpec(id="mg01", name="一")]
                    )
                ],
            )
        ],
    )
    devices = [
        DeviceSpec(
            id=device_id,
            type=device_type,  # type: ignore[arg-type]
            agent=agent,
            grid=MICRO,
            building=building,
            floor=floor,
            maintainer="m1",
            interval_s=interval_s,
        )
        for device_id, device_type, building, floor in DEVICES
    ]
    config = StreetConfig(
        street=street,
        agents=[AgentSpec(id=agent, area="lc/d1/wy1", name="console PC")],
        maintainers=[MaintainerSpec(id="m1", name="property", kind="property")],
        devices=devices,
    )
    return Registry.from_config(config)


class FastClock:
    """Wall time running `speed` times faster from now on, so that a scripted incident of
    twenty seconds plays out in two, through the real threads and the real broker."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._origin = time.time()
        self._mono = time.monotonic()

    def __call__(self) -> float:
        return self._origin + (time.monotonic() - self._mono) * self.speed
