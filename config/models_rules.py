"""Configuration models of the detector rules (`rules:`): thresholds, offline, events,
and the rule library beyond them.

Each reading rule applies to one device type and metric, with per-device overrides of
its numeric parameters (the names each rule allows are in its OVERRIDABLE tuple, which
`config.validate` checks). Every rule shares the alert lifecycle: a condition must hold
`min_duration_s` to fire and stay clear `hold_s` to resolve, so a flapping condition
stays one firing alert instead of a storm.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from config.models_base import LOCAL_HOURS, OBJECT_ID, DeviceType, Severity, Strict

ALERT_TYPE = r"^[a-z]+(\.[a-z_]+)+$"


class ReadingRuleSpec(Strict):
    """Fields every windowed reading rule shares."""

    OVERRIDABLE: ClassVar[tuple[str, ...]] = ("min_duration_s", "hold_s")

    id: str = Field(pattern=OBJECT_ID, description="Rule id; part of the alert fingerprint.")
    device_type: DeviceType
    metric: str = Field(min_length=1)
    min_duration_s: float = Field(default=0.0, ge=0, description="Condition must hold this long.")
    hold_s: float = Field(
        default=0.0, ge=0, description="Condition must stay clear this long to resolve."
    )
    severity: Severity
    alert_type: str = Field(pattern=ALERT_TYPE, description="Dotted alert type.")
    summary: str = Field(min_length=1, description="{device}, {value}, {metric} are filled in.")
    overrides: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Per-device overrides of the numeric fields."
    )


class RateRuleSpec(ReadingRuleSpec):
    """Rate of rise (heat detectors) or fall (water pressure) over a time window."""

    OVERRIDABLE: ClassVar[tuple[str, ...]] = (
        "min_duration_s",
        "hold_s",
        "fire_per_min",
        "clear_per_min",
        "window_s",
    )

    direction: Literal["rise", "fall"]
    window_s: float = Field(gt=0, le=3600, description="The rate is taken over this window.")
    fire_per_min: float = Field(gt=0, description="Fires at this change per minute or more.")
    clear_per_min: float = Field(ge=0, description="Clears below this change per minute.")


class RangeRuleSpec(ReadingRuleSpec):
    """A value outside what the sensor can physically report: a sensor fault, not an alarm."""

    OVERRIDABLE: ClassVar[tuple[str, ...]] = ("min_duration_s", "hold_s", "low", "high")

    low: float = Field(description="Lowest plausible value.")
    high: float = Field(description="Highest plausible value.")


class FlatlineRuleSpec(ReadingRuleSpec):
    """A stuck sensor: no change beyond `tolerance` over `samples` readings and `stuck_s`."""

    OVERRIDABLE: ClassVar[tuple[str, ...]] = (
        "min_duration_s",
        "hold_s",
        "tolerance",
        "samples",
        "stuck_s",
    )

    tolerance: float = Field(ge=0, description="Changes up to this much count as no change.")
    samples: int = Field(ge=2, description="At least this many unchanged readings in a row.")
    stuck_s: float = Field(gt=0, description="And unchanged for at least this long.")


class NoisyRuleSpec(ReadingRuleSpec):
    """A noisy or flapping sensor: many direction reversals among the last readings."""

    OVERRIDABLE: ClassVar[tuple[str, ...]] = (
        "min_duration_s",
        "hold_s",
        "min_step",
        "fire_reversals",
        "clear_reversals",
    )

    samples: int = Field(
        ge=3, le=1024, description="Reversals are counted over this many readings."
    )
    min_step: float = Field(ge=0, description="Steps smaller than this are not a reversal.")
    fire_reversals: int = Field(ge=1, description="Fires at this many reversals or more.")
    clear_reversals: int = Field(ge=0, description="Clears below this many reversals.")


# The names of detectors.anomaly_registry.DETECTORS (a test keeps the two equal; the
# config cannot import the detectors).
AnomalyDetectorName = Literal["robust-knn", "robust-knn-step", "gaussian"]


class AnomalyRuleSpec(ReadingRuleSpec):
    """The online anomaly detector's score (detectors.anomaly) over one metric: a warning.

    With a budget (the default) each device learns its own fire level from its scores
    (detectors.anomaly_level) so that normal operation raises at most that many alerts
    a month, and it does not page while it learns; `fire_score` is then the lowest level
    it may learn. Without one (`null`), the rule fires at `fire_score` from the start."""

    OVERRIDABLE: ClassVar[tuple[str, ...]] = (
        "min_duration_s",
        "hold_s",
        "fire_score",
        "clear_score",
        "max_false_alerts_per_device_month",
    )

    hold_s: float = Field(
        default=600.0, ge=0,
        description="The score must stay below the clear level this long to resolve: one "
        "anomaly is one alert, though its scores come and go.",
    )
    fire_score: float = Field(
        default=0.5, gt=0, le=1,
        description="Fires at this score; with a budget, the lowest fire level it may learn.",
    )
    clear_score: float = Field(
        default=0.3, ge=0, le=1,
        description="Clears below this score (or below the learnt level, if lower).",
    )
    max_false_alerts_per_device_month: float | None = Field(
        default=1.0, gt=0, le=1000,
        description="False-alert budget: each device sets its fire level so that normal "
        "operation raises at most this many alerts a month; null: fire at fire_score.",
    )
    learning_rows: int = Field(
        default=500, ge=1, le=1_000_000,
        description="Readings of a device before its rule may page (with a budget): "
        "the detector's own warm-up and the first scores the level is learnt from.",
    )
    detector: AnomalyDetectorName = Field(
        default="robust-knn",
        description="The online detector (as `gridwatch anomaly-scores --detector`): "
        "robust-knn for drift and changed daily patterns, robust-knn-step adds sudden "
        "steps (vibration, pressure rigs), gaussian is the plain reference.",
    )


class RigAnomalySpec(Strict):
    """Several metrics of one device taken together (detectors.rig_model): a pump set or a
    valve station whose pressures, flow, temperatures and vibration move together in
    normal operation. One warning when the rig as a whole leaves its own recent normal,
    which each sensor alone may not show. Times in rows are at the device's reporting
    interval; the defaults were chosen on SKAB's water-circulation rig (1 s rows)."""

    OVERRIDABLE: ClassVar[tuple[str, ...]] = ("min_duration_s", "hold_s")

    id: str = Field(pattern=OBJECT_ID, description="Rule id; part of the alert fingerprint.")
    device_type: DeviceType
    metrics: list[str] = Field(
        min_length=2, max_length=16,
        description="The metrics taken together, each a metric the device reports.",
    )
    detector: Literal["rig-residual"] = Field(
        default="rig-residual", description="The only multi-metric model so far."
    )
    min_duration_s: float = Field(
        default=45.0, ge=0,
        description="The score must stay at or above the level this long: a rig's "
        "one-off jolt (a pump starting) is not an anomaly.",
    )
    hold_s: float = Field(
        default=600.0, ge=0, description="The score must stay below the level this long to "
        "resolve: one anomaly is one alert.",
    )
    learning_rows: int = Field(
        default=500, ge=20, le=1_000_000,
        description="Rows before the rig may page; the model is learnt on the last four "
        "fifths of them, which must be normal operation (a fault then is learnt as "
        "normal). Longer is safer where the rig warms up or drifts slowly.",
    )
    level_factor: float = Field(
        default=5.0, gt=1, le=1000,
        description="Fires at this many times the largest score seen while learning.",
    )
    baseline_rows: float = Field(
        default=1200.0, ge=10, description="Time constant of the rig's recent normal."
    )
    carry_rows: int = Field(
        default=60, ge=0,
        description="A metric missing from a row carries its last value this many rows; "
        "beyond that the row is not scored.",
    )
    severity: Severity = "warning"
    alert_type: str = Field(pattern=ALERT_TYPE, description="Dotted alert type.")
    summary: str = Field(min_length=1, description="{device}, {value} (the score) are filled in.")
    overrides: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Per-device overrides of the numeric fields."
    )

    @field_validator("metrics")
    @classmethod
    def _distinct(cls, metrics: list[str]) -> list[str]:
        twice = sorted({m for m in metrics if metrics.count(m) > 1})
        if twice:
            raise ValueError(f"metrics listed twice: {', '.join(twice)}")
        if any(not m for m in metrics):
            raise ValueError("a metric name is empty")
        return metrics


