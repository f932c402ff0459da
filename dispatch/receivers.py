"""Who gets an alert: the receivers of the device's grid, by the registry, on duty.

The first version of routing (a configurable routing tree comes later): walk up from
the device's micro-grid to the first level that has someone on duty to handle it
(volunteers, guard rooms, the residents' committee console, the property company),
add the maintenance unit that looks after the device, and for critical alerts the
district grid and the operations centre. An alert is never routed only to people who
are off duty: if nobody below is on duty, the operations centre gets it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from config.models import DeviceSpec, ReceiverSpec
from config.registry import Registry, ancestors

# Shanghai keeps UTC+8 all year (no daylight saving), so a fixed offset is exact and
# needs no tz database on the console PC.
LOCAL_TZ = timezone(timedelta(hours=8))
FRONT_LINE = frozenset({"volunteers", "guard_room", "console", "property"})
ALWAYS_FOR_CRITICAL = frozenset({"district", "operations"})


def on_duty(receiver: ReceiverSpec, ts: float) -> bool:
    if receiver.on_duty == "always":
        return True
    start, end = receiver.on_duty.split("-")
    local = datetime.fromtimestamp(ts, UTC).astimezone(LOCAL_TZ)
    minute = local.hour * 60 + local.minute
    lo, hi = (int(x[:2]) * 60 + int(x[3:]) for x in (start, end))
    # A window like 20:00-08:00 runs over midnight.
    return lo <= minute < hi if lo <= hi else minute >= lo or minute < hi


def _interested(receiver: ReceiverSpec, device: DeviceSpec) -> bool:
    if receiver.device_types is not None and device.type not in receiver.device_types:
        return False
    return receiver.maintainer is None or receiver.maintainer == device.maintainer


class ReceiverIndex:
    """Receivers by grid node, built once from the registry."""

    def __init__(self, registry: Registry) -> None:
        self.by_grid: dict[str, list[ReceiverSpec]] = {}
        for r in registry.receivers.values():
            self.by_grid.setdefault(r.grid, []).append(r)

    def receivers_for(self, device: DeviceSpec, severity: str, ts: float) -> list[str]:
        chosen: list[str] = []
        levels = ancestors(device.grid)
        for path in levels:
            front = [
                r.id
                for r in self.by_grid.get(path, [])
                if r.kind in FRONT_LINE and _interested(r, device) and on_duty(r, ts)
            ]
            if front:
                chosen.extend(front)
                break
        for path in levels:
            for r in self.by_grid.get(path, []):
                maintains = r.kind == "maintenance" and r.maintainer == device.maintainer
                if (maintains and _interested(r, device) and on_duty(r, ts)) or (
                    severity == "critical" and r.kind in ALWAYS_FOR_CRITICAL
                ):
                    chosen.append(r.id)
        if not chosen:
            chosen = [
                r.id
                for path in levels
                for r in self.by_grid.get(path, [])
                if r.kind == "operations"
            ]
        return list(dict.fromkeys(chosen))
