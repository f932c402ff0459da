"""Rule specs and a fake time-series store for the rule library's unit tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from config.models import DeviceSpec
from config.models_rules import (
    CameraRuleSpec,
    FlatlineRuleSpec,
    NoisyRuleSpec,
    RangeRuleSpec,
    RateRuleSpec,
)
from config.registry import Registry
from gridwatch.reading_table import ReadingTable
from gridwatch.records import Reading
from store.interfaces import DeviceActivity, SeriesPoint
from tests.support.tiny_street import street


def heat_rise(**changes: Any) -> RateRuleSpec:
    """Heat rising 8 °C/min or faster over 3 minutes fires; below 4 °C/min clears."""
    fields: dict[str, Any] = {
        "id": "heat-rise",
        "device_type": "heat_detector",
        "metric": "temperature_c",
        "direction": "rise",
        "window_s": 180.0,
        "fire_per_min": 8.0,
        "clear_per_min": 4.0,
        "severity": "critical",
        "alert_type": "fire.heat_rise",
        "summary": "{device} rising {value} °C/min",
    }
    return RateRuleSpec(**(fields | changes))


def pressure_fall(**changes: Any) -> RateRuleSpec:
    fields: dict[str, Any] = {
        "id": "hydrant-fall",
        "device_type": "hydrant_pressure",
        "metric": "water_pressure_mpa",
        "direction": "fall",
        "window_s": 120.0,
        "fire_per_min": 0.05,
        "clear_per_min": 0.01,
        "severity": "major",
        "alert_type": "fire.pressure_loss",
        "summary": "{device} falling {value} MPa/min",
    }
    return RateRuleSpec(**(fields | changes))


def heat_range(**changes: Any) -> RangeRuleSpec:
    fields: dict[str, Any] = {
        "id": "heat-range",
        "device_type": "heat_detector",
        "metric": "temperature_c",
        "low": -40.0,
        "high": 150.0,
        "severity": "minor",
        "alert_type": "device.sensor_fault",
        "summary": "{device} implausible {value}",
    }
    return RangeRuleSpec(**(fields | changes))


def heat_flatline(**changes: Any) -> FlatlineRuleSpec:
    fields: dict[str, Any] = {
        "id": "heat-stuck",
        "device_type": "heat_detector",
        "metric": "temperature_c",
        "tolerance": 0.01,
        "samples": 5,
        "stuck_s": 240.0,
        "severity": "minor",
        "alert_type": "device.sensor_stuck",
        "summary": "{device} stuck at {value}",
    }
    return FlatlineRuleSpec(**(fields | changes))


def heat_noisy(**changes: Any) -> NoisyRuleSpec:
    fields: dict[str, Any] = {
        "id": "heat-noisy",
        "device_type": "heat_detector",
        "metric": "temperature_c",
        "samples": 10,
        "min_step": 0.5,
        "fire_reversals": 6,
        "clear_reversals": 3,
        "severity": "minor",
        "alert_type": "device.sensor_noisy",
        "summary": "{device} {value} reversals",
    }
    return NoisyRuleSpec(**(fields | changes))


def camera_rule(**changes: Any) -> CameraRuleSpec:
    fields: dict[str, Any] = {
        "id": "night-intrusion",
        "event_type": "camera.intrusion",
        "zones": ["roof"],
        "schedule": "22:00-06:00",
        "severity": "major",
        "alert_type": "camera.intrusion",
        "summary": "{device} intrusion in {zone}",
    }
    return CameraRuleSpec(**(fields | changes))


class FakeSeries:
    """The `series` part of a TimeSeriesStore over a list of readings."""

    def __init__(self, readings: Sequence[Reading]) -> None:
        self.readings = list(readings)
        self.asked: list[tuple[str, str, float, float]] = []

    def series(
        self, device: str, metric: str, start: float, end: float, step: float | None
    ) -> list[SeriesPoint]:
        self.asked.append((device, metric, start, end))
        mine = [r for r in self.readings if r.device == device and r.metric == metric]
        return [
            SeriesPoint(r.ts, r.value)
            for r in sorted(mine, key=lambda r: r.ts)
            if start <= r.ts < end
        ]

    def write_readings(self, readings: Sequence[Reading]) -> list[Reading]:
        self.readings += readings
        return list(readings)

    def write_table(self, readings: ReadingTable) -> ReadingTable:
        self.write_readings(readings.records())
        return readings

    def write_events(self, events: Sequence[Any]) -> list[Any]:
        return list(events)

    def held_at_open(self, events: Sequence[Any]) -> list[Any]:
        return []

    def reading_count(self) -> int:
        return len(self.readings)

    def activity(self, start: float, end: float) -> list[DeviceActivity]:
        return []

    def close(self) -> None:
        pass


def rule_street(devices: Sequence[DeviceSpec], **rules: Any) -> Registry:
    """The tiny street with these `rules:` fields set (e.g. rates=[...], elevator=...)."""
    base = street(devices).config
    return Registry.from_config(
        base.model_copy(update={"rules": base.rules.model_copy(update=rules)})
    )
