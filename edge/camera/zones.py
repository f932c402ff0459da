"""Polygon zones and lines of a camera view, with the hours they are watched.

Points are fractions of the frame width and height (0..1), so a zone drawn once holds
at any analysis resolution. Schedules are local hours in Shanghai (UTC+8, no daylight
saving), e.g. "22:00-06:00" for night only; a zone without a schedule is always on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from gridwatch.local_hours import in_window

ZoneKind = Literal["intrusion", "loitering", "no_parking", "fire_lane", "line", "building_face"]
Point = tuple[float, float]
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    kind: ZoneKind
    points: tuple[Point, ...]  # a polygon; for kind "line", the two ends A and B
    schedule: str | None = None
    dwell_s: float = 0.0  # loitering, parking, fire lane: how long before it is an event
    direction: Literal["any", "a_to_b", "b_to_a"] = "any"  # lines: which crossings count
    min_fill: float = 0.05  # dwell zones: share of the zone covered to count as occupied

    def __post_init__(self) -> None:
        wanted = 2 if self.kind == "line" else 3
        if len(self.points) < wanted or (self.kind == "line" and len(self.points) != 2):
            raise ValueError(f"zone {self.name}: a {self.kind} needs {wanted} points")
        if any(not (0.0 <= c <= 1.0) for p in self.points for c in p):
            raise ValueError(f"zone {self.name}: points are fractions of the frame (0..1)")
        if self.schedule is not None and not _HOURS.match(self.schedule):
            raise ValueError(f"zone {self.name}: schedule must look like 22:00-06:00")

    def active(self, ts: float) -> bool:
        """Whether `ts` (Unix seconds) falls inside the zone's local hours."""
        if self.schedule is None:
            return True
        return in_window(self.schedule, ts)

    def contains(self, x: float, y: float) -> bool:
        """Whether the point (fractions of the frame) lies inside the polygon or on its edge."""
        contour = np.array(self.points, dtype=np.float32).reshape(-1, 1, 2)
        return cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0

    def mask(self, shape: tuple[int, int]) -> NDArray[np.bool_]:
        """The polygon as a boolean mask at a frame size (h, w)."""
        h, w = shape
        canvas = np.zeros((h, w), dtype=np.uint8)
        pts = np.array([(x * (w - 1), y * (h - 1)) for x, y in self.points], dtype=np.int32)
        cv2.fillPoly(canvas, [pts], 255)
        return canvas > 0

    def side(self, x: float, y: float) -> float:
        """For a line: >0 on the left of A->B, <0 on the right (image coordinates)."""
        (ax, ay), (bx, by) = self.points[0], self.points[1]
        return (bx - ax) * (y - ay) - (by - ay) * (x - ax)

    def crossed(self, p: Point, q: Point) -> str | None:
        """"a_to_b"/"b_to_a" naming the side moved to if segment p->q crosses the line."""
        sp, sq = self.side(*p), self.side(*q)
        if sp == 0 or sq == 0 or (sp > 0) == (sq > 0):
            return None
        # the move must cross the segment itself, not the line's extension
        (ax, ay), (bx, by) = self.points
        line = Zone("_", "line", (p, q))
        if (line.side(ax, ay) > 0) == (line.side(bx, by) > 0):
            return None
        # left of A->B to right reads as crossing "a_to_b" (clockwise), the other way "b_to_a"
        return "a_to_b" if sp > 0 else "b_to_a"
