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
    TokenSpec,
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


# A small street of several districts, areas and maintenance units, for tests of scope
# (API, routing): lc -> d1 (a1: m1 m2, a2: m1) and d2 (wy1: mg07 mg08).
AREA_A1 = "lc/d1/a1"
AREA_A2 = "lc/d1/a2"
AREA_WY1 = "lc/d2/wy1"
MaintainerKind = Literal["property", "elevator", "fire", "camera"]
MAINTAINERS: dict[str, MaintainerKind] = {
    "prop1": "property",
    "elev1": "elevator",
    "fire1": "fire",
    "cam1": "camera",
}
# id -> (type, micro-grid, maintainer)
LC_DEVICES: dict[str, tuple[DeviceType, str, str]] = {
    "a1-smoke-1": ("smoke_detector", "lc/d1/a1/m1", "fire1"),
    "a1-elev-1": ("elevator", "lc/d1/a1/m2", "elev1"),
    "a1-cam-1": ("camera", "lc/d1/a1/m2", "cam1"),
    "a2-smoke-1": ("smoke_detector", "lc/d1/a2/m1", "fire1"),
    "wy1-elev-1": ("elevator", "lc/d2/wy1/mg07", "elev1"),
    "wy1-cam-1": ("camera", "lc/d2/wy1/mg08", "cam1"),
    "wy1-tank-1": ("water_tank", "lc/d2/wy1/mg08", "prop1"),
}


def _node(id: str, name: str, *children: GridNodeSpec) -> GridNodeSpec:
    return GridNodeSpec(id=id, name=name, name_en=id.upper(), children=list(children))


def lc_street(tokens: Sequence[TokenSpec] = ()) -> Registry:
    """Two districts, three areas, five micro-grids, devices of four units, one agent
    per area (`ag-a1`, `ag-a2`, `ag-wy1`); `tokens` become the configuration's tokens."""
    d1 = _node(
        "d1",
        "第一片区",
        _node("a1", "居民区一", _node("m1", "微网格1"), _node("m2", "微网格2")),
        _node("a2", "居民区二", _node("m1", "微网格1")),
    )
    d2 = _node(
        "d2",
        "第二片区",
        _node("wy1", "文苑一村", _node("mg07", "微网格7"), _node("mg08", "微网格8")),
    )
    areas = (AREA_A1, AREA_A2, AREA_WY1)
    devices = [
        DeviceSpec(
            id=dev_id,
            type=dev_type,
            agent="ag-" + micro.split("/")[2],
            grid=micro,
            building=str(n % 3 + 1),
            floor=n % 5 + 1,
            maintainer=maintainer,
            interval_s=60.0,
        )
        for n, (dev_id, (dev_type, micro, maintainer)) in enumerate(LC_DEVICES.items())
    ]
    config = StreetConfig(
        street=_node("lc", "凉城新村街道", d1, d2),
        agents=[AgentSpec(id="ag-" + a.split("/")[2], area=a, name=f"{a} console") for a in areas],
        maintainers=[MaintainerSpec(id=m, name=m, kind=k) for m, k in MAINTAINERS.items()],
        devices=devices,
        tokens=list(tokens),
    )
    return Registry.from_config(config)
