"""Route receiver selectors to receiver ids, and the receivers of each escalation level.

A kind selector ("guard_room") takes the nearest on-duty receivers of that kind up the
device's grid: a micro-grid's own gate first, else the area's. An id selector takes that
receiver when it is on duty. Nobody is ever chosen off duty, and when a selection
leaves nobody on duty the alert falls back up the grid to the nearest on-duty district
station or operations centre, so an alert is never routed only to people who are away.
"""

from __future__ import annotations

from collections.abc import Sequence

from config.models import DeviceSpec, ReceiverSpec
from config.models_routes import RECEIVER_KIND_SELECTORS
from config.registry import Registry, ancestors
from gridwatch.local_hours import in_window

FALLBACK_KINDS = frozenset({"district", "operations"})
# Escalation reaches people who own a grid node, not vendors or outside units.
ESCALATION_SKIPS = frozenset({"maintenance", "outside"})
# Level n of escalation is the n-th node up from the device: micro-grid, area,
# district, street (the operations centre).
LEVEL_NAMES = ("micro-grid", "area", "district", "operations centre")
MAX_LEVEL = len(LEVEL_NAMES)
DISTRICT_LEVEL = 3


def on_duty(receiver: ReceiverSpec, ts: float) -> bool:
    """Whether the receiver's duty hours (local time) cover `ts`."""
    return receiver.on_duty == "always" or in_window(receiver.on_duty, ts)


def interested(receiver: ReceiverSpec, device: DeviceSpec) -> bool:
    """Whether the receiver takes this device's alerts at all: its device types, and for a
    maintenance unit's receiver, only the devices that unit maintains."""
    if receiver.device_types is not None and device.type not in receiver.device_types:
        return False
    return receiver.maintainer is None or receiver.maintainer == device.maintainer


class ReceiverSelector:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.by_grid: dict[str, list[ReceiverSpec]] = {}
        for r in registry.receivers.values():
            self.by_grid.setdefault(r.grid, []).append(r)

    def _on_duty_at(self, path: str, device: DeviceSpec, ts: float) -> list[ReceiverSpec]:
        return [r for r in self.by_grid.get(path, []) if interested(r, device) and on_duty(r, ts)]

    def select(self, selectors: Sequence[str], device: DeviceSpec, ts: float) -> list[str]:
        chosen: list[str] = []
        levels = ancestors(device.grid)
        for sel in selectors:
            if sel in RECEIVER_KIND_SELECTORS:
                for path in levels:
                    found = [r.id for r in self._on_duty_at(path, device, ts) if r.kind == sel]
                    if found:
                        chosen.extend(found)
                        break
            elif (r := self.registry.receivers.get(sel)) is not None and on_duty(r, ts):
                chosen.append(r.id)
        if not chosen:
            chosen = self.fallback(device, ts)
        return list(dict.fromkeys(chosen))

    def fallback(self, device: DeviceSpec, ts: float) -> list[str]:
        for path in ancestors(device.grid):
            found = [r.id for r in self._on_duty_at(path, device, ts) if r.kind in FALLBACK_KINDS]
            if found:
                return found
        return []

    def at_level(self, device: DeviceSpec, level: int, ts: float) -> list[str]:
        """On-duty receivers attached to the grid node `level` steps up (1: micro-grid)."""
        levels = ancestors(device.grid)
        if not 1 <= level <= len(levels):
            return []
        path = levels[level - 1]
        return [r.id for r in self._on_duty_at(path, device, ts) if r.kind not in ESCALATION_SKIPS]
