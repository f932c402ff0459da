"""Frames from a camera URL, a video file or a folder of images, in the decoder's process.

This module runs in the child process of `source.CameraSource` (and nowhere else in the
agent): whatever libavcodec does with a corrupt stream happens there, not in the agent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm"})
Image = NDArray[np.uint8]


class DecodeError(RuntimeError):
    """The source cannot be opened or read: a clear message, not a crash."""


@dataclass(frozen=True, slots=True)
class Decoded:
    index: int  # position in the source, from 0, before any rate reduction
    name: str  # the image file's stem, or frame%06d for video
    ts: float  # media time for files, wall-clock Unix time for live streams
    image: Image


def is_live(url: str) -> bool:
    return "://" in url


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def frames(url: str, start: int = 0) -> Iterator[Decoded]:
    """Every frame of the source from position `start` (to resume after a restart)."""
    path = Path(url)
    if not is_live(url) and path.is_dir():
        yield from _folder_frames(path, start)
    else:
        yield from _video_frames(url, start)


def _folder_frames(folder: Path, start: int) -> Iterator[Decoded]:
    files = image_files(folder)
    if not files:
        raise DecodeError(f"{folder}: no image files")
    for index, file in enumerate(files[start:], start):
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if image is None:
            raise DecodeError(f"{file}: not a readable image")
        yield Decoded(index, file.stem, index / 25.0, image.astype(np.uint8))


def _video_frames(url: str, start: int) -> Iterator[Decoded]:
    live = is_live(url)
    if not live and not Path(url).is_file():
        raise DecodeError(f"{url}: no such file")
    cap = cv2.VideoCapture(url)
    if not cap.isOpened():
        raise DecodeError(f"{url}: cannot open (not a video, or no decoder for it)")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    try:
        index = 0
        while True:
            ok, image = cap.read()
            if not ok:
                if index == 0:
                    raise DecodeError(f"{url}: opened but no frame decodes")
                return
            if index >= start:
                ts = time.time() if live else index / fps
                yield Decoded(index, f"frame{index:06d}", ts, image.astype(np.uint8))
            index += 1
    finally:
        cap.release()


def resize_to(image: Image, width: int) -> Image:
    """Halve the frame while the half is still at least `width` wide (0 keeps the size).

    Only exact halvings: a 2x2 area average is the cheapest resize there is and keeps
    the masks' quality (CDnet highway at 640x480 analysed at 320: F 0.917, at 640: 0.918),
    so a 640x480 or 1280x720 camera is analysed 320 wide with a width of 320, and a
    768x432 one 384 wide (the analysis width lies in [width, 2 x width)).
    """
    while width and image.shape[1] // 2 >= width:
        h, w = image.shape[0] // 2, image.shape[1] // 2
        image = cv2.resize(
            image[: 2 * h, : 2 * w], (w, h), interpolation=cv2.INTER_AREA
        ).astype(np.uint8)
    return image.astype(np.uint8, copy=False)
