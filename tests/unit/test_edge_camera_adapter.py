"""The camera adapter on its own: its settings, events and snapshots, fps and health, a
decoder that fails, and stopping. Frames are drawn with numpy (a textured background and a
bright square walking into a zone); the frame source is a fake in this process, or the real
`CameraSource` with a fake decoder child where its process is what is tested. Real clips
are the integration test's (tests/integration/test_edge_camera_adapter.py)."""

from __future__ import annotations

import json
import multiprocessing as mp
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from config.loader import load_registry
from config.registry import Registry
from edge.adapters.camera import CameraAdapter, CameraConfig
from edge.camera.analyzer import AnalyzerSettings
from edge.camera.decode import Decoded
from edge.camera.source import CameraSource, SourceSettings
from edge.camera.zones import Zone
from edge.settings import EdgeSettings, load_settings
from edge.wiring import build_agent, camera_config
from gridwatch.records import DeviceEvent

REPO = Path(__file__).resolve().parents[2]
AGENT, CAM = "a1", "cam-1"
LIVE, FILE = "rtsp://cam.example/stream", "clip.avi"
YARD = Zone("yard", "intrusion", ((0.6, 0.0), (1.0, 0.0), (1.0, 1.0), (0.6, 1.0)))
Frame = np.ndarray[Any, np.dtype[np.uint8]]


def scene(shape: tuple[int, int] = (120, 160)) -> Frame:
    """A textured, fixed background (flat frames make every subtractor trivial)."""
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, size=(*shape, 1), dtype=np.uint8)
    return np.repeat(cv2.GaussianBlur(noise, (3, 3), 0)[..., None], 3, axis=2)


def with_box(bg: Frame, x: int, y: int, size: int = 16) -> Frame:
    frame = bg.copy()
    frame[y : y + size, x : x + size] = (230, 230, 230)
    return frame


def intrusion() -> list[Frame]:
    """At 10 fps: still, a square walks into the right 40% (YARD) and stays, then it is gone."""
    bg = scene()
    return [bg] * 30 + [with_box(bg, 10 + 4 * i, 40) for i in range(30)] + [bg] * 40


class FakeSource(CameraSource):
    """A `CameraSource` that hands out given frames in this process: no decoder child."""

    def __init__(self, url: str, frames: list[Frame], t0: float = 1000.0,
                 period: float = 0.1, block: threading.Event | None = None) -> None:
        super().__init__(SourceSettings(url))
        self._items = iter([Decoded(i, f"f{i}", t0 + i * period, f)
                            for i, f in enumerate(frames)])
        self._block = block  # read() waits on it first, deaf to the adapter's stop
        self.closed = threading.Event()

    def read(self) -> Decoded | None:
        if self._block is not None:
            self._block.wait(10)
        item = next(self._items, None)
        self.stats.state = "running" if item is not None else "ended"
        self.stats.frames += item is not None
        return item

    def close(self) -> None:
        self.closed.set()


def adapter_for(source: CameraSource, *, zones: list[Zone] | None = None,
                clock: Callable[[], float] = time.time, readings_interval_s: float = 10.0,
                buffer: int = 1000, device: str = CAM) -> CameraAdapter:
    cfg = CameraConfig(device, source.settings, [YARD] if zones is None else zones,
                       AnalyzerSettings(fps=10.0), readings_interval_s)
    adapter = CameraAdapter(AGENT, [cfg], clock=clock, buffer=buffer)
    adapter.cameras[0].source = source
    return adapter


def finish(adapter: CameraAdapter, timeout_s: float = 10.0) -> None:
    """Wait for every camera thread to end by itself (its source ended or failed)."""
    for cam in adapter.cameras:
        cam.thread.join(timeout_s)
        assert not cam.thread.is_alive(), f"camera {cam.cfg.device} still running"


def of_type(events: list[DeviceEvent], type_: str) -> list[DeviceEvent]:
    return [e for e in events if e.type == type_]


# --- settings -------------------------------------------------------------------------


GOOD: dict[str, Any] = {"device": CAM, "source": "clip", "fps": 10,
                        "zones": [{"name": "yard", "kind": "intrusion",
                                   "points": [[0.6, 0], [1, 0], [1, 1]]}]}


