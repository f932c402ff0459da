"""The agent's own camera analysis: per camera a thread that reads a `CameraSource` (its
decoder in a child process) into a `CameraAnalyzer`; `poll` hands the agent the events
and its readings: `fps`, and `people_count`/`vehicle_count` from the analyzer's budgeted
HOG pass over the upright tracked regions (a vehicle: a tracked object wider than tall).

Events wait in a bounded queue; when it is full the camera thread blocks (and the
decoder's small queue with it) rather than drop one, because a lost event is a lost
alarm and a lost frame is not. Snapshots go to `snapshot_sink` (the publisher's
`publish_snapshot`, which puts them in the agent's outbox under their own byte cap)
before the event naming them is queued.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.adapters.base import DeviceHealth, Polled
from edge.camera.analyzer import AnalyzerSettings, CameraAnalyzer
from edge.camera.decode import is_live
from edge.camera.events import Event
from edge.camera.source import CameraSource, SourceSettings
from edge.camera.zones import Zone
from gridwatch.clock import Clock, wall_clock
from gridwatch.records import DeviceEvent, Reading

log = logging.getLogger(__name__)

SnapshotSink = Callable[[str, bytes], object]


@dataclass(frozen=True, slots=True)
class CameraConfig:
    device: str
    source: SourceSettings
    zones: list[Zone]
    analyzer: AnalyzerSettings = field(default_factory=AnalyzerSettings)
    readings_interval_s: float = 10.0

    def __post_init__(self) -> None:
        """What the settings model does not catch, named by camera and field."""
        where = f"camera {self.device!r}"
        if not self.device.strip():
            raise ValueError("camera: device must not be empty")
        if not self.source.url.strip():
            raise ValueError(f"{where}: source must not be empty")
        if not (self.analyzer.fps > 0):  # also NaN; 0 makes the long-term view forget at once
            raise ValueError(f"{where}: fps must be > 0, not {self.analyzer.fps}")
        if not (0 < self.readings_interval_s < float("inf")):
            raise ValueError(f"{where}: readings_interval_s must be > 0 and finite, "
                             f"not {self.readings_interval_s}")
        names = [z.name for z in self.zones]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            # events, episodes and the analyzer's zone masks are keyed by zone name
            raise ValueError(f"{where}: zone names must be unique, {dupes} repeat")


class _Camera:
    """One camera's thread and what the agent's thread reads of it."""

    def __init__(self, agent: str, cfg: CameraConfig, events: queue.Queue[DeviceEvent],
                 stop: threading.Event, clock: Clock, sink: Callable[[], SnapshotSink]) -> None:
        self.agent, self.cfg, self._events, self._stop = agent, cfg, events, stop
        self._clock, self._sink = clock, sink
        self.source = CameraSource(cfg.source, cancel=stop)
        self.analyzer = CameraAnalyzer(cfg.device, cfg.zones, cfg.analyzer, self._emit)
        self.thread = threading.Thread(target=self._run, name=f"camera-{cfg.device}",
                                       daemon=True)
        self.fps = 0.0  # analysed frames per second over the last readings interval
        self.failure: str | None = None  # why the analysis died, when it was not the source
        self._counted = (0, clock())
        self.next_reading = clock() + cfg.readings_interval_s

    def _run(self) -> None:
        live = is_live(self.cfg.source.url)
        offset: float | None = 0.0 if live else None  # live frames carry wall-clock times
        try:
            while not self._stop.is_set() and (item := self.source.read()) is not None:
                if offset is None:
                    offset = self._clock() - item.ts
                ts = item.ts + offset
                # a file stands in for a camera: played at its recorded pace, so event
                # times are never ahead of the wall clock (ingest refuses future times)
                if not live and self._stop.wait(max(0.0, ts - self._clock())):
                    break
                self.analyzer.process(item.image, ts)
        except Exception as exc:  # a broken frame must not kill the agent; the source is done
            log.exception("camera %s: analysis failed", self.cfg.device)
            self.failure = f"analysis failed: {type(exc).__name__}: {exc}"
        finally:
            self.source.close()

    def _emit(self, event: Event, jpeg: bytes | None) -> None:
        if jpeg is not None and event["snapshot"]:
            try:  # best effort: a failing sink must lose neither the event nor the camera
                self._sink()(event["snapshot"], jpeg)
            except Exception:
                log.exception("camera %s: snapshot %s not sent", self.cfg.device,
                              event["snapshot"])
        item = DeviceEvent(self.agent, event["id"], event["device"], event["ts"], event["type"],
                           event["state"], zone=event["zone"], score=event["score"],
                           attrs=event["attrs"], snapshot=event["snapshot"])
        while not self._stop.is_set():
            try:
                self._events.put(item, timeout=0.5)
                return
            except queue.Full:
                continue  # the agent is behind: wait for it, never drop an event
        log.warning("camera %s: stopping with event %s unsent", self.cfg.device, item.id)

    def readings(self, now: float) -> list[Reading]:
        """`fps`, and `people_count`/`vehicle_count` of the analyzer's last look."""
        fps = self.reading(now)
        if fps is None:
            return []
        out = [fps]
        for metric in ("people_count", "vehicle_count"):
            value = getattr(self.analyzer, metric)
            if value is not None:
                out.append(Reading(self.agent, self.cfg.device, metric, now, float(value)))
        return out

    def reading(self, now: float) -> Reading | None:
        if self.state == "failed":
            # Silent, not "0 fps": a camera that is dead for good must go offline at the
            # backend like any dead sensor (the health fault says why), not look alive.
            return None
        if now < self.next_reading:
            return None
        self.next_reading = now + self.cfg.readings_interval_s
        frames, since = self._counted
        self._counted = (self.analyzer.frames, now)
        self.fps = (self.analyzer.frames - frames) / max(now - since, 1e-6)
        return Reading(self.agent, self.cfg.device, "fps", now, round(self.fps, 2))

    @property
    def state(self) -> str:
        return "failed" if self.failure is not None else self.source.stats.state

    @property
    def fault(self) -> str | None:
        if self.failure is not None:
            return self.failure
        stats = self.source.stats
        return stats.last_error if stats.state == "failed" else None


