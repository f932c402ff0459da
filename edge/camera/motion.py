"""Background-subtraction motion masks and the moving blobs in them.

OpenCV's KNN subtractor with its defaults (F 0.803 on CDnet highway) loses on three
counts that outdoor traffic footage makes plain: it calls the dark parts of cars
"shadow", it leaves speckle noise from swaying trees and compression, and it leaves
holes inside vehicles whose colour matches the road. Hence, in order: a shadow test
that only accepts mild darkening as shadow (hard cast shadows are still darker than
0.6 of the background, car windows and tyres usually much darker), a median filter
for speckle, a closing to bridge the gaps, small blobs dropped, and blob holes filled.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]
FOREGROUND = 255  # the subtractors mark shadow with 127 and background with 0


@dataclass(frozen=True, slots=True)
class MotionSettings:
    algorithm: str = "knn"  # "knn" or "mog2"
    history: int = 500
    threshold: float = 400.0  # KNN: squared distance; MOG2: squared Mahalanobis distance
    shadow_ratio: float = 0.6  # darker than this share of the background is not shadow
    median: int = 5  # odd kernel size, 0 to skip
    close: int = 5  # closing kernel size, 0 to skip
    min_area_frac: float = 4e-4  # blobs smaller than this share of the frame are noise

    def __post_init__(self) -> None:
        if self.algorithm not in ("knn", "mog2"):
            raise ValueError(f"motion algorithm must be knn or mog2, not {self.algorithm!r}")
        if self.median and self.median % 2 == 0:
            raise ValueError("median kernel size must be odd")


@dataclass(frozen=True, slots=True)
class Blob:
    x: int
    y: int
    w: int
    h: int
    area: float  # pixels of the filled contour

    @property
    def centroid(self) -> tuple[float, float]:
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)


class MotionDetector:
    """One camera's background model; `apply` a frame, get its mask and blobs."""

    def __init__(self, settings: MotionSettings | None = None, roi: Image | None = None) -> None:
        self.settings = s = settings or MotionSettings()
        sub: cv2.BackgroundSubtractor
        if s.algorithm == "knn":
            knn = cv2.createBackgroundSubtractorKNN(
                history=s.history, dist2Threshold=s.threshold, detectShadows=True
            )
            knn.setShadowThreshold(s.shadow_ratio)
            sub = knn
        else:
            mog = cv2.createBackgroundSubtractorMOG2(
                history=s.history, varThreshold=s.threshold, detectShadows=True
            )
            mog.setShadowThreshold(s.shadow_ratio)
            sub = mog
        self._sub = sub
        self._roi = roi
        self._close = (
            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (s.close, s.close)) if s.close else None
        )

    def apply(self, frame: Image) -> tuple[Image, list[Blob]]:
        """The motion mask (255/0, frame size) and its blobs, largest first."""
        raw = self._sub.apply(frame)
        # shadow (127) and background (0) both become 0
        mask: Image = cv2.threshold(raw, FOREGROUND - 1, 255, cv2.THRESH_BINARY)[1].astype(np.uint8)
        if self._roi is not None:
            mask &= self._roi
        if self.settings.median:
            mask = cv2.medianBlur(mask, self.settings.median).astype(np.uint8)
        if self._close is not None:
            mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close).astype(np.uint8)
        return self._keep_large(mask)

    def background(self) -> Image:
        return self._sub.getBackgroundImage().astype(np.uint8)

    def _keep_large(self, mask: Image) -> tuple[Image, list[Blob]]:
        min_area = self.settings.min_area_frac * mask.shape[0] * mask.shape[1]
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        kept = [c for c in contours if cv2.contourArea(c) >= min_area]
        out: Image = np.zeros_like(mask)
        # drawing the outer contours filled is what fills the holes inside vehicles
        cv2.drawContours(out, kept, -1, 255, thickness=cv2.FILLED)
        blobs = []
        for c in kept:
            x, y, w, h = cv2.boundingRect(c)
            blobs.append(Blob(x, y, w, h, float(cv2.contourArea(c))))
        blobs.sort(key=lambda b: b.area, reverse=True)
        return out, blobs