@pytest.mark.parametrize(("change", "field", "says"), [
    ({"colour": "red"}, "cameras.1.colour", "Extra inputs are not permitted"),
    ({"source": None}, "cameras.1.source", "Field required"),  # None: left out
    ({"source": ""}, "cameras.1.source", "at least 1 character"),  # not "this folder"
    ({"fps": 0}, "cameras.1.fps", "greater than 0"),
    ({"fps": 120}, "cameras.1.fps", "less than or equal to 60"),
    ({"width": 10}, "cameras.1.width", "greater than or equal to 64"),
    ({"readings_interval_s": -1}, "cameras.1.readings_interval_s", "greater than 0"),
    ({"zones": [{"name": "yard", "kind": "moat", "points": [[0, 0]]}]},
     "cameras.1.zones.0.kind", "Input should be"),
    ({"zones": [{"name": "yard", "kind": "line", "points": [[0, 0, 0]]}]},
     "cameras.1.zones.0.points.0", "Tuple should have at most 2 items"),
])
def test_the_settings_refuse_a_bad_camera_entry_naming_its_field(
    change: dict[str, Any], field: str, says: str
) -> None:
    spec = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(ValidationError) as info:
        EdgeSettings.model_validate({"cameras": [GOOD, spec]})
    assert field in str(info.value) and says in str(info.value)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(REPO / "config" / "street")


STREET_AGENT, STREET_CAM = "lc1-edge", "lc1-b01-cam-0101"


def test_a_bad_zone_or_a_foreign_camera_is_refused_naming_the_camera_and_the_file_line(
    tmp_path: Path, registry: Registry
) -> None:
    def refused(camera: dict[str, Any]) -> str:
        path = tmp_path / "adapters.yaml"
        path.write_text(json.dumps({"simulators": False, "cameras": [camera]}, indent=1))
        with pytest.raises(ValueError) as info:
            build_agent(STREET_AGENT, registry, "mqtt://127.0.0.1:1", tmp_path / "d", path)
        return str(info.value)

    good = {**GOOD, "device": STREET_CAM}
    zone = dict(GOOD["zones"][0])
    assert refused({**good, "zones": [{**zone, "points": [[0, 0], [1, 1]]}]}).endswith(
        f"camera '{STREET_CAM}': zone yard: a intrusion needs 3 points")
    message = refused({**good, "zones": [{**zone, "points": [[0, 0], [1.5, 0], [1, 1]]}]})
    assert message.startswith(f"{tmp_path / 'adapters.yaml'}:")
    assert "points are fractions of the frame" in message and STREET_CAM in message
    assert "schedule must look like" in refused(
        {**good, "zones": [{**zone, "schedule": "late"}]})
    assert "must be a camera device of agent lc1-edge" in refused(
        {**good, "device": "lc1-b01-smk-0101"})
    # the same zone name twice would share one episode and one zone mask: refused
    assert f"camera '{STREET_CAM}': zone names must be unique, ['yard'] repeat" in refused(
        {**good, "zones": [zone, {**zone, "points": [[0, 0], [0.3, 0], [0, 0.3]]}]})
    assert not (tmp_path / "d").exists()  # refused before any outbox is made
    # the good entry goes through to a camera config with the agent's rate and size
    spec = load_settings(_written(tmp_path / "ok.yaml", {"cameras": [good]})).cameras[0]
    cfg = camera_config(STREET_AGENT, registry, spec)
    assert (cfg.device, cfg.source.fps, cfg.analyzer.fps) == (STREET_CAM, 10.0, 10.0)
    assert cfg.source.url == str(tmp_path / "clip")  # relative to the settings file


def _written(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj))
    return path


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"source": SourceSettings(" ")}, "camera 'cam-1': source must not be empty"),
    ({"analyzer": AnalyzerSettings(fps=0)}, "camera 'cam-1': fps must be > 0"),
    ({"readings_interval_s": 0.0}, "camera 'cam-1': readings_interval_s must be > 0"),
    ({"readings_interval_s": float("inf")}, "readings_interval_s must be > 0 and finite"),
    ({"zones": [YARD, YARD]}, "camera 'cam-1': zone names must be unique, ['yard'] repeat"),
    ({"device": ""}, "camera: device must not be empty"),
])
def test_a_camera_config_refuses_what_the_settings_model_lets_through(
    kwargs: dict[str, Any], says: str
) -> None:
    base: dict[str, Any] = {"device": CAM, "source": SourceSettings(LIVE), "zones": [YARD]}
    with pytest.raises(ValueError) as info:
        CameraConfig(**{**base, **kwargs})
    assert says in str(info.value)
    twice = CameraConfig(CAM, SourceSettings(LIVE), [YARD])
    with pytest.raises(ValueError, match=r"cameras \['cam-1'\]: each camera device"):
        CameraAdapter(AGENT, [twice, twice])


# --- events and snapshots -------------------------------------------------------------


