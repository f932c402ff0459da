"""Camera analysis on the real clips in ../shared/data/video (skipped without them).

Short slices and reduced rates keep this quick; the full CDnet figure is in
`gridwatch bench`/the report, not here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.camera.analyzer import AnalyzerSettings, CameraAnalyzer
from edge.camera.people import PeopleDetector
from edge.camera.source import CameraSource, SourceSettings
from edge.camera.zones import Zone
from evaluation.cdnet_score import opencv_default, score_mask_dir, score_subtractor
from evaluation.motion_runner import run_motion_masks

Events = list[tuple[dict[str, Any], bytes | None]]


def analyse(url: Path, zones: list[Zone], fps: float, width: int, until_s: float) -> Events:
    events: Events = []
    settings = AnalyzerSettings(width=width, fps=fps)
    analyzer = CameraAnalyzer("cam-1", zones, settings, lambda e, j: events.append((e, j)))
    source = CameraSource(SourceSettings(str(url), fps=fps, width=width))
    for frame in source:
        if frame.ts > until_s:
            break
        analyzer.process(frame.image, frame.ts)
    source.close()
    return events


def test_the_worker_entering_the_floor_zone_is_an_intrusion(shared_dir: Path) -> None:
    clip = shared_dir / "data/video/intel/worker-zone-detection.gif"
    # the floor left of the yellow-and-black hazard line, read off frame 50 (480x270):
    # the line runs from the pillar's foot (240, 128) to the bottom edge at (105, 270)
    hazard = Zone(
        "hazard", "intrusion", ((0, 120 / 270), (0.5, 128 / 270), (105 / 480, 1.0), (0, 1.0))
    )
    events = analyse(clip, [hazard], fps=0, width=0, until_s=60)
    intrusions = [(e, j) for e, j in events if e["type"] == "camera.intrusion"]
    assert [e["state"] for e, _ in intrusions] == ["start"]  # he enters once, and stays
    event, jpeg = intrusions[0]
    # he is right of the line until about frame 35 of 71 (16.7 frames/s): 2.1 s
    assert event["ts"] > 1.5 and event["zone"] == "hazard" and 0 < event["score"] <= 1
    assert jpeg is not None and jpeg[:2] == b"\xff\xd8"
    # the same walk against the zone right of the line: he starts there, never "enters"
    right = Zone("right", "intrusion", ((0.5, 128 / 270), (1, 128 / 270), (1, 1), (105 / 480, 1)))
    entered = [e for e, _ in analyse(clip, [right], 0, 0, 60) if e["type"] == "camera.intrusion"]
    assert all(e["ts"] < 1.5 for e in entered)


def test_people_who_stay_by_the_table_are_loitering(shared_dir: Path) -> None:
    clip = shared_dir / "data/video/intel/one-by-one-person-detection.mp4"
    # the floor around the table; the first visitors arrive between 6 and 7 s and between
    # 22 and 23 s and leave by 20 s and 45 s (differencing against the empty first
    # frame, sampled once a second)
    table = Zone("table", "loitering", ((0.3, 0.55), (0.75, 0.55), (0.75, 1), (0.3, 1)), dwell_s=8)
    events = analyse(clip, [table], fps=5, width=320, until_s=50)
    loiter = [e for e, _ in events if e["type"] == "camera.loitering"]
    starts = [e for e in loiter if e["state"] == "start"]
    assert len(starts) == 2
    assert 6 + 8 <= starts[0]["ts"] < 20 and 22 + 8 <= starts[1]["ts"] < 45
    assert all(e["attrs"]["dwell_s"] >= 8 for e in starts)
    assert [e["state"] for e in loiter if e["state"] == "end"] == ["end", "end"]
    # a dwell longer than anyone stays is no event
    patient = Zone("table", "loitering", table.points, dwell_s=30)
    assert not [
        e for e, _ in analyse(clip, [patient], 5, 320, 50) if e["type"] == "camera.loitering"
    ]


def test_demo_avi_cannot_harm_the_process(shared_dir: Path) -> None:
    clip = shared_dir / "data/video/bgslibrary/demo.avi"
    source = CameraSource(SourceSettings(str(clip), max_restarts=1, backoff_s=0.05))
    frames = list(source)
    # The pinned opencv-python-headless 4.12 decodes all 51 frames (4.14.0.94 and 5.0.0.93
    # abort in libavcodec; the decoder's child process keeps that from reaching us).
    assert len(frames) == 51
    assert all(f.image.shape == (48, 48, 3) for f in frames)
    assert source.stats.state == "ended" and source.stats.restarts == 0


def test_motion_masks_on_a_cdnet_slice_beat_opencv_knn(shared_dir: Path, tmp_path: Path) -> None:
    cdnet = shared_dir / "data/video/cdnet-highway"
    slice_in = tmp_path / "in"
    slice_in.mkdir()
    last = 700  # frames 1-469 only train the model, 470-700 are scored
    for n in range(1, last + 1):
        name = f"in{n:06d}.jpg"
        (slice_in / name).symlink_to(cdnet / "input" / name)
    assert run_motion_masks(slice_in, tmp_path / "out") == 0
    ours = score_mask_dir(tmp_path / "out", cdnet, 470, last)
    knn = score_subtractor(cdnet, opencv_default("knn"), 470, last)
    assert ours.f_measure > knn.f_measure
    # the full run (470-1700) scores F 0.928; a slice varies with its traffic, so the
    # floor leaves room for that and still sits well above OpenCV's KNN (0.803)
    assert ours.f_measure > 0.85


def test_motion_masks_keep_f_090_on_cdnet_seen_by_a_640x480_camera(
    shared_dir: Path, tmp_path: Path
) -> None:
    """The default analysis width (320: a 640x480 frame is halved once) on every CDnet
    highway frame scaled up to 640x480; masks come back at 640x480 and are scored
    against the 320x240 ground truth. At 640 wide this scores 0.918, at 320 0.917."""
    cdnet = shared_dir / "data/video/cdnet-highway"
    frames = tmp_path / "in"
    frames.mkdir()
    for path in sorted((cdnet / "input").glob("in*.jpg")):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert image is not None, path
        big = cv2.resize(image, (640, 480), interpolation=cv2.INTER_LINEAR)
        cv2.imwrite(str(frames / path.name), big, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert run_motion_masks(frames, tmp_path / "out") == 0
    written = cv2.imread(str(tmp_path / "out" / "in000470.png"), cv2.IMREAD_GRAYSCALE)
    assert written is not None and written.shape == (480, 640)  # the frame's resolution
    assert score_mask_dir(tmp_path / "out", cdnet).f_measure >= 0.90


def test_hog_counts_the_worker_and_nobody_in_the_empty_room(shared_dir: Path) -> None:
    """The worker clip has one person walking; HOG, on the tracked regions once a second,
    sees him in some passes and never more than one. The one-by-one clip's first frame
    is an empty room: nobody anywhere in it."""
    analyzer = CameraAnalyzer("cam-1", [], AnalyzerSettings(width=0), lambda e, j: None)
    counts = []
    source = CameraSource(SourceSettings(str(shared_dir / "data/video/intel/"
                                             "worker-zone-detection.gif")))
    for frame in source:
        analyzer.process(frame.image, frame.ts)
        counts.append(analyzer.people_count)
    source.close()
    assert max(c or 0 for c in counts) == 1
    cap = cv2.VideoCapture(str(shared_dir / "data/video/intel/one-by-one-person-detection.mp4"))
    ok, empty = cap.read()
    cap.release()
    assert ok
    regions = [(0.0, 0.0, 1.0, 1.0), (0.3, 0.1, 0.3, 0.8)]
    assert PeopleDetector().detect(empty.astype(np.uint8), regions) == []
