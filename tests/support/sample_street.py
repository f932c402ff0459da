"""Lookups in the sample street shared by the end-to-end tests."""

from __future__ import annotations

from config.registry import Registry, in_scope


def area_path(registry: Registry, area_id: str) -> str:
    path = registry.find_area(area_id)
    assert path is not None, f"the sample street has no area {area_id!r}"
    return path


def smoke_detector_in(registry: Registry, area: str) -> tuple[str, str]:
    """(device id, agent id) of the first smoke detector under grid `area`."""
    dev = next(
        d for d in registry.config.devices if d.type == "smoke_detector" and in_scope(d.grid, area)
    )
    return dev.id, dev.agent