class CameraAdapter:
    name = "camera"

    def __init__(self, agent: str, cameras: list[CameraConfig], *, clock: Clock = wall_clock,
                 buffer: int = 1000) -> None:
        self.agent = agent
        devices = [c.device for c in cameras]
        if dupes := sorted({d for d in devices if devices.count(d) > 1}):
            raise ValueError(f"cameras {dupes}: each camera device may be listed once")
        # set by the wiring once the agent's publisher exists; until then images are dropped
        self.snapshot_sink: SnapshotSink = lambda _id, _jpeg: None
        self._events: queue.Queue[DeviceEvent] = queue.Queue(maxsize=buffer)
        self._stop = threading.Event()
        self.cameras = [_Camera(agent, c, self._events, self._stop, clock,
                                lambda: self.snapshot_sink) for c in cameras]

    def start(self) -> None:
        for cam in self.cameras:
            cam.thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Within `timeout_s` for all cameras together, not per camera."""
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for cam in self.cameras:
            if cam.thread.is_alive():
                cam.thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if cam.thread.is_alive():
                log.warning("camera %s: still stopping after %g s", cam.cfg.device, timeout_s)

    def poll(self, now: float) -> Polled:
        out = Polled()
        while True:
            try:
                out.events.append(self._events.get_nowait())
            except queue.Empty:
                break
        out.readings = [r for cam in self.cameras for r in cam.readings(now)]
        return out

    def health(self, now: float) -> list[DeviceHealth]:
        return [{"device": c.cfg.device, "battery": None, "rssi": None, "fault": c.fault}
                for c in self.cameras]

    def health_extra(self) -> dict[str, Any]:
        """Per camera for the health message: analysis fps, decoder restarts and state."""
        return {"cameras": {c.cfg.device: {"fps": round(c.fps, 2),
                                           "restarts": c.source.stats.restarts,
                                           "state": c.state}
                            for c in self.cameras}}
