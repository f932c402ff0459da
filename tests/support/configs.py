"""Small inline configurations for the config tests, and a way to check where a problem
is reported: the line expected to be blamed carries the marker comment `# <-`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from textwrap import dedent

import pytest

from config.errors import ConfigError, ConfigProblem
from config.loader import load_config

MARK = "# <-"

STREET = """\
version: 1
street:
  id: lc
  name: 凉城新村街道
  children:
    - id: d1
      name: 第一片区
      children:
        - id: a1
          name: 一村
          children:
            - {id: m1, name: 第1微网格}
            - {id: m2, name: 第2微网格}
        - id: a2
          name: 二村
          children:
            - {id: m3, name: 第3微网格}
"""

PARTIES = """\
agents:
  - {id: a1-edge, area: lc/d1/a1, name: pc}
  - {id: a2-edge, area: lc/d1/a2, name: pc}
maintainers:
  - {id: fire-unit, name: 消防维保, kind: fire}
  - {id: cam-vendor, name: 安防, kind: camera}
devices:
  - {id: a1-smk-1, type: smoke_detector, agent: a1-edge, grid: lc/d1/a1/m1, building: "1", floor: 2, maintainer: fire-unit, interval_s: 60}
  - {id: a2-cam-1, type: camera, agent: a2-edge, grid: lc/d1/a2/m3, building: "3", floor: 1, maintainer: cam-vendor, interval_s: 30}
receivers:
  - {id: ops, name: 城运中心, kind: operations, grid: lc}
rules:
  thresholds:
    - {id: smoke-high, device_type: smoke_detector, metric: smoke_obscuration_pct_m, direction: above, fire_at: 4.0, clear_at: 1.0, severity: critical, alert_type: fire.smoke, summary: "{device}"}
  events:
    - {event_type: fire.alarm, severity: critical, summary: "{device}"}
"""  # noqa: E501

# A valid configuration in two files; a case adds `c-case.yaml` or replaces one of them.
BASE = {"a-street.yaml": STREET, "b-parties.yaml": PARTIES}

DEVICE = {
    "id": "a1-cam-9",
    "type": "camera",
    "agent": "a1-edge",
    "grid": "lc/d1/a1/m2",
    "building": "2",
    "floor": 1,
    "maintainer": "cam-vendor",
    "interval_s": 30,
}
TOKEN = {"id": "t1", "name": "guard a1", "role": "guard", "grid": "lc/d1/a1", "sha256": "ab" * 32}
THRESHOLD = {
    "id": "heat-high",
    "device_type": "heat_detector",
    "metric": "temperature_c",
    "direction": "above",
    "fire_at": 57,
    "clear_at": 45,
    "severity": "critical",
    "alert_type": "fire.heat",
    "summary": "{device}",
}


def flow(base: Mapping[str, object], **changes: object) -> str:
    """One YAML flow mapping: `base` with `changes`; a change to None removes the key."""
    fields = {**base, **changes}
    return (
        "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in fields.items() if v is not None) + "}"
    )


def write_config(root: Path, files: Mapping[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(dedent(text), encoding="utf-8")
    return root


def marked_position(root: Path) -> tuple[str, int]:
    """File and 1-based line of the one line carrying MARK."""
    found = [
        (str(path), number)
        for path in sorted(root.iterdir())
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if line.rstrip().endswith(MARK)
    ]
    assert len(found) == 1, f"exactly one line must carry {MARK!r}: {found}"
    return found[0]


def load_problems(path: Path) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def assert_one_problem_at_mark(root: Path, files: Mapping[str, str], words: str) -> ConfigProblem:
    """Write `files`, load them, and check the only problem is on the marked line and
    names the problem with `words`."""
    write_config(root, files)
    problems = load_problems(root)
    file, line = marked_position(root)
    report = "\n".join(str(p) for p in problems)
    assert [(p.file, p.line) for p in problems] == [(file, line)], report
    assert words in problems[0].message, report
    return problems[0]
