"""People in the moving regions of a frame: OpenCV's HOG pedestrian detector.

HOG with OpenCV's default people coefficients (Dalal and Triggs), shipped inside
OpenCV: nothing to download. It is far too slow for every pixel of every frame, so it
only looks at regions the motion model (or a dwell zone) points at, each scaled so
that the region is about `region_height` pixels tall (the detector's window is 64x128:
a person must fill most of a region's height), and the analyzer calls it at a budgeted
rate, not per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.camera.cues import Image
from edge.camera.tracker import Box


@dataclass(frozen=True, slots=True)
class PeopleSettings:
    interval_s: float = 1.0  # one pass per camera this often, at most; 0 turns it off
    max_regions: int = 3  # the largest regions only: the cost per pass is bounded
    region_height: int = 144  # pixels a region (unpadded) is scaled to; the window is 128
    pad: float = 0.25  # context around a region, as a share of its size
    min_weight: float = 0.0  # the SVM margin a detection needs


class PeopleDetector:
    def __init__(self, settings: PeopleSettings | None = None) -> None:
        self.settings = settings or PeopleSettings()
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(
            np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32)
        )

    def detect(self, frame: Image, regions: list[Box]) -> list[Box]:
        """People (boxes as fractions of the frame) found in `regions` (the same)."""
        h, w = frame.shape[:2]
        s = self.settings
        found: list[Box] = []
        for rx, ry, rw, rh in regions[: s.max_regions]:
            x0, y0 = max(0, int((rx - s.pad * rw) * w)), max(0, int((ry - s.pad * rh) * h))
            x1 = min(w, int((rx + rw * (1 + s.pad)) * w))
            y1 = min(h, int((ry + rh * (1 + s.pad)) * h))
            if x1 - x0 < 8 or y1 - y0 < 8:
                continue
            scale = s.region_height / max(rh * h, 1.0)  # the region itself, not its pad
            crop = cv2.resize(frame[y0:y1, x0:x1], None, fx=scale, fy=scale,
                              interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
            if crop.shape[0] < 128 or crop.shape[1] < 64:
                crop = cv2.copyMakeBorder(crop, 0, max(0, 128 - crop.shape[0]), 0,
                                          max(0, 64 - crop.shape[1]), cv2.BORDER_REPLICATE)
            boxes, weights = self._hog.detectMultiScale(
                crop, winStride=(8, 8), padding=(8, 8), scale=1.1
            )
            for (bx, by, bw, bh), weight in zip(boxes, np.ravel(weights), strict=True):
                if weight >= s.min_weight:
                    found.append(((x0 + bx / scale) / w, (y0 + by / scale) / h,
                                  bw / scale / w, bh / scale / h))
        return found
