"""Which incident an alert belongs to: one real-world event, one incident.

The groups come from the configuration's `incidents:` (or the built-in ones below): the
first group whose matcher takes the alert decides its key (`group_by` labels) and its
window. A fire is one incident per building (smoke, heat, the panel's alarm at one of
the building's points, the confirmation, the CO it gives off); an elevator's alerts are
one per car; a camera's one per camera and zone. An alert of no group opens an incident
of its own only when it is critical (as before groups existed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from config.locations import floor_name
from config.models_routes import IncidentGroupSpec, IncidentsSpec, MatchSpec
from config.registry import Registry
from dispatch.routes import Matcher
from gridwatch.records import Alert
from store.interfaces import IncidentFacts

SEVERITY_RANK = {"info": 0, "warning": 1, "minor": 2, "major": 3, "critical": 4}
FIRE_TYPES = [
    "fire.alarm", "fire.smoke", "fire.heat", "fire.heat_rise", "fire.gas", "fire.confirmed",
    "camera.smoke",
]

DEFAULT_INCIDENTS = IncidentsSpec(
    ack_target_s=120.0,
    groups=[
        IncidentGroupSpec(
            name="fire", match=MatchSpec(type=FIRE_TYPES), group_by=["area", "building"],
            group_wait_s=10.0, group_interval_s=1800.0, open_at="critical",
            title="火情", title_en="Fire",
        ),
        IncidentGroupSpec(
            name="elevator", match=MatchSpec(device_type=["elevator"]), group_by=["device"],
            group_wait_s=10.0, group_interval_s=1800.0, open_at="critical",
            title="电梯", title_en="Elevator",
        ),
        IncidentGroupSpec(
            name="camera", match=MatchSpec(device_type=["camera"]),
            group_by=["device", "zone"], group_wait_s=10.0, group_interval_s=900.0,
            open_at="critical", title="视频", title_en="Camera",
        ),
    ],
)


def incident_labels(alert: Alert, registry: Registry) -> dict[str, str]:
    """The labels an incident group can key on; `building` and `floor` are the alert's
    location's (a panel's point), not necessarily the reporting device's."""
    device = registry.devices.get(alert.device)
    loc = alert.location or {}
    parts = alert.fingerprint.split(":")
    zone = parts[2] if alert.device_type == "camera" and len(parts) > 2 else "-"
    return {
        "type": alert.type, "severity": alert.severity, "device_type": alert.device_type,
        "grid": alert.grid, "building": alert.building, "device": alert.device,
        "rule": alert.rule, "area": registry.area_of(alert.grid),
        "agent": device.agent if device else "", "family": alert.type.split(".", 1)[0],
        "floor": str(loc.get("floor", device.floor if device else "")), "zone": zone,
    }


@dataclass(frozen=True, slots=True)
class Grouping:
    """Where an alert goes: its incident key, the facts of the incident it would open,
    and whether it may open one now (`wait_s` after it started when not critical)."""

    key: str
    facts: IncidentFacts
    opens: bool  # may open an incident by itself (severity >= open_at)
    wait_s: float  # how long a non-critical opener waits for its group to gather


def _title(prefix: str, loc: Mapping[str, object] | None, with_place: bool, en: bool) -> str:
    if not loc:
        return prefix
    if en:  # the English text is the whole location; the title is for the page's switch
        return f"{prefix}: {loc.get('text_en', '')}"
    floor = loc.get("floor")
    words = [loc.get("area"), loc.get("building"),
             floor_name(floor) if isinstance(floor, int) else None]
    if with_place:
        words.append(loc.get("place"))
    return f"{prefix}：{' '.join(str(w) for w in words if w)}"


class IncidentGrouper:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.spec = registry.config.incidents or DEFAULT_INCIDENTS
        self.groups = [(g, Matcher.of(g.match)) for g in self.spec.groups]

    @property
    def ack_target_s(self) -> float:
        return self.spec.ack_target_s

    def group_of(self, alert: Alert) -> Grouping:
        labels = incident_labels(alert, self.registry)
        for group, matcher in self.groups:
            if matcher.matches(labels):
                key = "|".join([group.name, *(labels[k] for k in group.group_by)])
                by_device = "device" in group.group_by
                facts = IncidentFacts(
                    title=_title(group.title, alert.location, by_device, en=False),
                    title_en=_title(group.title_en, alert.location, by_device, en=True),
                    severity=alert.severity, location=alert.location,
                    window_s=group.group_interval_s,
                )
                opens = SEVERITY_RANK.get(alert.severity, 0) >= SEVERITY_RANK[group.open_at]
                wait = 0.0 if alert.severity == "critical" else group.group_wait_s
                return Grouping(key, facts, opens, wait)
        # No group: a critical alert is an incident of its own, as it always was.
        key = f"{labels['area']}|{alert.device}|{alert.rule}"
        title = alert.summary or alert.type
        facts = IncidentFacts(title, title, alert.severity, alert.location, None)
        return Grouping(key, facts, alert.severity == "critical", 0.0)