def test_an_intrusion_becomes_device_events_with_the_snapshot_sent_first() -> None:
    adapter = adapter_for(FakeSource(LIVE, intrusion(), t0=1000.0))
    sent: list[tuple[str, bytes, bool]] = []

    def sink(snapshot: str, jpeg: bytes) -> bool:
        queued = any(e.snapshot == snapshot for e in list(adapter._events.queue))
        sent.append((snapshot, jpeg, queued))
        return True

    adapter.snapshot_sink = sink
    adapter.start()
    finish(adapter)
    events = adapter.poll(2000.0).events
    start, end = of_type(events, "camera.intrusion")
    assert (start.agent, start.device, start.state, start.zone) == (AGENT, CAM, "start", "yard")
    assert (end.state, end.zone, end.attrs["start_id"]) == ("end", "yard", start.id)
    # live frames keep their own (wall-clock) times: frame i at 1000 + i/10
    assert 1003.0 < start.ts < end.ts <= 1000.0 + 99 * 0.1
    frame_times = {1000.0 + i * 0.1 for i in range(100)}
    assert start.ts in frame_times and end.ts in frame_times
    assert start.snapshot == f"{start.id}-snap" and end.snapshot is None  # ends: no image
    [(_, jpeg, queued_before)] = [s for s in sent if s[0] == start.snapshot]
    assert jpeg[:2] == b"\xff\xd8" and not queued_before  # image out before its event
    assert {s[0] for s in sent} == {e.snapshot for e in events if e.snapshot}
    assert adapter.poll(2001.0).events == []  # handed over once


def failing_sink(_snapshot: str, _jpeg: bytes) -> bool:
    raise ConnectionError("broker gone")


@pytest.mark.parametrize("sink", [lambda _s, _j: False, failing_sink],
                         ids=["refuses", "raises"])
def test_a_sink_that_refuses_or_fails_loses_no_event(sink: Callable[[str, bytes], bool]) -> None:
    adapter = adapter_for(FakeSource(LIVE, intrusion()))
    adapter.snapshot_sink = sink
    adapter.start()
    finish(adapter)
    start, end = of_type(adapter.poll(2000.0).events, "camera.intrusion")
    # the image is best effort; the event still names it, as the publisher documents
    assert (start.state, start.snapshot, end.state) == ("start", f"{start.id}-snap", "end")
    assert adapter.health(2000.0)[0]["fault"] is None
    assert adapter.health_extra()["cameras"][CAM]["state"] == "ended"


def test_a_file_plays_at_its_recorded_pace_so_no_event_time_is_ahead_of_the_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bg = scene()
    adapter = adapter_for(FakeSource(FILE, [bg] * 8, t0=0.0, period=0.1))
    cam = adapter.cameras[0]
    seen: list[tuple[float, float]] = []
    monkeypatch.setattr(cam.analyzer, "process", lambda _f, ts: seen.append((ts, time.time())))
    began = time.time()
    adapter.start()
    finish(adapter)
    assert len(seen) == 8
    first = seen[0][0]
    assert began <= first <= began + 0.5  # media time 0 is when playing began
    assert [round(ts - first, 3) for ts, _ in seen] == [round(0.1 * i, 3) for i in range(8)]
    assert all(ts <= at + 0.005 for ts, at in seen)  # never ahead of the wall clock
    assert seen[-1][1] - seen[0][1] >= 0.65


# --- fps and health -------------------------------------------------------------------


def test_the_fps_reading_and_health_count_analysed_frames_per_interval() -> None:
    now = [1000.0]
    adapter = adapter_for(FakeSource(LIVE, [scene()] * 20), clock=lambda: now[0],
                          readings_interval_s=5.0, zones=[])
    adapter.start()
    finish(adapter)
    assert adapter.poll(1004.9).readings == []  # not due yet
    reading, *counts = adapter.poll(1005.0).readings
    assert (reading.agent, reading.device, reading.metric) == (AGENT, CAM, "fps")
    assert (reading.ts, reading.value) == (1005.0, 4.0)  # 20 frames in 5 s
    # the mover was tracked, so the analyzer looked for people: counts come with fps
    assert [(r.device, r.metric, r.ts) for r in counts] == [
        (CAM, "people_count", 1005.0), (CAM, "vehicle_count", 1005.0)]
    assert all(r.value >= 0 for r in counts)
    assert adapter.poll(1009.0).readings == []
    assert [r.value for r in adapter.poll(1012.5).readings][:1] == [0.0]  # none since
    assert adapter.health(1012.5) == [{"device": CAM, "battery": None, "rssi": None,
                                       "fault": None}]  # a file's end is no fault
    assert adapter.health_extra() == {"cameras": {CAM: {"fps": 0.0, "restarts": 0,
                                                        "state": "ended"}}}