class ElevatorRulesSpec(Strict):
    """Composite elevator conditions from the GB/T 24476 status readings."""

    OVERRIDABLE: ClassVar[tuple[str, ...]] = (
        "rated_speed_mps",
        "top_floor",
        "bottom_floor",
        "trapped_confirm_s",
    )

    rated_speed_mps: float = Field(default=1.75, gt=0, description="Rated car speed.")
    overspeed_factor: float = Field(default=1.15, gt=1, description="Overspeed above rated x this.")
    trapped_confirm_s: float = Field(
        default=60.0, ge=0, description="Occupied and stuck this long before it is an entrapment."
    )
    moving_confirm_s: float = Field(
        default=1.0, ge=0, description="Door open while running this long before it fires."
    )
    top_floor: float = Field(default=40.0, description="Highest landing; above is over-travel.")
    bottom_floor: float = Field(default=-3.0, description="Lowest landing; below is over-travel.")
    hold_s: float = Field(default=30.0, ge=0, description="Clear this long to resolve.")
    door_faults: int = Field(default=3, ge=2, description="This many door faults ...")
    door_fault_window_s: float = Field(default=600.0, gt=0, description="... within this window.")
    overrides: dict[str, dict[str, float]] = Field(default_factory=dict)


class CameraRuleSpec(Strict):
    """A camera analysis event becomes an alert only when its zone, schedule and dwell fit."""

    OVERRIDABLE: ClassVar[tuple[str, ...]] = ("min_dwell_s",)

    id: str = Field(pattern=OBJECT_ID, description="Rule id; part of the alert fingerprint.")
    event_type: str = Field(pattern=r"^camera\.[a-z_]+$")
    zones: list[str] | None = Field(default=None, description="Only these zones (all if omitted).")
    schedule: str | None = Field(
        default=None,
        pattern=LOCAL_HOURS,
        description="Only inside these local hours (Asia/Shanghai), e.g. 22:00-06:00.",
    )
    min_dwell_s: float = Field(
        default=0.0, ge=0, description="attrs.dwell_s (or time since its start) must reach this."
    )
    severity: Severity
    alert_type: str = Field(pattern=ALERT_TYPE)
    summary: str = Field(min_length=1, description="{device} and {zone} are filled in.")
    overrides: dict[str, dict[str, float]] = Field(default_factory=dict)


