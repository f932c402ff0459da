"""The resolved runtime registry: the single source of truth about devices and grids.

Built from a validated `StreetConfig`. The YAML tree stays in `config.models`; this is
the flat, indexed form the hot paths use (device lookups, grid ancestry, scopes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from config.locations import Locator
from config.models import (
    AgentSpec,
    DeviceSpec,
    GridKind,
    GridNodeSpec,
    MaintainerSpec,
    ReceiverSpec,
    RulesSpec,
    StreetConfig,
    TokenSpec,
)
from gridwatch.grid_path import area_of

GRID_KINDS: tuple[GridKind, ...] = ("street", "district", "area", "micro")


@dataclass(frozen=True, slots=True)
class GridNode:
    path: str  # e.g. "lc/d2/wy1/mg07"
    id: str
    name: str
    name_en: str | None
    kind: GridKind
    parent: str | None  # parent path
    children: tuple[str, ...]  # child paths


def in_scope(path: str, scope: str | None) -> bool:
    """True when grid `path` is `scope` or below it; a None scope is the whole street."""
    return scope is None or path == scope or path.startswith(scope + "/")


def ancestors(path: str) -> list[str]:
    """The path itself and every ancestor, nearest first: a/b/c -> [a/b/c, a/b, a]."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


@dataclass
class Registry:
    config: StreetConfig
    grids: dict[str, GridNode] = field(default_factory=dict)
    devices: dict[str, DeviceSpec] = field(default_factory=dict)
    agents: dict[str, AgentSpec] = field(default_factory=dict)
    maintainers: dict[str, MaintainerSpec] = field(default_factory=dict)
    receivers: dict[str, ReceiverSpec] = field(default_factory=dict)
    tokens: dict[str, TokenSpec] = field(default_factory=dict)
    locator: Locator | None = None

    @classmethod
    def from_config(cls, config: StreetConfig) -> Registry:
        reg = cls(config=config)
        reg._add_node(config.street, parent=None, depth=0)
        reg.devices = {d.id: d for d in config.devices}
        reg.agents = {a.id: a for a in config.agents}
        reg.maintainers = {m.id: m for m in config.maintainers}
        reg.receivers = {r.id: r for r in config.receivers}
        reg.tokens = {t.id: t for t in config.tokens}
        reg.locator = Locator(config.street, reg.devices)
        return reg

    def _add_node(self, spec: GridNodeSpec, parent: str | None, depth: int) -> None:
        path = spec.id if parent is None else f"{parent}/{spec.id}"
        kind = GRID_KINDS[min(depth, len(GRID_KINDS) - 1)]
        children = tuple(f"{path}/{c.id}" for c in spec.children)
        self.grids[path] = GridNode(path, spec.id, spec.name, spec.name_en, kind, parent, children)
        for child in spec.children:
            self._add_node(child, path, depth + 1)

    @property
    def street_path(self) -> str:
        return self.config.street.id

    @property
    def rules(self) -> RulesSpec:
        return self.config.rules

    def devices_of_agent(self, agent: str) -> list[DeviceSpec]:
        return [d for d in self.config.devices if d.agent == agent]

    def devices_in(self, scope: str | None) -> list[DeviceSpec]:
        """The devices at or below grid `scope` (the whole street for None)."""
        return [d for d in self.config.devices if in_scope(d.grid, scope)]

    def find_area(self, area_id: str) -> str | None:
        """The path of the residential area with node id `area_id`, if there is one."""
        return next(
            (p for p, n in self.grids.items() if n.kind == "area" and n.id == area_id), None
        )

    def area_of(self, grid_path: str) -> str:
        """The residential-area path that contains `grid_path` (first three levels)."""
        return area_of(grid_path)

    def location(self, device_id: str) -> dict[str, Any] | None:
        """The device's location (contract section 4), None for an unknown device."""
        return None if self.locator is None else self.locator.device(device_id)

    def where(
        self, device_id: str, point: tuple[object, object] | None = None
    ) -> tuple[dict[str, Any], str] | None:
        """(location, building id) of a device, or of a fire panel's (loop, point)."""
        return None if self.locator is None else self.locator.where(device_id, point)
