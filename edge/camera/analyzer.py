"""`CameraAnalyzer`: one camera's frames in, contract events and JPEG snapshots out.

Per frame: motion mask and blobs, tracks, the long-term static view, then each zone's
condition fed to its episode (start/update/end) and the instant events (line crossing,
falling object). Tamper and the smoke cue are whole-frame episodes without a zone.
`emit(event, jpeg)` receives each event with its snapshot bytes (start and instant
events only) for the snapshot topic, `gw/v1/{agent}/snapshots/{event["snapshot"]}`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from edge.camera.cues import Image, StaticModel, Tamper, TamperCheck, smoke_fraction
from edge.camera.decode import resize_to
from edge.camera.events import Episode, Event, EventIds, make_event
from edge.camera.motion import MotionDetector, MotionSettings
from edge.camera.people import PeopleDetector, PeopleSettings
from edge.camera.rules import Observation, falling, line_crossings, zone_condition
from edge.camera.tracker import Track, Tracker
from edge.camera.zones import Zone

Emit = Callable[[Event, bytes | None], None]
# frames are halved while at least this wide (see `decode.resize_to`): 320 keeps the
# masks' F on CDnet highway (0.917 vs 0.918 at 640) at about four times the rate
DEFAULT_WIDTH = 320


@dataclass(frozen=True, slots=True)
class AnalyzerSettings:
    width: int = DEFAULT_WIDTH
    motion: MotionSettings = field(default_factory=MotionSettings)
    clear_s: float = 2.0  # a condition gone this long ends its event
    update_s: float = 30.0  # an ongoing event repeats as "update" this often
    min_hits: int = 3  # frames an object must be tracked before it counts
    fall_speed: float = 0.5  # frame heights per second, downward
    smoke_fraction: float = 0.01  # share of the frame that looks like smoke
    hold_s: float = 3.0  # tamper and smoke must last this long
    static_time_constant_s: float = 300.0  # memory of the long-term view
    fps: float = 10.0  # the analysis rate the time constant is counted in
    jpeg_quality: int = 80
    # Whole-frame cues at the rate their purpose needs, not the camera's: tamper (a
    # covered or turned camera) lasts, and the smoke cue must hold for `hold_s` anyway.
    tamper_interval_s: float = 1.0
    smoke_interval_s: float = 0.5
    # people: OpenCV's HOG on the tracked regions, `people.interval_s` apart; with
    # `confirm_people`, intrusion needs a person seen on the track within
    # `person_memory_s`, and loitering a person seen in the zone (a shadow or a
    # headlight is not a person). Off by default: on the shared clips HOG misses most
    # of the people seen from above (see the README's measured figures).
    people: PeopleSettings = field(default_factory=PeopleSettings)
    confirm_people: bool = False
    person_memory_s: float = 10.0


class CameraAnalyzer:
    def __init__(
        self, camera_id: str, zones: list[Zone], settings: AnalyzerSettings, emit: Emit
    ) -> None:
        self.camera_id = camera_id
        self.zones = zones
        self.settings = s = settings
        self.emit = emit
        self.ids = EventIds(camera_id)
        self.motion = MotionDetector(s.motion)
        self.tracker = Tracker()
        self.static = StaticModel(s.static_time_constant_s * s.fps)
        self.tamper = TamperCheck()
        self._tamper = Tamper(False, False, False)
        self._tamper_at = -float("inf")
        self._smoke = 0.0
        self._smoke_at = -float("inf")
        self.episodes: dict[tuple[str, str | None], Episode] = {}
        self._fallen: set[int] = set()
        self._masks: dict[str, np.ndarray[Any, np.dtype[np.bool_]]] = {}
        self.people = PeopleDetector(s.people) if s.people.interval_s > 0 else None
        self._people_at = -float("inf")
        self._person_seen: dict[int, float] = {}  # track id -> last time HOG confirmed it
        self._people_feet: list[tuple[float, float]] = []  # of the last pass
        self.people_count: int | None = None  # of the last pass; None: never looked
        self.vehicle_count: int | None = None
        self.frames = 0

    def process(self, frame: Image, ts: float) -> None:
        original = frame
        frame = resize_to(frame, self.settings.width)
        mask, blobs = self.motion.apply(frame)
        shape = (frame.shape[0], frame.shape[1])
        tracks = self.tracker.update(ts, blobs, shape)
        self._look_for_people(original, ts, tracks)
        if ts - self._tamper_at >= self.settings.tamper_interval_s or ts < self._tamper_at:
            self._tamper, self._tamper_at = self.tamper.check(frame), ts
        tamper = self._tamper
        if not tamper.any:  # a covered or turned camera says nothing about its zones
            self._zones(frame, ts, mask, tracks)
        self._whole_frame(frame, ts, mask, tamper.kinds())
        self.frames += 1

    def _look_for_people(self, frame: Image, ts: float, tracks: list[Track]) -> None:
        """At most once per `people.interval_s`, and only when something is tracked:
        HOG on the upright tracked regions of the frame; counts people and vehicles (a
        tracked object wider than tall)."""
        s = self.settings
        if self.people is None or (0 <= ts - self._people_at < s.people.interval_s):
            return
        seen = sorted((t for t in tracks if t.hits >= s.min_hits),
                      key=lambda t: t.box[2] * t.box[3], reverse=True)
        if not seen and self.people_count is not None:
            self.people_count, self.vehicle_count = 0, 0
            return
        self._people_at = ts
        fh, fw = frame.shape[:2]
        # upright (taller than wide) is what a standing person is; the rest is counted as
        # vehicles and never costs a HOG pass (wide crops are the costly ones)
        upright = [t for t in seen if t.box[3] * fh >= t.box[2] * fw]
        found = self.people.detect(frame, [t.box for t in upright])
        self._people_feet = [(x + w / 2, y + h) for x, y, w, h in found]
        for t in upright:
            x, y, w, h = t.box
            if any(x <= px + pw / 2 <= x + w and y <= py + ph / 2 <= y + h
                   for px, py, pw, ph in found):
                self._person_seen[t.id] = ts
        vehicles = len(seen) - len(upright)
        self.people_count, self.vehicle_count = len(found), vehicles
        live = {t.id for t in tracks}
        self._person_seen = {k: v for k, v in self._person_seen.items() if k in live}

    def _person(self, track: Track, ts: float) -> bool:
        return ts - self._person_seen.get(track.id, -float("inf")) <= self.settings.person_memory_s

    def _zones(self, frame: Image, ts: float, mask: Image, tracks: list[Track]) -> None:
        s = self.settings
        covered = None
        for zone in self.zones:
            if zone.kind in ("loitering", "no_parking", "fire_lane") and covered is None:
                covered = self.static.apply(frame, mask) | (mask > 0)
            inside = covered[self._mask(zone, mask.shape)] if covered is not None else np.zeros(0)
            seen = tracks
            if s.confirm_people and zone.kind == "intrusion":
                seen = [t for t in tracks if self._person(t, ts)]
            obs = zone_condition(zone, ts, seen, inside.astype(bool), s.min_hits)
            if obs is not None and obs.on and s.confirm_people and zone.kind == "loitering":
                recent = ts - self._people_at <= s.person_memory_s
                if not (recent and any(zone.contains(*f) for f in self._people_feet)):
                    obs = Observation(obs.type, obs.zone, False, 0.0, obs.attrs)
            if obs is not None:
                self._episode(obs, ts, frame, Episode(zone.dwell_s, s.clear_s, s.update_s))
            if zone.kind == "line" and zone.active(ts):
                for crossing in line_crossings(zone, tracks, s.min_hits):
                    self._send(crossing, "instant", ts, frame)
            if zone.kind == "building_face" and zone.active(ts):
                for t in falling(zone, tracks, s.fall_speed):
                    if t.id not in self._fallen:
                        self._fallen.add(t.id)
                        speed = {"track": t.id, "box": [round(v, 3) for v in t.box]}
                        obs = Observation("camera.falling_object", zone.name, True, 1.0, speed)
                        self._send(obs, "instant", ts, frame)
        self._fallen &= set(self.tracker.tracks)

    def _whole_frame(self, frame: Image, ts: float, mask: Image, tamper: list[str]) -> None:
        s = self.settings
        hold = Episode(s.hold_s, s.clear_s, s.update_s)
        obs = Observation("camera.tamper", None, bool(tamper), 1.0, {"kinds": tamper})
        self._episode(obs, ts, frame, hold)
        if tamper:
            self._smoke = 0.0
        elif ts - self._smoke_at >= s.smoke_interval_s or ts < self._smoke_at:
            self._smoke, self._smoke_at = smoke_fraction(frame, self.motion.background, mask), ts
        share = self._smoke
        score = min(1.0, share / (4 * s.smoke_fraction))
        obs = Observation("camera.smoke", None, share >= s.smoke_fraction, score, {})
        self._episode(obs, ts, frame, Episode(s.hold_s, s.clear_s, s.update_s))

    def _episode(self, obs: Observation, ts: float, frame: Image, new: Episode) -> None:
        episode = self.episodes.setdefault((obs.type, obs.zone), new)
        state = episode.step(ts, obs.on, obs.score)
        if state is None:
            return
        attrs = {**obs.attrs, "dwell_s": round(episode.dwell(ts), 1)} if obs.on else {}
        if episode.start_id and state != "start":
            attrs["start_id"] = episode.start_id
        score = episode.peak if state != "end" else obs.score
        event_id = self._send(
            Observation(obs.type, obs.zone, obs.on, score, attrs), state, ts, frame
        )
        if state == "start":
            episode.start_id = event_id

    def _send(self, obs: Observation, state: str, ts: float, frame: Image) -> str:
        event_id = self.ids.next()
        jpeg = None
        if state in ("start", "instant"):
            ok, buf = cv2.imencode(
                ".jpg",
                self._annotated(frame, obs.zone),
                [cv2.IMWRITE_JPEG_QUALITY, self.settings.jpeg_quality],
            )
            jpeg = buf.tobytes() if ok else None
        snapshot = f"{event_id}-snap" if jpeg else None
        self.emit(
            make_event(
                event_id,
                self.camera_id,
                ts,
                obs.type,
                state,
                obs.zone,
                obs.score,
                obs.attrs,
                snapshot,
            ),
            jpeg,
        )
        return event_id

    def _annotated(self, frame: Image, zone_name: str | None) -> Image:
        """The frame with the zone outlined and tracked objects boxed, for the guard."""
        out = frame.copy()
        h, w = out.shape[:2]
        for zone in self.zones:
            if zone.name == zone_name:
                pts = np.array([(x * (w - 1), y * (h - 1)) for x, y in zone.points], np.int32)
                cv2.polylines(out, [pts], zone.kind != "line", (0, 0, 255), 2)
        for t in self.tracker.tracks.values():
            x, y, bw, bh = (
                int(t.box[0] * w),
                int(t.box[1] * h),
                int(t.box[2] * w),
                int(t.box[3] * h),
            )
            cv2.rectangle(out, (x, y), (x + bw, y + bh), (0, 255, 255), 1)
        return out

    def _mask(self, zone: Zone, shape: tuple[int, ...]) -> np.ndarray[Any, np.dtype[np.bool_]]:
        key = f"{zone.name}@{shape[0]}x{shape[1]}"
        if key not in self._masks:
            self._masks[key] = zone.mask((shape[0], shape[1]))
        return self._masks[key]
