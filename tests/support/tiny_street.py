"""A tiny street built in Python, for unit tests that need a Registry but not the YAML."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from config.models import (
    AgentSpec,
    DeviceSpec,
    DeviceType,
    EventRuleSpec,
    GridNodeSpec,
    MaintainerSpec,
    OfflineRuleSpec,
    RulesSpec,
    StreetConfig,
    ThresholdRuleSpec,
)
from config.registry import Registry
from gridwatch.records import DeviceEvent, Reading

AGENT = "ag1"
MICRO = "lc/d1/a1/m1"
T0 = 1_764_090_000.0


def device(id: str, type: DeviceType = "smoke_detector", interval_s: float = 60.0) -> DeviceSpec:
    return DeviceSpec(
        id=id,
        type=type,
        agent=AGENT,
        grid=MICRO,
        building="1",
        floor=1,
        maintainer="mnt1",
        interval_s=interval_s,
    )


def smoke_rule(**changes: Any) -> ThresholdRuleSpec:
    """Smoke obscuration above 10 %/m fires, below 5 clears; fields overridable."""
    fields: dict[str, Any] = {
        "id": "smoke.high",
        "device_type": "smoke_detector",
        "metric": "smoke_obscuration_pct_m",
        "direction": "above",
        "fire_at": 10.0,
        "clear_at": 5.0,
        "severity": "critical",
        "alert_type": "fire.smoke",
        "summary": "{device}: {metric} at {value}",
    }
    fields.update(changes)
    return ThresholdRuleSpec(**fields)


def pressure_rule(**changes: Any) -> ThresholdRuleSpec:
    """Hydrant pressure below 0.1 MPa fires, above 0.15 clears."""
    fields: dict[str, Any] = {
        "id": "hydrant.low",
        "device_type": "hydrant_pressure",
        "metric": "water_pressure_mpa",
        "direction": "below",
        "fire_at": 0.1,
        "clear_at": 0.15,
        "severity": "major",
        "alert_type": "fire.water_pressure_low",
        "summary": "{device} pressure {value} MPa",
    }
    fields.update(changes)
    return ThresholdRuleSpec(**fields)


def street(
    devices: Iterable[DeviceSpec],
    thresholds: Sequence[ThresholdRuleSpec] = (),
    events: Sequence[EventRuleSpec] = (),
    offline: OfflineRuleSpec | None = None,
) -> Registry:
    grid = GridNodeSpec(
        id="lc",
        name="凉城新村街道",
        children=[
            GridNodeSpec(
                id="d1",
                name="片区一",
                children=[
                    GridNodeSpec(
                        id="a1",
                        name="居民区一",
                        children=[GridNodeSpec(id="m1", name="微网格一")],
                    )
                ],
            )
        ],
    )
    config = StreetConfig(
        street=grid,
        agents=[AgentSpec(id=AGENT, area="lc/d1/a1", name="console PC")],
        maintainers=[MaintainerSpec(id="mnt1", name="物业", kind="property")],
        devices=list(devices),
        rules=RulesSpec(
            thresholds=list(thresholds),
            events=list(events),
            offline=offline or OfflineRuleSpec(),
        ),
    )
    return Registry.from_config(config)


def reading(
    device: str, ts: float, value: float, metric: str = "smoke_obscuration_pct_m"
) -> Reading:
    return Reading(agent=AGENT, device=device, metric=metric, ts=ts, value=value)


def event(
    device: str,
    type: str,
    state: Literal["start", "update", "end", "instant"] = "start",
    ts: float = T0,
    zone: str | None = None,
    score: float | None = None,
) -> DeviceEvent:
    return DeviceEvent(
        agent=AGENT,
        id=f"{device}-{type}-{state}-{ts}",
        device=device,
        ts=ts,
        type=type,
        state=state,
        zone=zone,
        score=score,
    )
