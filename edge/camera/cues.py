"""Whole-frame cues: what stands still (for dwell zones), tamper, and a smoke heuristic.

`StaticModel` is the long memory the motion model lacks on purpose: the subtractor
forgets a parked car within a minute (so that it stops being "motion"), while a
no-parking zone must still see it ten minutes later. It is a running average of the
frame, updated only where nothing moves, with a time constant of several dwell times;
what differs from it is "something is there that was not".

The smoke cue is a heuristic, not a smoke detector: moving regions that are grey
(low saturation) and softer than the background behind them (smoke hides edges).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]
Bool = NDArray[np.bool_]


def gray_small(frame: Image, width: int = 160) -> NDArray[np.float32]:
    """A small grey copy: the whole-frame checks need no detail and must stay cheap."""
    h = max(1, round(frame.shape[0] * width / frame.shape[1]))
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    return cv2.resize(gray, (width, h), interpolation=cv2.INTER_AREA).astype(np.float32)


class StaticModel:
    def __init__(self, time_constant_frames: float, threshold: float = 25.0) -> None:
        self.alpha = 1.0 / max(time_constant_frames, 1.0)
        self.threshold = threshold
        self._bg: NDArray[np.float32] | None = None

    def apply(self, frame: Image, moving: Image) -> Bool:
        """Pixels (frame size) that differ from the long-term background."""
        gray = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        if self._bg is None or self._bg.shape != gray.shape:
            self._bg = gray.astype(np.float32)
        still = np.where(moving > 0, np.uint8(0), np.uint8(255)).astype(np.uint8)
        cv2.accumulateWeighted(gray, self._bg, self.alpha, mask=still)
        diff = cv2.absdiff(gray.astype(np.float32), self._bg)
        return np.asarray(cv2.medianBlur((diff > self.threshold).astype(np.uint8) * 255, 5) > 0)


@dataclass(frozen=True, slots=True)
class Tamper:
    covered: bool
    defocused: bool
    moved: bool

    @property
    def any(self) -> bool:
        return self.covered or self.defocused or self.moved

    def kinds(self) -> list[str]:
        return [k for k in ("covered", "defocused", "moved") if getattr(self, k)]


class TamperCheck:
    """Compares each frame with slowly learnt baselines of sharpness and view."""

    def __init__(self, warmup_frames: int = 25) -> None:
        self.warmup = warmup_frames
        self._seen = 0
        self._sharp = 0.0
        self._ref: NDArray[np.float32] | None = None

    def check(self, frame: Image) -> Tamper:
        small = gray_small(frame)
        sharp = float(cv2.Laplacian(small, cv2.CV_32F).var())
        covered = float(small.mean()) < 20.0 or float(small.std()) < 8.0
        if self._ref is None or self._seen < self.warmup:
            self._learn(small, sharp)
            return Tamper(covered, False, False)
        defocused = not covered and sharp < 0.25 * self._sharp
        (dx, dy), response = cv2.phaseCorrelate(self._ref, small)
        # a turned camera shifts the whole view; most of the frame "moving" without a
        # shift is a lighting or exposure change (seen on the intel room clip), not tamper
        shift = (dx * dx + dy * dy) ** 0.5
        moved = not covered and response > 0.2 and shift > 0.05 * small.shape[1]
        tamper = Tamper(covered, defocused, moved)
        if not tamper.any:
            self._learn(small, sharp)
        return tamper

    def _learn(self, small: NDArray[np.float32], sharp: float) -> None:
        self._seen += 1
        rate = max(1.0 / self._seen, 0.01)  # a plain mean while warming up, then ~100 frames
        self._sharp += rate * (sharp - self._sharp)
        if self._ref is None or self._ref.shape != small.shape:
            self._ref = small.copy()
        else:
            cv2.accumulateWeighted(small, self._ref, rate)


def smoke_fraction(frame: Image, background_of: Callable[[], Image], moving: Image) -> float:
    """Share of the frame that moves, is grey, and dims texture the background has.

    0 unless such pixels are most of what moves, and unless the background's texture
    still shows through them (smoke is translucent: the edges are where they were, only
    weaker). A person in a grey sweater is grey and soft too, but opaque.
    """
    where = moving > 0
    moving_px = int(np.count_nonzero(where))
    if not moving_px:
        return 0.0
    # the cheap gate: colour of the moving pixels only, not of the whole frame
    hsv = cv2.cvtColor(frame[where].reshape(-1, 1, 3), cv2.COLOR_BGR2HSV).reshape(-1, 3)
    grey_px = (hsv[:, 1] < 40) & (hsv[:, 2] > 60)
    if np.count_nonzero(grey_px) < 0.5 * moving_px:
        return 0.0  # most frames stop here, before the costly background image
    grey = np.zeros(where.shape, bool)
    grey[where] = grey_px
    background = background_of()
    before, now = _edge_energy(background), _edge_energy(frame)
    candidate = grey & (before > 8.0) & (now < 0.6 * before)
    smoky = int(np.count_nonzero(candidate))
    if smoky < 0.5 * moving_px or _texture_correlation(frame, background, candidate) < 0.3:
        return 0.0
    return float(smoky) / moving.size


def _edge_energy(image: Image) -> NDArray[np.float32]:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    lap = np.abs(cv2.Laplacian(gray, cv2.CV_32F))
    return np.asarray(cv2.blur(lap, (9, 9)), dtype=np.float32)


def _texture_correlation(frame: Image, background: Image, where: Bool) -> float:
    """Correlation of the fine structure (Laplacian) of frame and background at `where`."""
    a = cv2.Laplacian(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.CV_32F)[where]
    b = cv2.Laplacian(cv2.cvtColor(background, cv2.COLOR_BGR2GRAY), cv2.CV_32F)[where]
    if a.size < 2 or float(a.std()) == 0.0 or float(b.std()) == 0.0:
        return 0.0
    return float(np.corrcoef(a.astype(np.float64), b.astype(np.float64))[0, 1])
