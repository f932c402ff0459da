"""The motion-masks runner (contract section 5) and the CDnet scorer, on drawn frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from evaluation.cdnet_score import score_frames
from evaluation.motion_runner import run_motion_masks


def test_missing_or_empty_input_is_a_clear_error_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_motion_masks(tmp_path / "nope", tmp_path / "out") == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run_motion_masks(tmp_path / "empty", tmp_path / "out") == 2
    assert "no image files" in capsys.readouterr().err
    (tmp_path / "zero.mp4").write_bytes(b"")
    assert run_motion_masks(tmp_path / "zero.mp4", tmp_path / "out") == 2
    cv2.imwrite(str(tmp_path / "empty" / "in000001.png"), np.zeros((8, 8, 3), np.uint8))
    assert run_motion_masks(tmp_path / "empty", tmp_path / "out", width=-1) == 2
    assert "--width must be 0 or >= 1, not -1" in capsys.readouterr().err


def test_masks_are_named_after_frames_binary_and_find_the_mover(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    bg = np.repeat(rng.integers(0, 256, (60, 80, 1), dtype=np.uint8), 3, axis=2)
    frames_dir = tmp_path / "in"
    frames_dir.mkdir()
    for i in range(40):
        frame = bg.copy()
        if i >= 30:
            frame[20:40, 2 * i - 40 : 2 * i - 20] = 255
        cv2.imwrite(str(frames_dir / f"in{i:06d}.png"), frame)
    out = tmp_path / "out"
    # 80 wide, analysed 40 wide (halved once): the mask comes back at the frame's size
    assert run_motion_masks(frames_dir, out, width=40) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"in{i:06d}.png" for i in range(40)]
    last = cv2.imread(str(out / "in000039.png"), cv2.IMREAD_UNCHANGED)
    assert last is not None
    assert last.shape == (60, 80) and set(np.unique(last)) <= {0, 255}
    assert last[25:35, 42:54].all()  # inside the square
    assert not last[:, :20].any()  # where nothing moved


def test_cdnet_counts_ignore_unknown_and_outside_roi_and_treat_shadow_as_negative(
    tmp_path: Path,
) -> None:
    (tmp_path / "groundtruth").mkdir()
    gt = np.zeros((2, 4), np.uint8)
    gt[0] = (255, 255, 170, 50)  # motion, motion, unknown, shadow
    cv2.imwrite(str(tmp_path / "groundtruth" / "gt000001.png"), gt)
    roi = np.full((2, 4), 255, np.uint8)
    roi[1, 3] = 0
    cv2.imwrite(str(tmp_path / "ROI.bmp"), roi)
    said = np.zeros((2, 4), np.uint8)
    said[0] = (255, 0, 255, 255)  # a hit, a miss, an ignored unknown, shadow called motion
    said[1, 3] = 255  # outside the ROI: ignored
    score = score_frames(tmp_path, lambda n: said, 1, 1)
    assert (score.tp, score.fp, score.fn) == (1, 1, 1)
    assert score.f_measure == pytest.approx(0.5)
