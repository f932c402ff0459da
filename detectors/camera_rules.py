"""Camera analysis events become alerts by rule: a zone, a schedule, a minimum dwell.

Events are rare next to readings, so each is decided on arrival (the fast path), like
the other events. Dwell comes from `attrs.dwell_s` when the edge reports it, otherwise
from the time since this track's `start`. Schedules are local hours in Asia/Shanghai,
which keeps UTC+8 all year (no daylight saving), so local time is a fixed offset.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace

from config.models import DeviceSpec
from config.models_rules import CameraRuleSpec
from detectors.events import event_change
from detectors.slots import render_summary
from gridwatch.local_hours import in_window
from gridwatch.records import AlertChange, ChangeKind, DeviceEvent


def in_schedule(schedule: str | None, ts: float) -> bool:
    """Whether `ts` falls in the rule's local hours; no schedule is always."""
    return schedule is None or in_window(schedule, ts)


def camera_fingerprint(rule_id: str, device: str, zone: str | None) -> str:
    return f"{rule_id}:{device}:{zone or '-'}"


class CameraRules:
    def __init__(self, specs: Iterable[CameraRuleSpec], devices: Mapping[str, DeviceSpec]) -> None:
        self.devices = devices
        self.rules: dict[str, CameraRuleSpec] = {}
        self.by_type: dict[str, list[CameraRuleSpec]] = defaultdict(list)
        for spec in specs:
            for device in spec.overrides:
                if getattr(devices.get(device), "type", None) != "camera":
                    raise ValueError(f"rule {spec.id}: override for {device}, not a camera")
            self.rules[spec.id] = spec
            self.by_type[spec.event_type].append(spec)
        self.firing: set[str] = set()
        self.started: dict[tuple[str, str, str | None], float] = {}

    def handles(self, event_type: str) -> bool:
        return event_type in self.by_type

    def process(self, event: DeviceEvent) -> list[AlertChange]:
        spec = self.devices.get(event.device)
        if spec is None or spec.type != "camera":
            return []
        track = (event.device, event.type, event.zone)
        if event.state == "start":
            self.started[track] = event.ts  # a start opens a new track
        began = self.started.get(track, event.ts)
        if event.state == "end":
            self.started.pop(track, None)
        changes: list[AlertChange] = []
        for rule in self.by_type.get(event.type, []):
            if rule.zones is not None and event.zone not in rule.zones:
                continue
            fingerprint = camera_fingerprint(rule.id, event.device, event.zone)
            firing = fingerprint in self.firing
            if event.state == "end":
                if firing:
                    self.firing.discard(fingerprint)
                    changes.append(_camera_change("resolve", fingerprint, rule, event, None))
                continue
            dwell = float(event.attrs.get("dwell_s", event.ts - began))
            needed = rule.overrides.get(event.device, {}).get("min_dwell_s", rule.min_dwell_s)
            if dwell < needed or not in_schedule(rule.schedule, event.ts):
                continue
            self.firing.add(fingerprint)
            kind: ChangeKind = "update" if firing else "fire"
            changes.append(_camera_change(kind, fingerprint, rule, event, dwell))
        return changes

    def restore(self, fingerprint: str, device: str) -> bool:
        rule = self.rules.get(fingerprint.split(":", 1)[0])
        if rule is None or not fingerprint.startswith(f"{rule.id}:{device}:"):
            return False
        self.firing.add(fingerprint)
        return True


def _camera_change(
    kind: ChangeKind,
    fingerprint: str,
    rule: CameraRuleSpec,
    event: DeviceEvent,
    value: float | None,
) -> AlertChange:
    # The summary names the event type that raised it, unlike a plain event rule's.
    change = event_change(
        kind, fingerprint, rule.id, rule.alert_type, rule.severity, rule.summary, event, value
    )
    summary = render_summary(rule.summary, event.device, value, event.type, event.zone)
    return replace(change, summary=summary)
