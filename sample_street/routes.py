"""The sample street's routing tree: who is told about what, and how fast it escalates.

Fire reaches the operations centre and the fire brigade at once; people trapped in a
lift reach the guard room and the lift's maintenance unit and escalate within minutes;
an agent's outage is one notification (grouped by agent) for the maintainers.
"""

from __future__ import annotations

FRONT_LINE = ["guard_room", "console", "property", "volunteers"]
FIRE_TYPES = ["fire.alarm", "fire.smoke", "fire.heat", "fire.gas", "camera.smoke"]


def routes() -> dict[str, object]:
    return {
        "receivers": FRONT_LINE,
        "escalate_after_s": 600,
        "renotify_after_s": 3600,
        "routes": [
            {
                "name": "fire",
                "match": {"type": FIRE_TYPES, "severity": ["critical"]},
                "receivers": [*FRONT_LINE, "maintenance", "district", "operations", "fire-brigade"],
                "escalate_after_s": 60,
                "renotify_after_s": 600,
            },
            {
                "name": "fire-facilities",
                "match": {"type": ["fire.*"]},
                "receivers": ["guard_room", "property", "maintenance"],
            },
            {
                "name": "people-in-lifts",
                "match": {"type": ["elevator.trapped", "elevator.emergency_call"]},
                "receivers": ["guard_room", "console", "property", "maintenance"],
                "escalate_after_s": 180,
                "renotify_after_s": 900,
            },
            {
                "name": "lifts",
                "match": {"device_type": ["elevator"]},
                "receivers": ["property", "maintenance"],
                "escalate_after_s": 1800,
            },
            {
                "name": "device-health",
                "match": {"type": ["device.*"]},
                "receivers": ["maintenance"],
                "group_by": ["agent", "rule"],
                "escalate_after_s": 3600,
            },
            {
                "name": "street-order",
                "match": {"type": ["camera.vehicle_dwell", "camera.fire_lane_blocked"]},
                "receivers": ["guard_room", "console", "city-squad"],
            },
            {
                "name": "security",
                "match": {"device_type": ["camera"]},
                "receivers": ["guard_room", "console"],
                "routes": [
                    {
                        "name": "falling-objects",
                        "match": {"type": ["camera.falling_object"]},
                        "receivers": ["guard_room", "console", "police-liangcheng"],
                        "escalate_after_s": 300,
                    }
                ],
            },
        ],
    }
