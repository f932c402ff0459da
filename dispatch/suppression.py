"""Why an alert should not notify anyone: a silence, or an inhibiting alert or mode.

Suppressed alerts are still stored and on the alert log (nothing is lost, the boards
show them); they are not published, not escalated and open no incident.

Inhibition: a confirmed fire in a building makes that building's sensor faults noise
(detectors burn, panels lose power), and an elevator in inspection or out-of-service
mode is being worked on, so its fault reports are expected. People trapped in a car
or pressing the emergency button are never inhibited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any

from config.registry import in_scope
from gridwatch.records import Alert

CONFIRMED_FIRE = ("fire.alarm", "fire.confirmed")
SENSOR_FAULTS = ("fire.fault", "fire.power_fault", "fire.disabled", "device.*")
ELEVATOR_FAULTS = ("elevator.*",)
NEVER_INHIBITED = ("elevator.trapped", "elevator.emergency_call")
MAINTENANCE_MODES = frozenset({1, 3})  # GB/T 24476 status: inspection, out of service
SILENCE_KEYS = ("type", "severity", "device_type", "grid", "building", "device", "rule")


def _any(value: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(value, p) for p in patterns)


@lru_cache(maxsize=4096)
def _is(alert_type: str, patterns: tuple[str, ...]) -> bool:
    """`_any` for the fixed pattern lists above, asked for every alert (issue 16)."""
    return _any(alert_type, patterns)


def silence_matches(matchers: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Every matcher must hold; `grid` is a subtree, `type` may use '*', lists are OR."""
    for key, want in matchers.items():
        value = labels.get(key, "")
        options = want if isinstance(want, list) else [want]
        if key == "grid":
            ok = any(in_scope(value, str(o)) for o in options)
        else:
            ok = _any(value, [str(o) for o in options])
        if not ok:
            return False
    return True


class Inhibitor:
    """Firing confirmed fires per (area, building) and elevator modes, in memory;
    rebuilt from the store's firing alerts at start."""

    def __init__(self) -> None:
        self._fires: dict[tuple[str, str], set[int]] = {}
        self._modes: dict[str, int] = {}

    def observe(self, alert: Alert, area: str) -> None:
        if not _is(alert.type, CONFIRMED_FIRE):
            return
        ids = self._fires.setdefault((area, alert.building), set())
        if alert.status == "firing":
            ids.add(alert.id)
        else:
            ids.discard(alert.id)

    def clear_fires(self) -> None:
        """Forget every fire (before observing the store's firing alerts again)."""
        self._fires.clear()

    def set_mode(self, device: str, mode: int) -> None:
        self._modes[device] = mode

    def reason(self, alert: Alert, area: str) -> str | None:
        if _is(alert.type, NEVER_INHIBITED):
            return None
        if _is(alert.type, SENSOR_FAULTS) and self._fires.get((area, alert.building)):
            return f"inhibited: confirmed fire in building {alert.building}"
        mode = self._modes.get(alert.device)
        if mode in MAINTENANCE_MODES and _is(alert.type, ELEVATOR_FAULTS):
            return f"inhibited: elevator {alert.device} in maintenance mode {mode}"
        return None
