"""The committed sample street: Liangcheng Xincun's 1-4-27-60 grid and its devices."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from app.check_config import run_check_config
from config.loader import DEFAULT_CONFIG_DIR, load_registry
from config.models import DEVICE_TYPES
from config.models_rules import ELEVATOR_CONDITION_EVENTS
from config.registry import Registry, in_scope
from sample_street.devices import DEVICE_KINDS
from sample_street.generate import main, render

WY1 = "lc/d2/wy1"
# The event types the contract names (section 3).
CONTRACT_EVENTS = [
    "fire.alarm",
    "fire.fault",
    "fire.supervisory",
    "fire.disabled",
    "fire.start",
    "fire.feedback",
    "fire.power_fault",
    "fire.reset",
    "elevator.trapped",
    "elevator.door_open_moving",
    "elevator.overtravel_top",
    "elevator.overtravel_bottom",
    "elevator.overspeed",
    "elevator.stop_outside_door_zone",
    "elevator.power_loss",
    "elevator.safety_circuit_open",
    "elevator.door_fault",
    "elevator.emergency_call",
    "elevator.ebike",
    "camera.intrusion",
    "camera.loitering",
    "camera.line_crossing",
    "camera.vehicle_dwell",
    "camera.fire_lane_blocked",
    "camera.falling_object",
    "camera.smoke",
    "camera.tamper",
]
# The maintainer kind that looks after each device type.
MAINTAINER_KIND = {t: "fire" for t in DEVICE_TYPES} | {"elevator": "elevator", "camera": "camera"}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(DEFAULT_CONFIG_DIR)


def test_grid_is_1_4_27_60(registry: Registry) -> None:
    kinds = Counter(node.kind for node in registry.grids.values())
    assert (kinds["street"], kinds["district"], kinds["area"], kinds["micro"]) == (1, 4, 27, 60)
    assert registry.grids["lc"].name == "凉城新村街道"
    micro_per_area = Counter(
        node.parent for node in registry.grids.values() if node.kind == "micro"
    )
    assert set(micro_per_area.values()) <= {2, 3}
    assert micro_per_area[WY1] == 3
    assert registry.grids[WY1].name == "文苑一村"
    # Micro-grids are numbered across the street, in tree order.
    micro_ids = [node.id for node in registry.grids.values() if node.kind == "micro"]
    assert micro_ids == [f"mg{n:02d}" for n in range(1, 61)]


def test_device_counts_and_types(registry: Registry) -> None:
    assert 1400 <= len(registry.devices) <= 1600
    per_type = Counter(d.type for d in registry.devices.values())
    assert set(per_type) == set(DEVICE_TYPES)
    per_area = Counter(registry.area_of(d.grid) for d in registry.devices.values())
    assert len(per_area) == 27
    for device_type, (_abbr, _interval, (low, high)) in DEVICE_KINDS.items():
        counts = Counter(
            registry.area_of(d.grid) for d in registry.devices.values() if d.type == device_type
        )
        assert all(low <= counts[area] <= high for area in per_area), device_type


def test_devices_are_placed_plausibly(registry: Registry) -> None:
    top: dict[tuple[str, str], int] = {}
    for d in registry.devices.values():
        abbr, interval, _range = DEVICE_KINDS[d.type]
        area = registry.grids[registry.area_of(d.grid)].id
        assert re.fullmatch(rf"{area}-b\d{{2}}-{abbr}-\d{{4}}", d.id), d.id
        assert d.id.split("-")[1] == f"b{int(d.building):02d}"
        assert d.agent == f"{area}-edge"
        assert d.interval_s == interval
        assert registry.maintainers[d.maintainer].kind == MAINTAINER_KIND[d.type], d.id
        if d.type in ("elevator", "fire_panel", "camera"):
            assert d.floor == 1, d.id
        if d.type != "water_tank":
            key = (registry.area_of(d.grid), d.building)
            top[key] = max(top.get(key, 0), d.floor)
    tanks = [d for d in registry.devices.values() if d.type == "water_tank"]
    assert all(t.floor > top[(registry.area_of(t.grid), t.building)] for t in tanks)


def test_one_edge_agent_per_area(registry: Registry) -> None:
    areas = sorted(p for p, node in registry.grids.items() if node.kind == "area")
    assert sorted(a.area for a in registry.agents.values()) == areas
    assert all(a.id == f"{a.area.rsplit('/', 1)[1]}-edge" for a in registry.agents.values())


def test_receivers(registry: Registry) -> None:
    receivers = list(registry.receivers.values())
    wy1_guards = [r for r in receivers if r.kind == "guard_room" and in_scope(r.grid, WY1)]
    assert len(wy1_guards) == 7
    assert {r.grid for r in wy1_guards} == {WY1} | set(registry.grids[WY1].children)
    assert all(r.on_duty == "always" for r in wy1_guards)
    assert registry.receivers["ops-centre"].kind == "operations"
    assert registry.receivers["ops-centre"].grid == "lc"
    areas = [p for p, node in registry.grids.items() if node.kind == "area"]
    for area in areas:
        here = [r for r in receivers if r.grid == area or in_scope(r.grid, area)]
        kinds = Counter(r.kind for r in here)
        assert kinds["guard_room"] >= 1 and kinds["console"] == 1 and kinds["property"] == 1, area
        console = next(r for r in here if r.kind == "console")
        assert console.on_duty == "08:00-20:00"
    districts = [r.grid for r in receivers if r.kind == "district"]
    assert sorted(districts) == sorted(p for p, n in registry.grids.items() if n.kind == "district")
    for r in receivers:
        if r.kind == "maintenance":
            assert r.maintainer is not None and r.device_types
            kind = registry.maintainers[r.maintainer].kind
            assert all(MAINTAINER_KIND[t] == kind for t in r.device_types)
    assert {r.kind for r in receivers} >= {"volunteers", "outside"}


def test_rules_cover_the_contract(registry: Registry) -> None:
    rules = registry.rules
    # Every contract event raises an alert: by its own event rule, or (an elevator
    # condition) as the elevator composite's alert, never both.
    by_rule = [e.event_type for e in rules.events]
    assert rules.elevator is not None
    by_composite = list(ELEVATOR_CONDITION_EVENTS)
    assert sorted(by_rule + by_composite) == sorted(CONTRACT_EVENTS)
    severity = {e.event_type: e.severity for e in rules.events}
    for event_type in ("fire.alarm", "camera.falling_object"):
        assert severity[event_type] == "critical"
    by_type = {(r.device_type, r.metric): r for r in rules.thresholds}
    smoke = by_type[("smoke_detector", "smoke_obscuration_pct_m")]
    assert (smoke.fire_at, smoke.clear_at, smoke.severity) == (4.0, 1.0, "critical")
    tank = by_type[("water_tank", "water_level_m")]
    assert (tank.direction, tank.fire_at, tank.clear_at, tank.min_duration_s) == (
        "below",
        1.0,
        1.3,
        120.0,
    )
    assert {("smoke_detector", "battery_pct"), ("heat_detector", "battery_pct")} <= set(by_type)
    assert registry.tokens == {}


def test_committed_yaml_is_what_the_script_writes(tmp_path: Path) -> None:
    rendered = render()
    committed = {p.name: p.read_text(encoding="utf-8") for p in DEFAULT_CONFIG_DIR.glob("*.yaml")}
    assert committed == rendered, "config/street is stale: run python -m sample_street.generate"
    assert main([str(tmp_path)]) == 0
    assert {p.name: p.read_text(encoding="utf-8") for p in tmp_path.iterdir()} == rendered
    assert all(
        text.startswith("# Generated by sample_street/generate.py") for text in rendered.values()
    )


def test_check_config_on_the_sample(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check_config(str(DEFAULT_CONFIG_DIR)) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("ok: 1 street, 4 districts, 27 areas, 60 micro-grids, 27 agents, ")
    assert f"{len(registry.devices)} devices, {len(registry.receivers)} receivers" in out


def test_every_place_of_the_sample_street_has_its_english_name() -> None:
    from config.locations import PLACES_EN
    from sample_street.devices import PLACES

    named = {place for places in PLACES.values() for place in places}
    assert sorted(named - set(PLACES_EN)) == []
