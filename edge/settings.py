"""What `gridwatch edge --adapters FILE` reads: which device adapters the agent runs and
how its store-and-forward is bounded. YAML, strict (unknown keys are errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from edge.camera.analyzer import DEFAULT_WIDTH
from edge.camera.decode import is_live
from edge.camera.zones import ZoneKind
from edge.outbox import SNAPSHOT_MAX_BYTES
from gridwatch.mqtt import MAX_PAYLOAD_BYTES


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReplaySpec(Strict):
    csv: Path | None = Field(default=None, description="Readings: device,metric,ts,value.")
    events_csv: Path | None = Field(default=None, description="Events: device,type,ts,state,id.")
    speed: float | None = Field(default=1.0, gt=0, description="1 = recorded pace; null = at once.")
    retime: bool = Field(default=False, description="Move the recording so it starts now.")


class Zigbee2MqttSpec(Strict):
    mqtt: str = Field(default="mqtt://127.0.0.1:1883", description="Zigbee2MQTT's broker.")
    base_topic: str = "zigbee2mqtt"
    devices: dict[str, str] = Field(description="Zigbee2MQTT friendly name -> gridwatch id.")


class FrigateSpec(Strict):
    mqtt: str = Field(default="mqtt://127.0.0.1:1883", description="Frigate's broker.")
    topic: str = "frigate/events"
    cameras: dict[str, str] = Field(description="Frigate camera name -> gridwatch id.")


class ZoneSpec(Strict):
    """One zone of a camera view; the fields of `edge.camera.zones.Zone`."""

    name: str = Field(min_length=1, description="Carried as the events' `zone`.")
    kind: ZoneKind = Field(description="intrusion, loitering, no_parking, fire_lane, line, "
                                       "building_face: which events the zone raises.")
    points: list[tuple[float, float]] = Field(
        description="Polygon corners (a line: its two ends A, B) as [x, y] fractions of "
                    "the frame width and height, 0..1.")
    schedule: str | None = Field(default=None, description="Local Shanghai hours it is "
                                 "watched, e.g. 22:00-06:00; null: always.")
    dwell_s: float = Field(default=0.0, ge=0, description="Loitering, parking, fire lane: "
                           "seconds of presence before it is an event.")
    direction: Literal["any", "a_to_b", "b_to_a"] = Field(
        default="any", description="Lines: which crossings count.")
    min_fill: float = Field(default=0.05, gt=0, le=1, description="Dwell zones: share of "
                            "the zone covered to count as occupied.")


class CameraSpec(Strict):
    device: str = Field(description="Registry id of a `camera` device of this agent.")
    source: str = Field(
        min_length=1,
        description="rtsp:// URL, video file or folder of images (relative paths are relative "
        "to this file); files play at recorded pace.",
    )
    fps: float = Field(default=10.0, gt=0, le=60, description="Analysis frames per second.")
    width: int = Field(default=DEFAULT_WIDTH, ge=64, le=4096, description="Analysis width: "
                       "frames are halved while they stay at least this wide (a 640x480 or "
                       "1280x720 camera is analysed 320 wide with 320).")
    readings_interval_s: float = Field(default=10.0, gt=0, description="How often the "
                                       "camera's `fps`, `people_count` and `vehicle_count` "
                                       "readings are sent.")
    people_interval_s: float = Field(default=1.0, ge=0, le=3600, description="Seconds between "
                                     "looks for people (OpenCV's HOG on the tracked "
                                     "regions only); 0: never, and no counts.")
    confirm_people: bool = Field(default=False, description="Intrusion and loitering only "
                                 "when a person was seen (not a shadow or a headlight).")
    zones: list[ZoneSpec] = Field(default_factory=list, description="Zones and lines watched.")


class OutboxSpec(Strict):
    on_disk: bool = Field(default=True, description="false: memory only (lost on restart).")
    max_bytes: int = Field(default=256 << 20, ge=1, description="Telemetry dropped past this.")
    max_age_s: float = Field(default=7 * 86_400.0, gt=0, description="Older telemetry dropped.")
    snapshot_max_bytes: int = Field(
        default=SNAPSHOT_MAX_BYTES, ge=MAX_PAYLOAD_BYTES,
        description="Camera snapshots waiting: the oldest dropped past this (their own "
                    "cap: never at the expense of events or telemetry).")
    max_rate: float | None = Field(default=200.0, gt=0, description="Messages/s to the broker.")


class EdgeSettings(Strict):
    simulators: bool = Field(default=True, description="Run the simulated devices.")
    replay: list[ReplaySpec] = Field(default_factory=list)
    zigbee2mqtt: Zigbee2MqttSpec | None = None
    frigate: FrigateSpec | None = None
    cameras: list[CameraSpec] = Field(default_factory=list,
                                      description="Cameras the agent analyses itself.")
    outbox: OutboxSpec = Field(default_factory=OutboxSpec)


def load_settings(path: Path | None) -> EdgeSettings:
    """The defaults without a file; relative CSV and camera file paths are relative to
    the file."""
    if path is None:
        return EdgeSettings()
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    settings = EdgeSettings.model_validate(raw)
    replay = [
        r.model_copy(update={
            "csv": path.parent / r.csv if r.csv else None,
            "events_csv": path.parent / r.events_csv if r.events_csv else None,
        })
        for r in settings.replay
    ]
    cameras = [
        c if is_live(c.source) else c.model_copy(update={"source": str(path.parent / c.source)})
        for c in settings.cameras
    ]
    return settings.model_copy(update={"replay": replay, "cameras": cameras})
