"""The routing tree: a table of alerts over one inline YAML tree, inheritance, on-duty
selection with fallback up the grid, and the load-time checks as file:line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.registry import Registry
from dispatch.routes import DEFAULT_ESCALATE_S, Route, build_routes
from dispatch.selection import ReceiverSelector
from tests.support.configs import MARK, assert_one_problem_at_mark
from tests.support.dispatch_street import STREET, load_street

DAY = datetime(2025, 11, 25, 2, 0, tzinfo=UTC).timestamp()  # 10:00 in Shanghai
NIGHT = datetime(2025, 11, 25, 13, 0, tzinfo=UTC).timestamp()  # 21:00 in Shanghai

ROUTES = """\
routes:
  receivers: [guard_room, console]
  escalate_after_s: 240
  renotify_after_s: 3600
  routes:
  - name: fire
    match: {type: [fire.alarm], severity: [critical]}
    receivers: [guard_room, district, operations]
    escalate_after_s: 30
    continue: true
  - name: fire-maintainers
    match: {type: ["fire.*"]}
    receivers: [maintenance]
  - name: lifts
    match: {device_type: [elevator]}
    receivers: [guard_room, maintenance]
    routes:
    - name: lifts-block-3
      match: {building: ["3"], severity: [critical]}
      renotify_after_s: 600
  - name: district-2
    match: {grid: lc/d2}
    receivers: [police]
    group_by: [agent]
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return load_street(tmp_path_factory.mktemp("street"), ROUTES)


def labels(registry: Registry, device: str, type_: str, severity: str) -> dict[str, str]:
    d = registry.devices[device]
    return {"type": type_, "severity": severity, "device_type": d.type, "grid": d.grid,
            "building": d.building, "device": d.id, "rule": "r", "agent": d.agent,
            "area": registry.area_of(d.grid)}


def route_named(root: Route, name: str) -> Route:
    stack = [root]
    while stack:
        route = stack.pop()
        if route.name == name:
            return route
        stack.extend(route.children)
    raise KeyError(name)


# device, type, severity, when -> routes that handle it, receivers chosen
TABLE = [
    ("smoke-1", "fire.alarm", "critical", NIGHT, ["fire", "fire-maintainers"],
     ["m1-gate", "d1-station", "ops"]),  # fire-duty is off duty at night: not chosen
    ("smoke-1", "fire.alarm", "critical", DAY, ["fire", "fire-maintainers"],
     ["m1-gate", "d1-station", "ops", "fire-duty"]),
    ("smoke-2", "fire.fault", "minor", DAY, ["fire-maintainers"], ["fire-duty"]),
    # Only the off-duty maintainer is selected: fall back up the grid to the district.
    ("smoke-2", "fire.fault", "minor", NIGHT, ["fire-maintainers"], ["d1-station"]),
    ("lift-1", "elevator.trapped", "critical", NIGHT, ["lifts-block-3"], ["m1-gate", "elv-duty"]),
    ("lift-1", "elevator.door_fault", "minor", NIGHT, ["lifts"], ["m1-gate", "elv-duty"]),
    # Nearest guard room: m1's own gate for m1, the area's guard room for m2.
    ("smoke-2", "device.offline", "major", DAY, ["root"], ["a1-guard", "a1-console"]),
    ("smoke-1", "device.offline", "major", NIGHT, ["root"], ["m1-gate"]),
    # Area a2 has only a console: at night nobody there, so the district takes it.
    ("smoke-3", "device.offline", "major", NIGHT, ["root"], ["d1-station"]),
    ("smoke-3", "device.offline", "major", DAY, ["root"], ["a2-console"]),
    ("cam-1", "camera.intrusion", "major", NIGHT, ["district-2"], ["police"]),
    # The first matching sibling without `continue` ends the search.
    ("cam-1", "fire.fault", "minor", DAY, ["fire-maintainers"], ["fire-duty"]),
]


@pytest.mark.parametrize(("device", "type_", "severity", "when", "names", "receivers"), TABLE)
def test_route_table(
    registry: Registry, device: str, type_: str, severity: str, when: float,
    names: list[str], receivers: list[str],
) -> None:
    root = build_routes(registry.config.routes)
    matched = root.match(labels(registry, device, type_, severity))
    assert [r.name for r in matched] == names
    selector = ReceiverSelector(registry)
    chosen = [
        r
        for route in matched
        for r in selector.select(route.receivers, registry.devices[device], when)
    ]
    assert list(dict.fromkeys(chosen)) == receivers


def test_children_inherit_what_they_do_not_set(registry: Registry) -> None:
    root = build_routes(registry.config.routes)
    block3 = route_named(root, "lifts-block-3")
    assert block3.receivers == ("guard_room", "maintenance")  # from lifts
    assert block3.escalate_after_s == 240  # from the root, through lifts
    assert block3.renotify_after_s == 600  # its own
    assert route_named(root, "fire").escalate_after_s == 30
    assert route_named(root, "district-2").group_by == ("agent",)
    assert route_named(root, "lifts").group_by == ()


def test_no_routes_gives_a_root_with_defaults() -> None:
    root = build_routes(None)
    assert root.escalate_after_s == DEFAULT_ESCALATE_S
    assert [(c.name, c.matcher.severities, c.receivers[-2:]) for c in root.children] == [
        ("root.critical", frozenset({"critical"}), ("district", "operations"))
    ]


def test_nobody_is_chosen_off_duty(registry: Registry) -> None:
    selector = ReceiverSelector(registry)
    off_at_night = {r.id for r in registry.receivers.values() if r.on_duty != "always"}
    for device in registry.devices.values():
        chosen = selector.select(["console", "volunteers", "maintenance"], device, NIGHT)
        assert chosen and not set(chosen) & off_at_night, (device.id, chosen)


BAD = [
    ("  receivers: [guard_room, no-such-unit]  " + MARK, "unknown receiver 'no-such-unit'"),
    ("  routes:\n  - name: all\n  - name: never  " + MARK, "unreachable"),
    ("  routes:\n  - match: {device_type: [camera]}\n    routes:\n"
     "    - match: {device_type: [elevator]}  " + MARK, "unreachable"),
    ("  routes:\n  - match: {grid: lc/d9}  " + MARK, "unknown grid 'lc/d9'"),
    ("  group_by: [colour]  " + MARK, "unknown group_by label 'colour'"),
]


@pytest.mark.parametrize(("body", "words"), BAD)
def test_bad_routes_are_reported_at_their_line(tmp_path: Path, body: str, words: str) -> None:
    routes = "routes:\n  escalate_after_s: 60\n" + body + "\n"
    assert_one_problem_at_mark(tmp_path, {"street.yaml": STREET, "routes.yaml": routes}, words)


def test_an_empty_duty_window_is_reported(tmp_path: Path) -> None:
    street = STREET.replace(
        'on_duty: "08:00-20:00"}\n- {id: elv-duty',
        'on_duty: "08:00-08:00"}  ' + MARK + "\n- {id: elv-duty",
    )
    assert street != STREET
    assert_one_problem_at_mark(tmp_path, {"street.yaml": street}, "empty window")
