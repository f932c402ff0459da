"""`gridwatch motion-masks IN_DIR OUT_DIR`: the agent's motion masks for offline scoring.

Frames go through the agent's own path: the decoder child process of `CameraSource`
(every frame, full size) and `MotionDetector` with the settings the agent uses.
Each mask is written as OUT_DIR/<frame name>.png, where the frame name is the image
file's name without its extension (in000470.jpg -> in000470.png) or frame%06d for a
video, single channel, 255 for motion and 0 elsewhere, at the frame's resolution.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2

from edge.camera.decode import image_files
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


def run_motion_masks(in_dir: Path, out_dir: Path) -> int:
    problem = _input_problem(in_dir)
    if problem:
        print(f"motion-masks: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out_dir.mkdir(parents=True, exist_ok=True)
    # a file is read once: a decoder that keeps failing on it will fail again
    source = CameraSource(SourceSettings(str(in_dir), max_restarts=1, backoff_s=0.1))
    detector = MotionDetector()
    written = 0
    for frame in source:
        mask, _ = detector.apply(frame.image)
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
