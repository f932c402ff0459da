"""Route receiver selectors to receiver ids, and the receivers of each escalation level.

A kind selector ("guard_room") takes the nearest on-duty receivers of that kind up the
device's grid: a micro-grid's own gate first, else the area's. An id selector takes that
receiver when it is on duty. Nobody is ever chosen off duty, and when a selection
leaves nobody on duty the alert falls back up the grid to the nearest on-duty district
station or operations centre, so an alert is never routed only to people who are away.

Issue 16: what does not depend on the time is worked out once per device when the
configuration loads (per kind, the grid levels up the device's path with the
interested receivers of that kind), and a selection is remembered for the rest of the
clock minute: duty hours are whole local minutes, and Shanghai's offset is whole
minutes, so nobody's duty changes inside a UTC minute.
"""

from __future__ import annotations

from collections.abc import Sequence

from config.models import DeviceSpec, ReceiverSpec
from config.models_routes import RECEIVER_KIND_SELECTORS
from config.registry import Registry, ancestors
from gridwatch.local_hours import in_window

# Per kind: the levels up the device's grid (nearest first) with the receivers there
# of that kind who take the device's alerts; levels with nobody are left out.
KindTable = dict[str, list[list[ReceiverSpec]]]
# All that selection reads of a device: where it is, what it is, who maintains it.
# Devices alike in these share their tables and selections (a storm hits many).
Profile = tuple[str, str, str | None]


def profile_of(device: DeviceSpec) -> Profile:
    return (device.grid, device.type, device.maintainer)

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
        self.tables: dict[Profile, KindTable] = {}
        for d in registry.devices.values():
            self._table_of(d)
        self._minute = -1
        self._cache: dict[tuple[Profile, tuple[str, ...]], list[str]] = {}

    def _table_of(self, device: DeviceSpec) -> KindTable:
        key = profile_of(device)
        table = self.tables.get(key)
        if table is None:
            table = self.tables[key] = self._table(device)
        return table

    def _table(self, device: DeviceSpec) -> KindTable:
        table: KindTable = {}
        for path in ancestors(device.grid):
            here: dict[str, list[ReceiverSpec]] = {}
            for r in self.by_grid.get(path, []):
                if interested(r, device):
                    here.setdefault(r.kind, []).append(r)
            for kind, found in here.items():
                table.setdefault(kind, []).append(found)
        return table

    def select_cached(self, selectors: tuple[str, ...], device: DeviceSpec, ts: float) -> list[str]:
        """`select`, remembered for the UTC minute of `ts` (see the module docstring).
        The list returned is shared: copy it before changing it."""
        minute = int(ts // 60)
        if minute != self._minute:
            self._minute, self._cache = minute, {}
        key = (profile_of(device), selectors)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self.select(selectors, device, ts)
        return found

    def _on_duty_at(self, path: str, device: DeviceSpec, ts: float) -> list[ReceiverSpec]:
        return [r for r in self.by_grid.get(path, []) if interested(r, device) and on_duty(r, ts)]

    def select(self, selectors: Sequence[str], device: DeviceSpec, ts: float) -> list[str]:
        chosen: list[str] = []
        table = self._table_of(device)
        for sel in selectors:
            if sel in RECEIVER_KIND_SELECTORS:
                for level in table.get(sel, ()):
                    found = [r.id for r in level if on_duty(r, ts)]
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
