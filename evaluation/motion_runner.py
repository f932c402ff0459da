"""`gridwatch motion-masks IN_DIR OUT_DIR`: the agent's motion masks for offline scoring.

Frames go through the agent's own path: the decoder child process of `CameraSource`
(every frame, halved as the agent's are, `--width` as a camera's `width`) and
`MotionDetector` with the settings the agent uses. Each mask is scaled back up (nearest
neighbour, so it stays 0/255) and written as OUT_DIR/<frame name>.png, where the frame
name is the image file's name without its extension (in000470.jpg -> in000470.png) or
frame%06d for a video, single channel, 255 for motion and 0 elsewhere, at the frame's resolution.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from edge.camera.analyzer import DEFAULT_WIDTH
from edge.camera.decode import image_files, resize_to
from edge.camera.motion import MotionDetector
from edge.camera.source import CameraSource, SourceSettings

EXIT_BAD_INPUT = 2


def _input_problem(in_dir: Path) -> str | None:
    if not in_dir.exists():
        return f"{in_dir}: no such file or folder"
    if in_dir.is_dir() and not image_files(in_dir):
        return f"{in_dir}: no image files in this folder"
    if in_dir.is_file() and in_dir.stat().st_size == 0:
        return f"{in_dir}: empty file"
    return None


def run_motion_masks(in_dir: Path, out_dir: Path, width: int = DEFAULT_WIDTH) -> int:
    problem = _input_problem(in_dir) or (f"--width must be 0 or >= 1, not {width}"
                                         if width < 0 else None)
    if problem:
        print(f"motion-masks: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out_dir.mkdir(parents=True, exist_ok=True)
    # a file is read once: a decoder that keeps failing on it will fail again
    # full-size frames from the source: halving here keeps each frame's own size at hand
    source = CameraSource(SourceSettings(str(in_dir), max_restarts=1, backoff_s=0.1))
    detector = MotionDetector()
    written = 0
    for frame in source:
        mask, _ = detector.apply(resize_to(frame.image, width))
        h, w = frame.image.shape[:2]
        if mask.shape != (h, w):
            mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST).astype(np.uint8)
        if not cv2.imwrite(str(out_dir / f"{frame.name}.png"), mask):
            print(f"motion-masks: cannot write {out_dir / frame.name}.png", file=sys.stderr)
            return 1
        written += 1
        if written % 100 == 0:
            print(f"motion-masks: {written} frames", file=sys.stderr, flush=True)
    if source.stats.state == "failed" or written == 0:
        reason = source.stats.last_error or "no frame decoded"
        print(f"motion-masks: {in_dir}: {reason} ({written} masks written)", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"motion-masks: {written} masks in {out_dir}", file=sys.stderr)
    return 0
