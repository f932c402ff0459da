"""A small street in YAML for dispatch tests: two districts, three areas, four
micro-grids, guard rooms around the clock, consoles 08:00-20:00, volunteers 08:00-18:00.
Tests add a `routes:` file and load it through the real loader."""

from __future__ import annotations

from pathlib import Path

from config.loader import load_registry
from config.registry import Registry
from tests.support.configs import write_config

STREET = """\
version: 1
street:
  id: lc
  name: 街道
  children:
  - id: d1
    name: 一片
    children:
    - {id: a1, name: 一村, children: [{id: m1, name: 微1}, {id: m2, name: 微2}]}
    - {id: a2, name: 二村, children: [{id: m3, name: 微3}]}
  - id: d2
    name: 二片
    children:
    - {id: b1, name: 三村, children: [{id: m4, name: 微4}]}
agents:
- {id: ag1, area: lc/d1/a1, name: 工控机1}
- {id: ag2, area: lc/d1/a2, name: 工控机2}
- {id: ag3, area: lc/d2/b1, name: 工控机3}
maintainers:
- {id: elv, name: 电梯维保, kind: elevator}
- {id: fire, name: 消防维保, kind: fire}
devices:
- {id: lift-1, type: elevator, agent: ag1, grid: lc/d1/a1/m1,
   building: "3", floor: 1, maintainer: elv, interval_s: 10}
- {id: smoke-1, type: smoke_detector, agent: ag1, grid: lc/d1/a1/m1,
   building: "3", floor: 5, maintainer: fire, interval_s: 60}
- {id: smoke-2, type: smoke_detector, agent: ag1, grid: lc/d1/a1/m2,
   building: "7", floor: 2, maintainer: fire, interval_s: 60}
- {id: smoke-3, type: smoke_detector, agent: ag2, grid: lc/d1/a2/m3,
   building: "1", floor: 2, maintainer: fire, interval_s: 60}
- {id: cam-1, type: camera, agent: ag3, grid: lc/d2/b1/m4,
   building: "2", floor: 0, maintainer: fire, interval_s: 30}
receivers:
- {id: ops, name: 运行中心, kind: operations, grid: lc}
- {id: d1-station, name: 一片站, kind: district, grid: lc/d1}
- {id: d2-station, name: 二片站, kind: district, grid: lc/d2}
- {id: a1-guard, name: 一村门岗, kind: guard_room, grid: lc/d1/a1}
- {id: a1-console, name: 一村监控台, kind: console, grid: lc/d1/a1, on_duty: "08:00-20:00"}
- {id: a1-property, name: 一村物业, kind: property, grid: lc/d1/a1}
- {id: m1-gate, name: 微1门岗, kind: guard_room, grid: lc/d1/a1/m1}
- {id: m1-volunteers, name: 微1志愿者, kind: volunteers, grid: lc/d1/a1/m1, on_duty: "08:00-18:00"}
- {id: a2-console, name: 二村监控台, kind: console, grid: lc/d1/a2, on_duty: "08:00-20:00"}
- {id: elv-duty, name: 电梯值班, kind: maintenance, grid: lc, maintainer: elv,
   device_types: [elevator]}
- {id: fire-duty, name: 消防值班, kind: maintenance, grid: lc, maintainer: fire,
   on_duty: "09:00-17:00"}
- {id: police, name: 派出所, kind: outside, grid: lc}
"""


def load_street(root: Path, routes: str | None, street: str = STREET) -> Registry:
    files = {"street.yaml": street}
    if routes is not None:
        files["routes.yaml"] = routes
    return load_registry(write_config(root, files))
