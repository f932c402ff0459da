"""Alerts that confirm or stand for one another.

- Fire: a smoke alert and a heat alert in the same building (area + building number)
  within `fire_window_s` confirm a fire: one critical `fire.confirmed` alert for the
  building, resolved once none of its smoke or heat alerts is firing any more.
- Agent offline: see `detectors.agent_offline`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from config.models import DeviceSpec
from config.models_rules import CorrelationSpec
from gridwatch.grid_path import area_of
from gridwatch.records import AlertChange, ChangeKind

FIRE_CONFIRMED = "fire.confirmed"


def building_key(spec: DeviceSpec) -> str:
    return f"{area_of(spec.grid)}#{spec.building}"


def confirmed_fingerprint(building: str) -> str:
    return f"{FIRE_CONFIRMED}:{building}"


class FireCorrelator:
    def __init__(self, spec: CorrelationSpec, devices: Mapping[str, DeviceSpec]) -> None:
        self.spec = spec
        self.devices = devices
        self.smoke = set(spec.smoke_types)
        self.heat = set(spec.heat_types)
        # building -> fingerprint -> (is smoke, last fire/update time) of firing alerts
        self.live: dict[str, dict[str, tuple[bool, float]]] = {}
        self.confirmed: dict[str, str] = {}  # building -> device named on its alert

    def observe(self, changes: Sequence[AlertChange]) -> list[AlertChange]:
        out: list[AlertChange] = []
        for change in changes:
            if change.type in self.smoke or change.type in self.heat:
                out += self._one(change)
        return out

    def _one(self, change: AlertChange) -> list[AlertChange]:
        device = self.devices.get(change.device)
        if device is None:
            return []
        building = building_key(device)
        live = self.live.setdefault(building, {})
        if change.kind == "resolve":
            live.pop(change.fingerprint, None)
            if live or building not in self.confirmed:
                return []
            named = self.confirmed.pop(building)
            return [self._change("resolve", building, named, change.ts, "fire no longer seen")]
        live[change.fingerprint] = (change.type in self.smoke, change.ts)
        recent = [smoke for smoke, t in live.values() if change.ts - t <= self.spec.fire_window_s]
        if building in self.confirmed or not (any(recent) and not all(recent)):
            return []
        self.confirmed[building] = change.device
        return [self._change("fire", building, change.device, change.ts, "smoke and heat")]

    def restore(self, fingerprint: str, device: str) -> bool:
        if not fingerprint.startswith(f"{FIRE_CONFIRMED}:") or device not in self.devices:
            return False
        self.confirmed[fingerprint.removeprefix(f"{FIRE_CONFIRMED}:")] = device
        return True

    def _change(
        self, kind: ChangeKind, building: str, device: str, ts: float, why: str
    ) -> AlertChange:
        return AlertChange(
            kind=kind,
            fingerprint=confirmed_fingerprint(building),
            rule=FIRE_CONFIRMED,
            type=FIRE_CONFIRMED,
            severity="critical",
            device=device,
            ts=ts,
            value=None,
            summary=f"{building} 火情确认：{why}",
        )
