"""`gridwatch bench camera`: camera analysis frames/s per core beside the decode rate.

The clip is a real one (intel car-detection.mp4, 768x432, a car seen from above),
scaled to 640x480 and 1280x720. A car is wider than tall, so the people detector
(HOG on upright tracked regions only) rarely runs on this clip: its cost on people is
measured apart, on clips with people. OpenCV runs with one thread here so that the figures
are per core. The reference is decoding the same clip and scaling it to the same size,
which is the least an agent must do per frame before any analysis.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from bench.kit import ROUNDS, Result
from edge.camera.analyzer import DEFAULT_WIDTH, AnalyzerSettings, CameraAnalyzer
from edge.camera.cues import Image
from edge.camera.people import PeopleSettings
from edge.camera.zones import Zone

CLIP = Path(__file__).resolve().parents[2] / "shared/data/video/intel/car-detection.mp4"
# (frame size, analysis width, seconds between looks for people): the default (320:
# frames halved once or twice; HOG once a second) beside the full 640x480 frame it
# replaced as the default, and beside the default without the people detector
SIZES = (
    ((640, 480), DEFAULT_WIDTH, 1.0),
    ((640, 480), DEFAULT_WIDTH, 0.0),
    ((640, 480), 0, 1.0),
    ((1280, 720), DEFAULT_WIDTH, 1.0),
)
CAMERA_FPS = 10.0
ZONES = [  # one of each kind an agent typically watches
    Zone("road", "intrusion", ((0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9))),
    Zone("kerb", "no_parking", ((0.0, 0.6), (0.4, 0.6), (0.4, 1.0), (0.0, 1.0)), dwell_s=60),
    Zone("gate", "line", ((0.5, 0.0), (0.5, 1.0))),
]


def _decode(n: int, size: tuple[int, int]) -> list[Image]:
    cap = cv2.VideoCapture(str(CLIP))
    frames: list[Image] = []
    while len(frames) < n:
        ok, frame = cap.read()
        if not ok:
            if not frames:
                raise RuntimeError(f"{CLIP}: no frame decodes")
            cap.release()
            cap = cv2.VideoCapture(str(CLIP))  # loop the clip for longer runs
            continue
        frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA).astype(np.uint8))
    cap.release()
    return frames


def _count_decoded(n: int, size: tuple[int, int]) -> int:
    return len(_decode(n, size))


def _rate(work: Callable[[], int]) -> float:
    rates = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        done = work()
        rates.append(done / (time.perf_counter() - started))
    return statistics.median(rates)


def _analyse(frames: list[Image], width: int, people_s: float) -> int:
    settings = AnalyzerSettings(width=width, people=PeopleSettings(interval_s=people_s))
    analyzer = CameraAnalyzer("bench", ZONES, settings, lambda e, j: None)
    for i, frame in enumerate(frames):
        analyzer.process(frame, i / CAMERA_FPS)
    return len(frames)


def run(quick: bool) -> list[Result]:
    if not CLIP.is_file():
        print(f"camera: skipped: {CLIP} is absent", flush=True)
        return []
    n = 60 if quick else 300
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    results = []
    try:
        for (w, h), width, people_s in SIZES:
            frames = _decode(n, (w, h))
            decode = _rate(partial(_count_decoded, n, (w, h)))
            analyse = _rate(partial(_analyse, frames, width, people_s))
            label = f"{w}x{h} analysed " + (f"{width} wide" if width else "whole")
            label += "" if people_s else ", no people detector"
            both = 1.0 / (1.0 / analyse + 1.0 / decode)
            results += [
                Result(
                    f"camera analysis {label}", "frames/s/core", analyse, "decode+scale", decode
                ),
                Result(
                    f"10 fps cameras per core {label} (decode+analysis)",
                    "cameras",
                    both / CAMERA_FPS,
                    "decode only",
                    decode / CAMERA_FPS,
                ),
            ]
    finally:
        cv2.setNumThreads(threads)
    return results