class CorrelationSpec(Strict):
    """Alerts that confirm or stand for one another."""

    fire_window_s: float = Field(
        default=180.0, gt=0, description="Smoke and heat in one building this close confirm a fire."
    )
    smoke_types: list[str] = Field(default_factory=lambda: ["fire.smoke"])
    heat_types: list[str] = Field(default_factory=lambda: ["fire.heat", "fire.heat_rise"])
    agent_min_devices: int = Field(
        default=5, ge=2, description="An agent is offline when at least this many of its devices"
    )
    agent_fraction: float = Field(
        default=0.5, gt=0, le=1, description="... and this share of them are silent at once."
    )
    agent_severity: Severity = "major"


READING_RULE_LISTS: tuple[str, ...] = ("rates", "ranges", "flatlines", "noisy", "anomalies")
# The status metrics the elevator composites read (GB/T 24476 items).
ELEVATOR_METRICS: tuple[str, ...] = (
    "car_occupied",
    "running",
    "door_open",
    "in_door_zone",
    "speed_mps",
    "floor",
)

# The conditions the elevator composites decide (their rule ids), and the controller
# events that report the same conditions. Such an event raises the composite's own alert
# (one entrapment is one alert, whether the controller or the status readings saw it
# first), so an event rule for it would be a second alert and is refused.
ELEVATOR_CONDITIONS: tuple[str, ...] = (
    "elevator-trapped",
    "elevator-door-open-moving",
    "elevator-overspeed",
    "elevator-overtravel",
    "elevator-door-faults",
)
ELEVATOR_CONDITION_EVENTS: dict[str, str] = {
    "elevator.trapped": "elevator-trapped",
    "elevator.door_open_moving": "elevator-door-open-moving",
    "elevator.overspeed": "elevator-overspeed",
    "elevator.overtravel_top": "elevator-overtravel",
    "elevator.overtravel_bottom": "elevator-overtravel",
}


class ThresholdRuleSpec(Strict):
    id: str = Field(pattern=OBJECT_ID, description="Rule id; part of the alert fingerprint.")
    device_type: DeviceType
    metric: str = Field(min_length=1)
    direction: Literal["above", "below"] = Field(description="Fire when above or below.")
    fire_at: float = Field(description="Value at which the condition starts.")
    clear_at: float = Field(description="Value past which it clears (hysteresis).")
    min_duration_s: float = Field(default=0.0, ge=0, description="Condition must hold this long.")
    severity: Severity
    alert_type: str = Field(pattern=r"^[a-z]+(\.[a-z_]+)+$", description="Dotted alert type.")
    summary: str = Field(min_length=1, description="Summary; {device} and {value} are filled in.")
    overrides: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Per-device overrides of fire_at / clear_at / min_duration_s.",
    )


class OfflineRuleSpec(Strict):
    factor: float = Field(
        default=3.0, gt=1, description="Offline after this many expected intervals of silence."
    )
    grace_s: float = Field(default=30.0, ge=0, description="Added to the silence allowance.")
    severity: Severity = "major"


class EventRuleSpec(Strict):
    event_type: str = Field(pattern=r"^[a-z]+\.[a-z_]+$")
    severity: Severity
    summary: str = Field(min_length=1)


class RulesSpec(Strict):
    thresholds: list[ThresholdRuleSpec] = Field(default_factory=list)
    offline: OfflineRuleSpec = Field(default_factory=OfflineRuleSpec)
    events: list[EventRuleSpec] = Field(default_factory=list)
    rates: list[RateRuleSpec] = Field(default_factory=list)
    ranges: list[RangeRuleSpec] = Field(default_factory=list)
    flatlines: list[FlatlineRuleSpec] = Field(default_factory=list)
    noisy: list[NoisyRuleSpec] = Field(default_factory=list)
    anomalies: list[AnomalyRuleSpec] = Field(default_factory=list)
    rig_anomalies: list[RigAnomalySpec] = Field(default_factory=list)
    elevator: ElevatorRulesSpec | None = None
    cameras: list[CameraRuleSpec] = Field(default_factory=list)
    correlation: CorrelationSpec | None = None