def test_an_analysis_crash_is_a_health_fault_and_leaves_the_adapter_working(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = FakeSource(LIVE, [scene()] * 10)
    adapter = adapter_for(source, zones=[])
    cam = adapter.cameras[0]
    calls = iter(range(100))

    def process(_frame: Frame, _ts: float) -> None:
        if next(calls) == 3:
            raise RuntimeError("bad frame")

    monkeypatch.setattr(cam.analyzer, "process", process)
    adapter.start()
    finish(adapter)
    assert source.closed.is_set()
    assert adapter.health(1.0)[0]["fault"] == "analysis failed: RuntimeError: bad frame"
    assert adapter.health_extra()["cameras"][CAM]["state"] == "failed"
    assert adapter.poll(1.0).events == []  # the agent's side still works
    adapter.stop()


def error_child(url: str, start: int, fps: float, width: int, out: Any) -> None:
    """A decoder that cannot open its source, as for a camera that refuses the stream."""
    out.put(("error", f"{url}: cannot open (not a video, or no decoder for it)"))


def decode_children() -> list[str]:
    return [p.name for p in mp.active_children() if p.name.startswith("decode:")]


def test_a_failing_decoder_is_restarted_a_bounded_number_of_times_and_reported() -> None:
    settings = SourceSettings(LIVE, max_restarts=2, backoff_s=0.01)
    adapter = adapter_for(CameraSource(settings, child=error_child))
    adapter.start()
    finish(adapter, timeout_s=20)  # gave up by itself: no endless restart loop
    [health] = adapter.health(1.0)
    assert health["fault"] == f"{LIVE}: cannot open (not a video, or no decoder for it)"
    assert adapter.health_extra()["cameras"][CAM] == {"fps": 0.0, "restarts": 2,
                                                      "state": "failed"}
    assert len(adapter.cameras[0].source.stats.errors) == 3  # the first try and 2 restarts
    assert decode_children() == []
    # Dead for good: no more fps readings, so the backend sees it go offline (a "0 fps"
    # reading would keep it looking alive); a reading would be due at this time.
    polled = adapter.poll(1e12)
    assert polled.events == [] and polled.readings == []
    adapter.stop()


# --- stopping -------------------------------------------------------------------------


def endless_child(url: str, start: int, fps: float, width: int, out: Any) -> None:
    """A live camera that never ends: a small frame every 20 ms."""
    frame = np.zeros((48, 64, 3), np.uint8)
    for i in range(1_000_000):
        out.put(("frame", Decoded(i, f"f{i}", time.time(), frame)))
        time.sleep(0.02)


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_stop_ends_the_camera_thread_and_its_decoder_process_promptly() -> None:
    adapter = adapter_for(CameraSource(SourceSettings(LIVE), child=endless_child), zones=[])
    cam = adapter.cameras[0]
    adapter.start()
    wait_for("frames analysed", lambda: cam.analyzer.frames >= 3)
    assert len(decode_children()) == 1
    began = time.monotonic()
    adapter.stop()
    assert time.monotonic() - began < 2.0
    assert not cam.thread.is_alive()
    assert decode_children() == []


def test_stop_does_not_wait_forever_on_a_full_event_buffer() -> None:
    adapter = adapter_for(FakeSource(LIVE, intrusion()), buffer=1)
    cam = adapter.cameras[0]
    adapter.start()  # nobody polls: the second event waits for room
    wait_for("the buffer to fill", lambda: adapter._events.full())
    time.sleep(0.2)
    assert cam.thread.is_alive()  # blocked, not dropping the event
    began = time.monotonic()
    adapter.stop()
    assert time.monotonic() - began < 2.0 and not cam.thread.is_alive()


def test_stop_has_one_deadline_for_all_cameras() -> None:
    release = threading.Event()
    sources = [FakeSource(LIVE, [scene()], block=release) for _ in range(3)]
    cfgs = [CameraConfig(f"cam-{i}", s.settings, []) for i, s in enumerate(sources)]
    adapter = CameraAdapter(AGENT, cfgs)
    for cam, source in zip(adapter.cameras, sources, strict=True):
        cam.source = source
    adapter.start()
    try:
        began = time.monotonic()
        adapter.stop(timeout_s=0.5)  # every read is stuck: all three overrun together
        assert time.monotonic() - began < 1.0
    finally:
        release.set()
    finish(adapter)


@pytest.fixture(autouse=True)
def no_leftover_children() -> Iterator[None]:
    yield
    for p in mp.active_children():
        if p.name.startswith("decode:"):
            p.kill()
            pytest.fail(f"a decoder process was left running: {p.name}")
