"""Cross-reference checks: each broken configuration reports one problem, on the marked
line, naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loader import load_config
from tests.support.configs import (
    BASE,
    DEVICE,
    MARK,
    STREET,
    THRESHOLD,
    TOKEN,
    assert_one_problem_at_mark,
    flow,
    write_config,
)


def case(text: str) -> dict[str, str]:
    return {**BASE, "c-case.yaml": text}


def section(name: str, *items: str, indent: str = "") -> str:
    return f"{indent}{name}:\n" + "".join(f"{indent}  - {item}\n" for item in items)


def devices(*items: str) -> dict[str, str]:
    return case(section("devices", *items))


def marked(item: str) -> str:
    return f"{item}  {MARK}"


def thresholds(*items: str) -> dict[str, str]:
    return case("rules:\n" + section("thresholds", *items, indent="  "))


RIG = (
    "{id: smoke-high, device_type: water_tank, metrics: [flow_m3h, motor_current_a], "
    "alert_type: fire.pump_anomaly, summary: '{device} {value}'}"
)
EVENT = "{event_type: fire.alarm, severity: major, summary: again}"
PANEL = flow({**DEVICE, "id": "a1-fap-1", "type": "fire_panel", "maintainer": "fire-unit"})
DEEP_STREET = STREET.replace(
    "            - {id: m3, name: 第3微网格}\n",
    f"            - id: m3\n              name: 第3微网格\n              children:  {MARK}\n"
    "                - {id: x1, name: 太深}\n",
)
DUPLICATE_AREA = STREET + f"        - {{id: a1, name: 重复}}  {MARK}\n"

CASES: dict[str, tuple[dict[str, str], str]] = {
    "duplicate device id": (
        devices(marked(flow(DEVICE, id="a1-smk-1"))),
        "duplicate device id 'a1-smk-1' (first at ",
    ),
    "duplicate agent id": (
        case(section("agents", marked("{id: a1-edge, area: lc/d1/a1, name: again}"))),
        "duplicate agent id 'a1-edge'",
    ),
    "duplicate maintainer id": (
        case(section("maintainers", marked("{id: fire-unit, name: again, kind: fire}"))),
        "duplicate maintainer id 'fire-unit'",
    ),
    "duplicate receiver id": (
        case(section("receivers", marked("{id: ops, name: again, kind: operations, grid: lc}"))),
        "duplicate receiver id 'ops'",
    ),
    "duplicate token id": (
        case(section("tokens", flow(TOKEN), marked(flow(TOKEN, name="again")))),
        "duplicate token id 't1'",
    ),
    "duplicate threshold rule id": (
        thresholds(marked(flow(THRESHOLD, id="smoke-high"))),
        "duplicate rule id 'smoke-high'",
    ),
    "rig rule id taken by a threshold": (
        case("rules:\n" + section("rig_anomalies", marked(RIG), indent="  ")),
        "duplicate rule id 'smoke-high'",
    ),
    "rig rule listing a metric twice": (
        case("rules:\n" + section(
            "rig_anomalies", marked(RIG.replace("id: smoke-high", "id: rig-1").replace(
                "[flow_m3h, motor_current_a]", "[flow_m3h, flow_m3h]")), indent="  ")),
        "metrics listed twice: flow_m3h",
    ),
    "duplicate event rule": (
        case("rules:\n" + section("events", marked(EVENT), indent="  ")),
        "duplicate event rule for 'fire.alarm'",
    ),
    "duplicate grid id among siblings": (
        {**BASE, "a-street.yaml": DUPLICATE_AREA},
        "duplicate grid id under 'lc/d1': 'a1'",
    ),
    "grid tree deeper than 4 levels": (
        {**BASE, "a-street.yaml": DEEP_STREET},
        "grid 'lc/d1/a2/m3' has children, but the grid tree has at most 4 levels",
    ),
    "device agent unknown": (
        devices(marked(flow(DEVICE, agent="ghost-edge"))),
        "device 'a1-cam-9': unknown agent 'ghost-edge'",
    ),
    "device grid unknown": (
        devices(marked(flow(DEVICE, grid="lc/d1/a1/m9"))),
        "unknown grid 'lc/d1/a1/m9'",
    ),
    "device grid not a micro-grid": (
        devices(marked(flow(DEVICE, grid="lc/d1/a1"))),
        "grid 'lc/d1/a1' is an area, not a micro-grid",
    ),
    "device grid outside its agent's area": (
        devices(marked(flow(DEVICE, grid="lc/d1/a2/m3"))),
        "grid 'lc/d1/a2/m3' is outside the area 'lc/d1/a1' of its agent 'a1-edge'",
    ),
    "device maintainer unknown": (
        devices(marked(flow(DEVICE, maintainer="nobody"))),
        "device 'a1-cam-9': unknown maintainer 'nobody'",
    ),
    "agent area unknown": (
        case(section("agents", marked("{id: a3-edge, area: lc/d1/a3, name: pc}"))),
        "agent 'a3-edge': unknown grid 'lc/d1/a3'",
    ),
    "agent area not an area": (
        case(section("agents", marked("{id: m1-edge, area: lc/d1/a1/m1, name: pc}"))),
        "grid 'lc/d1/a1/m1' is a micro-grid, not an area",
    ),
    "receiver grid unknown": (
        case(section("receivers", marked("{id: g9, name: 门岗, kind: guard_room, grid: lc/d9}"))),
        "receiver 'g9': unknown grid 'lc/d9'",
    ),
    "receiver maintainer unknown": (
        case(
            section(
                "receivers",
                marked("{id: m, name: 维保, kind: maintenance, grid: lc, maintainer: elv-x}"),
            )
        ),
        "receiver 'm': unknown maintainer 'elv-x'",
    ),
    "token grid unknown": (
        case(section("tokens", marked(flow(TOKEN, grid="lc/d7")))),
        "token 't1': unknown grid 'lc/d7'",
    ),
    "token maintainer unknown": (
        case(section("tokens", marked(flow(TOKEN, role="maintenance", maintainer="ghost")))),
        "token 't1': unknown maintainer 'ghost'",
    ),
    "guard token without grid": (
        case(section("tokens", marked(flow(TOKEN, grid=None)))),
        "token 't1': role 'guard' needs a grid",
    ),
    "maintenance token without maintainer": (
        case(section("tokens", marked(flow(TOKEN, role="maintenance", grid=None)))),
        "token 't1': role 'maintenance' needs a maintainer",
    ),
    "event rule for an elevator composite's own condition": (
        case(
            "rules:\n  elevator: {}\n"
            + section("events", marked("{event_type: elevator.trapped, severity: critical, "
                                       "summary: x}"), indent="  ")
        ),
        "'elevator.trapped' raises the elevator composite 'elevator-trapped'",
    ),
    "rule id of an elevator composite": (
        case(
            "rules:\n  elevator: {}\n"
            + section("thresholds", marked(flow(THRESHOLD, id="elevator-overspeed")), indent="  ")
        ),
        "rule id 'elevator-overspeed' is an elevator composite's",
    ),
    "clear_at above fire_at for an 'above' rule": (
        thresholds(marked(flow(THRESHOLD, clear_at=60))),
        "rule 'heat-high': clear_at 60 must be <= fire_at 57 for direction 'above'",
    ),
    "clear_at below fire_at for a 'below' rule": (
        thresholds(marked(flow(THRESHOLD, direction="below", fire_at=0.1, clear_at=0.05))),
        "clear_at 0.05 must be >= fire_at 0.1 for direction 'below'",
    ),
    "points on a device that is not a fire panel": (
        devices(marked(flow(DEVICE) [:-1] + ", points: [{loop: 1, point: 1, device: a1-smk-1}]}")),
        "device 'a1-cam-9': only a fire_panel has points, not a camera",
    ),
    "a panel point listed twice": (
        devices(marked(PANEL[:-1] + ", points: [{loop: 1, point: 2, device: a1-smk-1}, "
                       "{loop: 1, point: 2, building: '1', floor: 3}]}")),
        "device 'a1-fap-1': point loop 1 point 2 is listed twice",
    ),
    "a panel point naming an unknown detector": (
        devices(marked(PANEL[:-1] + ", points: [{loop: 1, point: 2, device: a1-smk-404}]}")),
        "device 'a1-fap-1': point loop 1 point 2: unknown device 'a1-smk-404'",
    ),
    "a panel point naming a detector of another area": (
        devices(marked(PANEL[:-1] + ", points: [{loop: 1, point: 2, device: a2-cam-1}]}")),
        "device 'a2-cam-1' is in 'lc/d1/a2/m3', outside the panel's area 'lc/d1/a1'",
    ),
    "a panel point with neither a detector nor a building and floor": (
        devices(marked(PANEL[:-1] + ", points: [{loop: 1, point: 2, building: '1'}]}")),
        "point loop 1 point 2: give the detector's device id, or its building and floor",
    ),
}


def test_base_configuration_is_valid(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, BASE))
    assert [d.id for d in config.devices] == ["a1-smk-1", "a2-cam-1"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_configuration_is_reported_at_its_line(tmp_path: Path, name: str) -> None:
    files, words = CASES[name]
    assert_one_problem_at_mark(tmp_path, files, words)


# Override lines of a block-style smoke rule `sensitive` (fire_at 4, clear_at 1).
OVERRIDE_CASES: dict[str, tuple[str, str]] = {
    "unknown device": (
        f"nobody-smk: {{fire_at: 5.0}}  {MARK}",
        "rule 'sensitive': override for unknown device 'nobody-smk'",
    ),
    "unknown field": (
        f"a1-smk-1:\n  fire_at: 5.0\n  fire_above: 6.0  {MARK}",
        "unknown override field 'fire_above' for device 'a1-smk-1'",
    ),
    "device of another type": (
        f"a2-cam-1: {{fire_at: 5.0}}  {MARK}",
        "override for device 'a2-cam-1', a camera; the rule applies to smoke_detector",
    ),
    "clear_at on the wrong side": (
        f"a1-smk-1: {{clear_at: 4.5}}  {MARK}",
        "override for device 'a1-smk-1': clear_at 4.5 must be <= fire_at 4",
    ),
}


@pytest.mark.parametrize("name", sorted(OVERRIDE_CASES))
def test_broken_override_is_reported_at_its_line(tmp_path: Path, name: str) -> None:
    override, words = OVERRIDE_CASES[name]
    rule = "rules:\n  thresholds:\n    - id: sensitive\n" + "".join(
        f"      {line}\n"
        for line in (
            "device_type: smoke_detector",
            "metric: smoke_obscuration_pct_m",
            "direction: above",
            "fire_at: 4",
            "clear_at: 1",
            "severity: major",
            "alert_type: fire.smoke",
            "summary: x",
            "overrides:",
            *(f"  {line}" for line in override.splitlines()),
        )
    )
    assert_one_problem_at_mark(tmp_path, case(rule), words)


def test_reference_to_a_malformed_item_is_not_reported_twice(tmp_path: Path) -> None:
    """The agent is broken (bad area path); its device must not add 'unknown agent'."""
    broken_agent = f"{{id: a9-edge, area: 'Not A Path', name: pc}}  {MARK}"
    files = case(
        section("agents", broken_agent) + section("devices", flow(DEVICE, agent="a9-edge"))
    )
    assert_one_problem_at_mark(tmp_path, files, "agents[a9-edge].area")
