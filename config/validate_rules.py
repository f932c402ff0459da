"""Cross-reference checks of the rule library (config.models_rules), reported with
file:line like every other configuration problem: duplicate rule ids, overrides for
unknown devices or devices of another type, fields a rule does not let you override,
and fire/clear levels on the wrong side of each other."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from config.errors import Loc
from config.models import StreetConfig
from config.models_rules import (
    ELEVATOR_CONDITION_EVENTS,
    ELEVATOR_CONDITIONS,
    READING_RULE_LISTS,
)

Report = Callable[[Loc, str], None]
# (lower, higher) field pairs of the reading rules that have them
ORDERED = (
    ("clear_per_min", "fire_per_min"),
    ("clear_reversals", "fire_reversals"),
    ("low", "high"),
)


def check_rule_library(config: StreetConfig, report: Report) -> None:
    rules = config.rules
    types = {d.id: d.type for d in config.devices}
    seen: dict[str, Loc] = {
        r.id: ("rules", "thresholds", i) for i, r in enumerate(rules.thresholds)
    }
    for name in READING_RULE_LISTS:
        for index, rule in enumerate(getattr(rules, name)):
            loc: Loc = ("rules", name, index)
            if rule.id in seen:
                report((*loc, "id"), f"duplicate rule id '{rule.id}'")
            seen.setdefault(rule.id, loc)
            _overrides(
                report, loc, rule.id, rule.device_type, rule.overrides, rule.OVERRIDABLE, types
            )
            for low, high in ORDERED:
                if hasattr(rule, low) and getattr(rule, low) > getattr(rule, high):
                    report((*loc, low), f"rule '{rule.id}': {low} must not be above {high}")
    for index, rig in enumerate(rules.rig_anomalies):
        loc = ("rules", "rig_anomalies", index)
        if rig.id in seen:
            report((*loc, "id"), f"duplicate rule id '{rig.id}'")
        seen.setdefault(rig.id, loc)
        _overrides(report, loc, rig.id, rig.device_type, rig.overrides, rig.OVERRIDABLE, types)
    for index, camera in enumerate(rules.cameras):
        loc = ("rules", "cameras", index)
        if camera.id in seen:
            report((*loc, "id"), f"duplicate rule id '{camera.id}'")
        seen.setdefault(camera.id, loc)
        _overrides(report, loc, camera.id, "camera", camera.overrides, camera.OVERRIDABLE, types)
    if rules.elevator is not None:
        _elevator_claims(config, seen, report)
        spec = rules.elevator
        loc = ("rules", "elevator")
        _overrides(report, loc, "elevator", "elevator", spec.overrides, spec.OVERRIDABLE, types)
        if spec.bottom_floor >= spec.top_floor:
            report((*loc, "bottom_floor"), "elevator: bottom_floor must be below top_floor")


def _elevator_claims(config: StreetConfig, seen: Mapping[str, Loc], report: Report) -> None:
    """The elevator composites own their rule ids and the controller events of their
    conditions: another rule there would give one condition two alerts."""
    for rule_id in ELEVATOR_CONDITIONS:
        if rule_id in seen:
            report(
                (*seen[rule_id], "id"),
                f"rule id '{rule_id}' is an elevator composite's (rules.elevator); rename it",
            )
    for index, event in enumerate(config.rules.events):
        owner = ELEVATOR_CONDITION_EVENTS.get(event.event_type)
        if owner is not None:
            report(
                ("rules", "events", index, "event_type"),
                f"'{event.event_type}' raises the elevator composite '{owner}' "
                "(rules.elevator), one alert per condition; remove this event rule",
            )


def _overrides(
    report: Report,
    loc: Loc,
    rule_id: str,
    device_type: str,
    overrides: Mapping[str, Mapping[str, float]],
    allowed: tuple[str, ...],
    types: Mapping[str, str],
) -> None:
    for device, fields in overrides.items():
        where: Loc = (*loc, "overrides", device)
        actual = types.get(device)
        if actual is None:
            report(where, f"rule '{rule_id}': override for unknown device '{device}'")
        elif actual != device_type:
            report(
                where, f"rule '{rule_id}': override for '{device}', a {actual}, not a {device_type}"
            )
        for name in fields:
            if name not in allowed:
                report(
                    (*where, name),
                    f"rule '{rule_id}': cannot override '{name}' (allowed: {', '.join(allowed)})",
                )
