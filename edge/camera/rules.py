"""What each zone sees in one frame: conditions for episodes, and instant events.

Floor zones (intrusion) test where a tracked object stands (the bottom of its box),
so a head that overlaps a zone drawn on the floor does not count. Dwell zones
(loitering, no parking, fire lane) test how much of the zone is covered by what moves
or stands still, which survives a tracker losing a person who stands still for long.
There is no object classifier: a "vehicle" in a no-parking zone is anything covering
`min_fill` of it, so draw those zones about one car in size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge.camera.tracker import Track
from edge.camera.zones import Zone

ZONE_EVENTS = {
    "intrusion": "camera.intrusion",
    "loitering": "camera.loitering",
    "no_parking": "camera.vehicle_dwell",
    "fire_lane": "camera.fire_lane_blocked",
}


@dataclass(frozen=True, slots=True)
class Observation:
    type: str
    zone: str | None
    on: bool
    score: float
    attrs: dict[str, Any] = field(default_factory=dict)


def zone_condition(
    zone: Zone, ts: float, tracks: list[Track], covered: NDArray[np.bool_], min_hits: int
) -> Observation | None:
    """The zone's condition in this frame (None for zones that only make instant events).

    `covered`: the pixels inside the zone that move or stand out from the long-term view.
    """
    event_type = ZONE_EVENTS.get(zone.kind)
    if event_type is None:
        return None
    if not zone.active(ts):
        return Observation(event_type, zone.name, False, 0.0)
    if zone.kind == "intrusion":
        inside = [t for t in tracks if t.hits >= min_hits and zone.contains(*t.foot)]
        # confidence grows with how long the object has been tracked, saturating at 10 frames
        score = max((min(1.0, t.hits / 10.0) for t in inside), default=0.0)
        return Observation(event_type, zone.name, bool(inside), score, {"objects": len(inside)})
    fill = float(covered.mean()) if covered.size else 0.0
    score = min(1.0, fill / (2.0 * zone.min_fill)) if zone.min_fill > 0 else 1.0
    attrs = {"fill": round(fill, 3)}
    return Observation(event_type, zone.name, fill >= zone.min_fill, score, attrs)


def line_crossings(zone: Zone, tracks: list[Track], min_hits: int) -> list[Observation]:
    out = []
    for t in tracks:
        if t.hits < min_hits or len(t.path) < 2:
            continue
        (_, x0, y0), (_, x1, y1) = t.path[-2], t.path[-1]
        direction = zone.crossed((x0, y0), (x1, y1))
        if direction and zone.direction in ("any", direction):
            score = min(1.0, t.hits / 10.0)
            attrs = {"direction": direction, "track": t.id}
            out.append(Observation("camera.line_crossing", zone.name, True, score, attrs))
    return out


def falling(zone: Zone, tracks: list[Track], min_speed: float) -> list[Track]:
    """Tracks on a building face moving down fast, mostly vertically, and not slowing.

    `min_speed` is in frame heights per second; a thrown object falls faster the longer
    it falls, so its second half must be at least as fast as its first.
    """
    found = []
    for t in tracks:
        pts = t.path[-6:]
        if len(pts) < 4 or not zone.contains(pts[0][1], pts[0][2]):
            continue
        dt = pts[-1][0] - pts[0][0]
        dx, dy = pts[-1][1] - pts[0][1], pts[-1][2] - pts[0][2]
        if dt <= 0 or dy / dt < min_speed or abs(dx) > 0.5 * dy:
            continue
        mid = len(pts) // 2
        first = (pts[mid][2] - pts[0][2]) / max(pts[mid][0] - pts[0][0], 1e-6)
        second = (pts[-1][2] - pts[mid][2]) / max(pts[-1][0] - pts[mid][0], 1e-6)
        if second >= first:
            found.append(t)
    return found
