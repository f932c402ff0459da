"""Grid paths ('lc/d2/wy1/mg07': street, district, area, micro-grid), for the stages
and kernel modules that meet a path without the registry."""

from __future__ import annotations

AREA_DEPTH = 3  # street / district / residential area


def area_of(grid_path: str) -> str:
    """The residential-area path that contains `grid_path` (its first three levels)."""
    return "/".join(grid_path.split("/")[:AREA_DEPTH])
