"""CDnet 2014 F-measure of motion masks, and OpenCV's default subtractors as references.

CDnet's rules: ground truth 255 is motion (positive), 0 static and 50 shadow are
negative, 170 (unknown, object borders) is ignored, and so is every pixel outside the
region of interest; only frames inside `temporalROI.txt` count. Counts are summed over
all scored frames before precision and recall are taken, as CDnet's own tool does.

    python -m evaluation.cdnet_score MASK_DIR [CDNET_DIR]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

Mask = NDArray[np.uint8]
DEFAULT_CDNET = Path(__file__).resolve().parents[3] / "shared" / "data" / "video" / "cdnet-highway"


@dataclass(frozen=True, slots=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f_measure(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def line(self, name: str) -> str:
        return (
            f"{name}: F {self.f_measure:.3f} "
            f"(recall {self.recall:.3f}, precision {self.precision:.3f})"
        )


def temporal_roi(cdnet_dir: Path) -> tuple[int, int]:
    first, last = (int(x) for x in (cdnet_dir / "temporalROI.txt").read_text().split())
    return first, last


def input_frames(cdnet_dir: Path, last: int | None = None) -> Iterator[tuple[int, Mask]]:
    """(frame number, BGR frame) from frame 1: subtractors need the frames before the ROI."""
    for path in sorted((cdnet_dir / "input").glob("in*.jpg")):
        number = int(path.stem[2:])
        if last is not None and number > last:
            return
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise ValueError(f"{path}: not a readable image")
        yield number, frame.astype(np.uint8)


def score_frames(
    cdnet_dir: Path, masks: Callable[[int], Mask | None], first: int, last: int
) -> Score:
    """Sum CDnet's counts over frames first..last; `masks(n)` is frame n's mask (255 motion)."""
    roi = cv2.imread(str(cdnet_dir / "ROI.bmp"), cv2.IMREAD_GRAYSCALE)
    if roi is None:
        raise ValueError(f"{cdnet_dir / 'ROI.bmp'}: missing")
    inside = roi > 0
    tp = fp = fn = 0
    for number in range(first, last + 1):
        gt_path = cdnet_dir / "groundtruth" / f"gt{number:06d}.png"
        gt = cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE)
        mask = masks(number)
        if gt is None or mask is None:
            raise ValueError(f"frame {number}: ground truth or mask missing")
        scored = inside & (gt != 170)
        truth = gt == 255
        said = mask == 255  # a subtractor's 127 (shadow) counts as background, as CDnet asks
        tp += int(np.count_nonzero(scored & truth & said))
        fp += int(np.count_nonzero(scored & ~truth & said))
        fn += int(np.count_nonzero(scored & truth & ~said))
    return Score(tp, fp, fn)


def score_mask_dir(mask_dir: Path, cdnet_dir: Path, first: int = 0, last: int = 0) -> Score:
    """Score `gridwatch motion-masks` output: `in000470.png` (or `in000470.jpg.png`).
    Masks of a scaled copy of the frames (a 640x480 camera's view of the scene) are
    scaled to the ground truth's size, nearest neighbour, before they are counted."""
    roi_first, roi_last = temporal_roi(cdnet_dir)
    first, last = first or roi_first, last or roi_last
    roi = cv2.imread(str(cdnet_dir / "ROI.bmp"), cv2.IMREAD_GRAYSCALE)
    size = (0, 0) if roi is None else roi.shape[:2]  # score_frames says when it is missing

    def load(number: int) -> Mask | None:
        for name in (f"in{number:06d}.png", f"in{number:06d}.jpg.png"):
            mask = cv2.imread(str(mask_dir / name), cv2.IMREAD_GRAYSCALE)
            if mask is not None:
                if mask.shape != size:
                    mask = cv2.resize(mask, size[::-1], interpolation=cv2.INTER_NEAREST)
                return mask.astype(np.uint8)
        return None

    return score_frames(cdnet_dir, load, first, last)


def score_subtractor(
    cdnet_dir: Path, apply: Callable[[Mask], Mask], first: int = 0, last: int = 0
) -> Score:
    """Run `apply` over every frame up to `last` and score the masks of first..last."""
    roi_first, roi_last = temporal_roi(cdnet_dir)
    first, last = first or roi_first, last or roi_last
    kept: dict[int, Mask] = {}
    for number, frame in input_frames(cdnet_dir, last):
        mask = apply(frame)
        if number >= first:
            kept[number] = mask
    return score_frames(cdnet_dir, kept.get, first, last)


def opencv_default(kind: str) -> Callable[[Mask], Mask]:
    """OpenCV's subtractor with default parameters: the reference to beat."""
    sub = (
        cv2.createBackgroundSubtractorKNN()
        if kind == "knn"
        else cv2.createBackgroundSubtractorMOG2()
    )
    return lambda frame: sub.apply(frame).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.cdnet_score")
    parser.add_argument("mask_dir", type=Path, help="masks written by `gridwatch motion-masks`")
    parser.add_argument("cdnet_dir", type=Path, nargs="?", default=DEFAULT_CDNET)
    parser.add_argument("--no-reference", action="store_true", help="skip OpenCV's KNN and MOG2")
    args = parser.parse_args(argv)
    if not (args.cdnet_dir / "temporalROI.txt").is_file():
        print(f"{args.cdnet_dir}: not a CDnet sequence folder", file=sys.stderr)
        return 2
    print(score_mask_dir(args.mask_dir, args.cdnet_dir).line("gridwatch motion-masks"))
    if not args.no_reference:
        for kind in ("knn", "mog2"):
            score = score_subtractor(args.cdnet_dir, opencv_default(kind))
            print(score.line(f"OpenCV {kind.upper()} defaults"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
