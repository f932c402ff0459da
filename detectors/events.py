"""Event rules: the fast path. Each DeviceEvent is decided on arrival, with no batch or
timer in between, because fire alarms must not wait behind telemetry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from config.models import DeviceSpec, EventRuleSpec
from detectors.slots import render_summary
from gridwatch.records import AlertChange, ChangeKind, DeviceEvent

FIRE_RESET = "fire.reset"
RESET_DEVICE_TYPE = "fire_panel"


def event_fingerprint(event_type: str, device: str, zone: str | None) -> str:
    return f"{event_type}:{device}:{zone or '-'}"


def panel_point(event: DeviceEvent) -> tuple[object, object] | None:
    """The (loop, point) a fire panel's event names in its attrs, raw; None without both."""
    loop, point = event.attrs.get("loop"), event.attrs.get("point")
    return None if loop is None or point is None else (loop, point)


def _where(event: DeviceEvent) -> str | None:
    """What tells one alert of a device from another: the zone, or a panel's point
    (two detectors on one panel are two alerts, each at its own place)."""
    point = panel_point(event)
    return event.zone if point is None else f"L{point[0]}P{point[1]}"


class EventDetector:
    def __init__(self, devices: Mapping[str, DeviceSpec], rules: Iterable[EventRuleSpec]) -> None:
        self.devices = devices
        self.rules = {r.event_type: r for r in rules}
        # Per device, the event alerts believed firing, so a panel reset can resolve them.
        self.firing: dict[str, dict[str, EventRuleSpec]] = {}

    def process(self, event: DeviceEvent) -> list[AlertChange]:
        spec = self.devices.get(event.device)
        if spec is None:
            return []
        if event.type == FIRE_RESET and spec.type == RESET_DEVICE_TYPE:
            return self._reset(event)
        rule = self.rules.get(event.type)
        if rule is None:
            return []
        fingerprint = event_fingerprint(event.type, event.device, _where(event))
        mine = self.firing.setdefault(event.device, {})
        kind: ChangeKind
        if event.state == "end":
            mine.pop(fingerprint, None)
            # Resolving an alert the store already resolved is harmless; missing one is not.
            kind = "resolve"
        else:
            # A start always asks to fire: the alert store turns it into an update of a
            # firing alert, and raises the alert when none exists (its first write failed,
            # or the store lost it), which an "update" would silently drop.
            kind = "update" if fingerprint in mine and event.state == "update" else "fire"
            mine[fingerprint] = rule
        return [_rule_change(kind, fingerprint, rule, event, event.score)]

    def _reset(self, event: DeviceEvent) -> list[AlertChange]:
        mine = self.firing.get(event.device, {})
        done = [fp for fp, rule in mine.items() if rule.event_type.startswith("fire.")]
        return [_rule_change("resolve", fp, mine.pop(fp), event, None) for fp in done]

    def restore(self, fingerprint: str, device: str) -> bool:
        """Remember an event alert firing in the store; False if no rule or device matches."""
        event_type = fingerprint.split(":", 1)[0]
        rule = self.rules.get(event_type)
        if rule is None or device not in self.devices:
            return False
        if not fingerprint.startswith(f"{event_type}:{device}:"):
            return False
        self.firing.setdefault(device, {})[fingerprint] = rule
        return True


def event_change(
    kind: ChangeKind,
    fingerprint: str,
    rule_id: str,
    alert_type: str,
    severity: str,
    summary: str,
    event: DeviceEvent,
    value: float | None,
) -> AlertChange:
    """The alert change an event-driven rule decides; shared by the camera rules."""
    return AlertChange(
        kind=kind,
        fingerprint=fingerprint,
        rule=rule_id,
        type=alert_type,
        severity=severity,
        device=event.device,
        ts=event.ts,
        value=value,
        summary=render_summary(summary, event.device, value, alert_type, event.zone),
        point=panel_point(event),
    )


def _rule_change(
    kind: ChangeKind, fp: str, rule: EventRuleSpec, event: DeviceEvent, value: float | None
) -> AlertChange:
    t = rule.event_type
    return event_change(kind, fp, t, t, rule.severity, rule.summary, event, value)
