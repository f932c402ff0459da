"""Frigate's `frigate/events` (new / update / end of a tracked object) to gridwatch
camera events (pure: no network here; see `mqtt_bridge`).

- a person in a zone -> `camera.intrusion` (zone: the first current zone);
- a car, truck, bus or motorcycle that has become stationary -> `camera.vehicle_dwell`
  (the shop-front parking problem; zone when it is in one);
- fire or smoke -> `camera.smoke`.
A tracked object becomes one gridwatch event, keyed by Frigate's event id: `start` the
first time its object qualifies, `update` when its zone changes, `end` with Frigate's
end. Repeats (a second `new`, updates that change nothing we carry, anything after the
end) are dropped, and a false positive never starts one.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

from edge.adapters.base import DeviceHealth, Polled
from edge.adapters.values import as_number, as_time, json_object
from gridwatch.records import DeviceEvent

VEHICLES = {"car", "truck", "bus", "motorcycle"}
REMEMBERED = 10_000  # Frigate ids kept for dedup; far more than objects alive at once


@dataclass(slots=True)
class _Tracked:
    type: str | None = None  # set once a gridwatch event started
    zone: str | None = None
    updates: int = 0
    ended: bool = False


def classify(obj: dict[str, Any]) -> tuple[str, str | None] | None:
    """(event type, zone) for a Frigate object, or None when it is nothing we report."""
    label = obj.get("label")
    zones = obj.get("current_zones") or []
    zone = str(zones[0]) if isinstance(zones, list) and zones else None
    if obj.get("false_positive") is True:
        return None
    if label == "person" and zone is not None:
        return "camera.intrusion", zone
    if label in VEHICLES and obj.get("stationary") is True:
        return "camera.vehicle_dwell", zone
    if label in ("fire", "smoke"):
        return "camera.smoke", zone
    return None


class FrigateMapper:
    def __init__(self, agent: str, cameras: dict[str, str], topic: str = "frigate/events") -> None:
        self.agent = agent
        self.topic = topic
        self.cameras = cameras  # Frigate camera name -> gridwatch device id
        self._tracked: OrderedDict[str, _Tracked] = OrderedDict()
        self.ignored = 0

    @property
    def subscriptions(self) -> list[str]:
        return [self.topic]

    def handle(self, topic: str, payload: bytes, now: float) -> Polled:
        msg = json_object(payload) if topic == self.topic else None
        after = msg.get("after") if msg else None
        kind = msg.get("type") if msg else None
        if not isinstance(after, dict) or kind not in ("new", "update", "end"):
            self.ignored += 1
            return Polled()
        fid, device = after.get("id"), self.cameras.get(str(after.get("camera")))
        if not isinstance(fid, str) or device is None:
            self.ignored += 1
            return Polled()
        tracked = self._remember(fid)
        if tracked.ended:
            return Polled()  # a late or repeated message about a finished object
        ts = as_time(after.get("end_time") if kind == "end" else after.get("frame_time")) or now
        score = as_number(after.get("top_score"))
        event = self._step(fid, device, tracked, kind, after, round(ts, 3), score)
        return Polled(events=[event] if event else [])

    def health(self, now: float) -> list[DeviceHealth]:
        return []  # Frigate's own stats topic is where camera health lives

    def _step(self, fid: str, device: str, t: _Tracked, kind: str, after: dict[str, Any],
              ts: float, score: float | None) -> DeviceEvent | None:
        if kind == "end":
            t.ended = True
            if t.type is None:
                return None
            return self._event(fid, device, t.type, "end", ts, t.zone, score, "end")
        found = classify(after)
        if found is None:
            return None
        type_, zone = found
        if t.type is None:
            t.type, t.zone = type_, zone
            return self._event(fid, device, type_, "start", ts, zone, score, "start")
        if type_ != t.type or zone == t.zone:
            return None  # nothing new to tell
        t.zone, t.updates = zone, t.updates + 1
        return self._event(fid, device, t.type, "update", ts, zone, score, f"u{t.updates}")

    def _event(self, fid: str, device: str, type_: str,
               state: Literal["start", "update", "end"], ts: float, zone: str | None,
               score: float | None, suffix: str) -> DeviceEvent:
        attrs: dict[str, Any] = {"source": "frigate", "frigate_id": fid}
        if state != "start":
            attrs["start_id"] = f"frigate-{fid}-start"
        if score is not None:
            score = min(1.0, max(0.0, score))
        return DeviceEvent(self.agent, f"frigate-{fid}-{suffix}", device, ts, type_, state,
                           zone=zone, score=score, attrs=attrs)

    def _remember(self, fid: str) -> _Tracked:
        tracked = self._tracked.get(fid)
        if tracked is None:
            tracked = self._tracked[fid] = _Tracked()
            if len(self._tracked) > REMEMBERED:
                self._tracked.popitem(last=False)
        return tracked
