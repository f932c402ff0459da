"""A light multi-object tracker: motion blobs matched to tracks by overlap, then distance.

Good enough for zone dwell, line crossing and fall speed on a fixed camera; it has no
appearance model, so two people who merge into one blob share a track until they part.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.camera.motion import Blob

Box = tuple[float, float, float, float]  # x, y, w, h as fractions of the frame


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass(slots=True)
class Track:
    id: int
    first_ts: float
    box: Box
    last_ts: float = 0.0
    hits: int = 1
    missed: int = 0
    path: list[tuple[float, float, float]] = field(default_factory=list)  # ts, cx, cy

    @property
    def centroid(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2] / 2, self.box[1] + self.box[3] / 2)

    @property
    def foot(self) -> tuple[float, float]:
        """Bottom centre: where a person or vehicle stands, which is what floor zones mean."""
        return (self.box[0] + self.box[2] / 2, self.box[1] + self.box[3])

    def update(self, ts: float, box: Box) -> None:
        self.box, self.last_ts, self.missed = box, ts, 0
        self.hits += 1
        cx, cy = self.centroid
        self.path.append((ts, cx, cy))
        del self.path[:-30]  # enough for speeds and crossings, bounded


class Tracker:
    def __init__(self, max_missed: int = 5, max_jump: float = 0.15, min_iou: float = 0.1) -> None:
        self.max_missed = max_missed  # frames a track survives without a blob
        self.max_jump = max_jump  # farthest centroid move per frame, as a fraction of the frame
        self.min_iou = min_iou
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, ts: float, blobs: list[Blob], shape: tuple[int, int]) -> list[Track]:
        """Match this frame's blobs; returns the tracks seen in this frame."""
        h, w = shape
        boxes = [(b.x / w, b.y / h, b.w / w, b.h / h) for b in blobs]
        pairs = sorted(
            (self._cost(t, box), tid, i)
            for tid, t in self.tracks.items()
            for i, box in enumerate(boxes)
        )
        used_t: set[int] = set()
        used_b: set[int] = set()
        for cost, tid, i in pairs:
            if cost >= 1.0 or tid in used_t or i in used_b:
                continue
            used_t.add(tid)
            used_b.add(i)
            self.tracks[tid].update(ts, boxes[i])
        for tid in list(self.tracks):
            if tid not in used_t:
                self.tracks[tid].missed += 1
                if self.tracks[tid].missed > self.max_missed:
                    del self.tracks[tid]
        for i, box in enumerate(boxes):
            if i not in used_b:
                track = Track(self._next_id, ts, box, last_ts=ts)
                track.path.append((ts, *track.centroid))
                self.tracks[track.id] = track
                self._next_id += 1
        return [t for t in self.tracks.values() if t.missed == 0]

    def _cost(self, track: Track, box: Box) -> float:
        """0 (same place) .. 1 (no match): overlap first, centre distance for small fast ones."""
        overlap = iou(track.box, box)
        if overlap >= self.min_iou:
            return 1.0 - overlap
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        tx, ty = track.centroid
        dist = ((cx - tx) ** 2 + (cy - ty) ** 2) ** 0.5 / (self.max_jump * (track.missed + 1))
        return 0.5 + 0.5 * dist if dist < 1.0 else 1.0
