"""The decoder child process: a crash, a hang or a bad file is reported, never fatal."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.camera.decode import Decoded
from edge.camera.source import CameraSource, SourceSettings

POISON = 3


def aborting_child(url: str, start: int, fps: float, width: int, out: Any) -> None:
    """Ten frames; frame 3 makes it abort, as libavcodec does on a corrupt frame."""
    for i in range(start, 10):
        if i == POISON:
            time.sleep(0.2)  # let the queue's feeder thread deliver what it has
            os.abort()
        out.put(("frame", Decoded(i, f"f{i}", float(i), np.zeros((4, 4, 3), np.uint8))))
    out.put(("eof", None))


def dying_child(url: str, start: int, fps: float, width: int, out: Any) -> None:
    os.abort()


def hanging_child(url: str, start: int, fps: float, width: int, out: Any) -> None:
    time.sleep(60)


def _fast(url: str, **kw: Any) -> SourceSettings:
    return SourceSettings(url, backoff_s=0.01, **kw)


def test_a_crashing_decoder_is_restarted_and_steps_over_the_poison_frame() -> None:
    source = CameraSource(_fast("x.mp4", max_restarts=3), child=aborting_child)
    indexes = [f.index for f in source]
    # resumed after the last frame received (nothing repeated); the frame that killed
    # the decoder twice is skipped, and the rest of the file still arrives
    assert indexes == [i for i in range(10) if i != POISON]
    assert source.stats.restarts == 2
    assert source.stats.state == "ended"
    assert all("exit code" in e for e in source.stats.errors)


def test_a_decoder_that_always_crashes_is_given_up_on() -> None:
    source = CameraSource(_fast("x.mp4", max_restarts=2), child=dying_child)
    assert list(source) == []
    assert source.stats.state == "failed"
    assert source.stats.restarts == 2
    assert len(source.stats.errors) == 3


def test_a_hung_decoder_is_killed_by_the_watchdog() -> None:
    source = CameraSource(_fast("x.mp4", max_restarts=1, stall_timeout_s=0.5), child=hanging_child)
    assert list(source) == []
    assert source.stats.state == "failed"
    assert source.stats.restarts == 1
    assert "hung" in (source.stats.last_error or "")


def _read_after_cancel(
    source: CameraSource, cancel: threading.Event, when: Callable[[], bool]
) -> float:
    """Seconds `read` takes to give up once `cancel` is set, as soon as `when()` holds."""
    cancelled_at: list[float] = []

    def watch() -> None:
        while not when():
            time.sleep(0.02)
        cancelled_at.append(time.monotonic())
        cancel.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert source.read() is None
    done = time.monotonic()
    watcher.join(5)
    return done - cancelled_at[0]


def test_cancel_ends_a_wait_on_a_hung_decoder_at_once() -> None:
    cancel = threading.Event()
    settings = _fast("x.mp4", stall_timeout_s=30.0)  # the watchdog alone would take 30 s
    source = CameraSource(settings, child=hanging_child, cancel=cancel)
    assert _read_after_cancel(source, cancel, lambda: source._proc is not None) < 2.0
    assert source._proc is None  # the decoder process is gone too


def test_cancel_ends_the_wait_before_a_restart_at_once() -> None:
    cancel = threading.Event()
    settings = SourceSettings("x.mp4", backoff_s=30.0, max_restarts=5)
    source = CameraSource(settings, child=dying_child, cancel=cancel)
    assert _read_after_cancel(source, cancel, lambda: source.stats.restarts >= 1) < 2.0
    assert source.stats.restarts == 1  # it was waiting out its first backoff


def test_a_truncated_video_is_an_error_not_a_crash(tmp_path: Path) -> None:
    good = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(good), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 48))
    for i in range(20):
        writer.write(np.full((48, 64, 3), i * 10, np.uint8))
    writer.release()
    broken = tmp_path / "broken.avi"
    broken.write_bytes(good.read_bytes()[:300])  # the header and no frame
    source = CameraSource(_fast(str(broken), max_restarts=1))
    assert list(source) == []
    assert source.stats.state == "failed"
    assert source.stats.restarts == 1
    assert source.stats.last_error


def test_an_image_folder_at_a_lower_rate_and_size(tmp_path: Path) -> None:
    for i in range(10):  # a folder is taken as 25 frames per second
        cv2.imwrite(str(tmp_path / f"img{i:03d}.png"), np.full((100, 200, 3), i, np.uint8))
    source = CameraSource(_fast(str(tmp_path), fps=12.5, width=100))
    got = list(source)
    assert [f.name for f in got] == [f"img{i:03d}" for i in range(0, 10, 2)]
    assert all(f.image.shape == (50, 100, 3) for f in got)
    assert source.stats.state == "ended" and source.stats.restarts == 0
