"""Zones, episodes, the event shape, and the analyzer on drawn scenes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np
import pytest

from edge.camera.analyzer import AnalyzerSettings, CameraAnalyzer
from edge.camera.events import Episode, make_event
from edge.camera.tracker import Box
from edge.camera.zones import Zone

CONTRACT_FIELDS = {"id", "device", "ts", "type", "state", "zone", "score", "attrs", "snapshot"}
SQUARE = ((0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8))
Frame = np.ndarray[Any, np.dtype[np.uint8]]
Events = list[tuple[dict[str, Any], bytes | None]]


def shanghai(hour: int, minute: int = 0) -> float:
    """Unix time of that local hour in Shanghai (UTC+8) on some day."""
    return datetime(2026, 3, 2, (hour - 8) % 24, minute, tzinfo=UTC).timestamp()


def test_a_night_schedule_wraps_midnight_in_shanghai_time() -> None:
    zone = Zone("yard", "intrusion", SQUARE, schedule="22:00-06:00")
    assert zone.active(shanghai(23)) and zone.active(shanghai(5, 59))
    assert not zone.active(shanghai(6)) and not zone.active(shanghai(12))
    with pytest.raises(ValueError):
        Zone("bad", "intrusion", SQUARE, schedule="25:00-06:00")


def test_containment_and_line_crossing_direction() -> None:
    zone = Zone("z", "intrusion", SQUARE)
    assert zone.contains(0.5, 0.5) and not zone.contains(0.1, 0.5)
    gate = Zone("gate", "line", ((0.5, 0.0), (0.5, 1.0)))
    there, back = gate.crossed((0.4, 0.5), (0.6, 0.5)), gate.crossed((0.6, 0.5), (0.4, 0.5))
    assert {there, back} == {"a_to_b", "b_to_a"}
    assert gate.crossed((0.4, 0.5), (0.45, 0.5)) is None  # approached, did not cross
    short = Zone("short", "line", ((0.5, 0.0), (0.5, 0.3)))
    assert short.crossed((0.4, 0.5), (0.6, 0.5)) is None  # passed beyond the line's end


def test_an_episode_waits_for_its_dwell_rides_gaps_and_ends() -> None:
    ep = Episode(hold_s=5.0, clear_s=2.0, update_s=10.0)
    states = [ep.step(t, True) for t in (0.0, 1.0, 2.0, 3.0, 4.0)]
    states.append(ep.step(5.5, False))  # a short gap: the dwell keeps counting
    states += [ep.step(t, True) for t in (6.0, 16.5)]
    states += [ep.step(t, False) for t in (17.0, 19.0)]
    assert states == [None] * 6 + ["start", "update", None, "end"]
    assert [Episode(hold_s=5.0).step(t, on) for t, on in ((0, True), (4, False), (9, True))] == [
        None,
        None,
        None,
    ]  # the condition went away too long before the dwell was reached


def test_an_event_has_exactly_the_contract_fields() -> None:
    event = make_event("c.1", "cam-1", 10.0, "camera.intrusion", "start", "z", 1.7, {}, None)
    assert set(event) == CONTRACT_FIELDS
    assert event["score"] == 1.0  # clamped into [0, 1]


def scene(shape: tuple[int, int] = (120, 160)) -> Frame:
    """A textured, fixed background: flat frames would make every subtractor trivial."""
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, size=(*shape, 1), dtype=np.uint8)
    return np.repeat(cv2.GaussianBlur(noise, (3, 3), 0)[..., None], 3, axis=2)


def run(zones: list[Zone], frames: list[Frame], fps: float = 10.0) -> Events:
    events: Events = []
    analyzer = CameraAnalyzer(
        "cam-1", zones, AnalyzerSettings(fps=fps), lambda e, j: events.append((e, j))
    )
    for i, frame in enumerate(frames):
        analyzer.process(frame, 1000.0 + i / fps)
    return events


def with_box(bg: Frame, x: int, y: int, size: int = 16) -> Frame:
    frame = bg.copy()
    frame[y : y + size, x : x + size] = (230, 230, 230)
    return frame


def test_an_object_crossing_a_line_makes_one_instant_event_with_a_jpeg() -> None:
    bg = scene()
    frames = [bg] * 30 + [with_box(bg, 10 + 5 * i, 50) for i in range(25)]
    gate = Zone("gate", "line", ((0.5, 0.0), (0.5, 1.0)), direction="any")
    events = run([gate], frames)
    crossings = [(e, j) for e, j in events if e["type"] == "camera.line_crossing"]
    assert len(crossings) == 1
    event, jpeg = crossings[0]
    assert set(event) == CONTRACT_FIELDS and event["state"] == "instant"
    assert event["zone"] == "gate" and event["device"] == "cam-1"
    assert jpeg is not None and jpeg[:2] == b"\xff\xd8" and event["snapshot"]
    # the same crossing filtered to the other direction is not an event
    went_a_to_b = event["attrs"]["direction"] == "a_to_b"
    opposite = Zone("gate", "line", gate.points, direction="b_to_a" if went_a_to_b else "a_to_b")
    assert not [e for e, _ in run([opposite], frames) if e["type"] == "camera.line_crossing"]


def test_intrusion_starts_when_an_object_stands_in_the_zone_and_ends_after_it_leaves() -> None:
    bg = scene()
    walk = [with_box(bg, 10 + 4 * i, 40) for i in range(30)]  # ends at x=126, inside
    frames = [bg] * 30 + walk + [bg] * 40
    zone = Zone("yard", "intrusion", ((0.6, 0.0), (1.0, 0.0), (1.0, 1.0), (0.6, 1.0)))
    events = [e for e, _ in run([zone], frames) if e["type"] == "camera.intrusion"]
    assert [e["state"] for e in events] == ["start", "end"]
    assert events[1]["attrs"]["start_id"] == events[0]["id"]
    assert len({e["id"] for e in events}) == 2
    # outside its schedule the same walk is no event
    closed = Zone("yard", "intrusion", zone.points, schedule="00:00-00:01")
    assert not [e for e, _ in run([closed], frames) if e["type"] == "camera.intrusion"]


def test_a_covered_lens_is_tamper() -> None:
    bg = scene()
    events = run([], [bg] * 40 + [np.zeros_like(bg)] * 50)
    tamper = [e for e, _ in events if e["type"] == "camera.tamper"]
    assert tamper and tamper[0]["state"] == "start" and "covered" in tamper[0]["attrs"]["kinds"]


def test_a_fast_downward_track_on_a_building_face_is_a_falling_object() -> None:
    bg = scene((160, 120))
    drop = [with_box(bg, 50, 5 + int(1.5 * i * i), 10) for i in range(10)]  # accelerating
    face = Zone("face", "building_face", ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)))
    events = [e for e, _ in run([face], [bg] * 30 + drop) if e["type"] == "camera.falling_object"]
    assert len(events) == 1 and events[0]["state"] == "instant"
    slow = [with_box(bg, 50, 5 + i, 10) for i in range(40)]  # a walker's pace
    assert not [e for e, _ in run([face], [bg] * 30 + slow) if e["type"] == "camera.falling_object"]


def collect(events: Events) -> Callable[[dict[str, Any], bytes | None], None]:
    return lambda e, j: events.append((e, j))


class StubPeople:
    """Stands in for HOG: says a person stands where the tracked region is, or not."""

    def __init__(self, person: bool) -> None:
        self.person, self.looks = person, 0

    def detect(self, frame: Frame, regions: list[Box]) -> list[Box]:
        self.looks += 1
        return list(regions[:1]) if self.person else []


def test_confirm_people_lets_only_a_person_be_an_intrusion_and_counts_at_its_rate() -> None:
    bg = scene()
    walk = [with_box(bg, 10 + 4 * i, 40) for i in range(30)]
    frames = [bg] * 30 + walk + [bg] * 40
    zone = Zone("yard", "intrusion", ((0.6, 0.0), (1.0, 0.0), (1.0, 1.0), (0.6, 1.0)))
    for person, expected in ((True, ["start", "end"]), (False, [])):
        events: Events = []
        settings = AnalyzerSettings(fps=10.0, confirm_people=True)
        analyzer = CameraAnalyzer("cam-1", [zone], settings, collect(events))
        stub = StubPeople(person)
        analyzer.people = stub  # type: ignore[assignment]
        for i, frame in enumerate(frames):
            analyzer.process(frame, 1000.0 + i / 10.0)
        assert [e["state"] for e, _ in events if e["type"] == "camera.intrusion"] == expected
        # about once a second while something is tracked (3 s of walk), not per frame
        assert 2 <= stub.looks <= 5
        assert analyzer.people_count == 0 and analyzer.vehicle_count == 0  # all gone
