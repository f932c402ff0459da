"""Loading: YAML and schema problems pinned to their lines, directory merging, and the
check-config command's output and exit codes."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from app.check_config import run_check_config
from config.errors import ConfigError, ConfigProblem
from config.loader import load_config, load_registry
from tests.support.configs import (
    BASE,
    DEVICE,
    MARK,
    STREET,
    TOKEN,
    assert_one_problem_at_mark,
    flow,
    load_problems,
    write_config,
)

PROBLEM_LINE = re.compile(r"^(?P<file>.+):(?P<line>[0-9]+): (?P<message>.+)$")


def case(text: str) -> dict[str, str]:
    return {**BASE, "c-case.yaml": text}


def block_device(**changes: str | None) -> str:
    """A block-style device list, one key per line. `changes` are raw YAML values (None
    drops the key); the first line is marked unless a change carries the mark itself."""
    fields: dict[str, str | None] = {key: json.dumps(value) for key, value in DEVICE.items()}
    fields.update(changes)
    lines = [f"{key}: {value}" for key, value in fields.items() if value is not None]
    if not any(MARK in line for line in lines):
        lines[0] += f"  {MARK}"
    return "devices:\n  - " + "\n    ".join(lines) + "\n"


CASES: dict[str, tuple[dict[str, str], str]] = {
    "YAML syntax error": (
        case(f"devices:\n  - id: x: y  {MARK}\n"),
        "YAML syntax error",
    ),
    "unclosed bracket names where it opened": (
        case(f"devices:\n  - [a, b\nagents: []  {MARK}\n"),
        "(from line 2)",
    ),
    "duplicate key in a mapping": (
        case(block_device(floor=f"1\n    floor: 2  {MARK}")),
        "duplicate key 'floor' (first at line ",
    ),
    "unknown key": (
        case(block_device(flor=f"3  {MARK}")),
        "devices[a1-cam-9]: unknown key 'flor'",
    ),
    "missing key blames the enclosing mapping": (
        case(block_device(floor=None)),
        "devices[a1-cam-9]: missing key 'floor'",
    ),
    "value out of range": (
        case(block_device(floor=f"120  {MARK}")),
        "devices[a1-cam-9].floor: Input should be less than or equal to 100 (got 120)",
    ),
    "unknown device type": (
        case(block_device(type=f"camra  {MARK}")),
        "devices[a1-cam-9].type: Input should be 'camera'",
    ),
    "number where a string is needed": (
        case(block_device(building=f"3  {MARK}")),
        "devices[a1-cam-9].building: Input should be a valid string (got 3)",
    ),
    "bad on-duty hours": (
        case(
            "receivers:\n"
            f"  - {{id: c, name: 居委, kind: console, grid: lc, on_duty: 8-20}}  {MARK}\n"
        ),
        "receivers[c].on_duty: String should match pattern",
    ),
    "street in two files": (
        case(f"street:  {MARK}\n  id: lc2\n  name: again\n"),
        "'street' is already set in ",
    ),
    "rules.offline in two files": (
        {
            **BASE,
            "c-case.yaml": "rules:\n  offline: {factor: 3}\n",
            "d-case.yaml": f"rules:\n  offline: {{factor: 4}}  {MARK}\n",
        },
        "'rules.offline' is already set in ",
    ),
    "list section that is not a list": (
        case(f"devices:  {MARK}\n  a1-cam-9: {{type: camera}}\n"),
        "'devices' must be a list of items",
    ),
    "top level that is not a mapping": (
        case(f"- version: 1  {MARK}\n"),
        "the top level must be a mapping of sections",
    ),
    "merge key": (
        case(f"devices:\n  - <<: {{type: camera}}  {MARK}\n"),
        "merge keys (<<) are not supported",
    ),
    "alias that contains itself": (
        case(f"tokens: &loop  {MARK}\n  - *loop\n"),
        "an alias refers to a collection that contains it",
    ),
    "unknown tag": (
        case(f"receivers:\n  - !!python/object:os.system x  {MARK}\n"),
        "could not determine a constructor",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_file_is_reported_at_its_line(tmp_path: Path, name: str) -> None:
    files, words = CASES[name]
    assert_one_problem_at_mark(tmp_path, files, words)


def test_problem_in_a_later_item_keeps_its_line_after_an_earlier_bad_item(tmp_path: Path) -> None:
    """Malformed items are left out before the reference checks; the lines reported for
    the items after them must still be their own."""
    files = case(
        "devices:\n"
        f"  - {flow(DEVICE, id='bad-1', floor='high')}\n"
        f"  - {flow(DEVICE, id='bad-2', type='drone')}\n"
        f"  - {flow(DEVICE, id='ok-3', agent='ghost-edge')}  {MARK}\n"
    )
    write_config(tmp_path, files)
    problems = load_problems(tmp_path)
    case_file = str(tmp_path / "c-case.yaml")
    assert [(p.file, p.line) for p in problems] == [(case_file, 2), (case_file, 3), (case_file, 4)]
    assert "unknown agent 'ghost-edge'" in problems[2].message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    files = {
        **BASE,
        "c-one.yaml": block_device(id="x1", flor="3", maintainer="nobody"),
        "d-two.yaml": "receivers:\n  - {id: ops, name: dup, kind: operations, grid: lc}\n"
        "tokens:\n  - " + flow(TOKEN, grid=None) + "\n",
        "e-three.yaml": "version: 1\nagents:\n"
        "  - {id: a1-edge, area: lc/d1/a1, name: pc, a: 1, a: 2}\n",
    }
    write_config(tmp_path, files)
    messages = [p.message for p in load_problems(tmp_path)]
    for words in (
        "unknown key 'flor'",
        "duplicate receiver id 'ops'",
        "token 't1': role 'guard' needs a grid",
        "'version' is already set in ",
        "duplicate key 'a'",
        "unknown key 'a'",
    ):
        assert any(words in m for m in messages), (words, messages)


def test_problems_are_sorted_by_file_and_line(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        case(
            "devices:\n" + "".join(f"  - {flow(DEVICE, id=f'd{i}', agent='x')}\n" for i in range(3))
        ),
    )
    problems = load_problems(tmp_path)
    assert len(problems) == 3
    assert problems == sorted(problems, key=lambda p: (p.file, p.line))


def test_directory_lists_are_concatenated_in_file_name_order(tmp_path: Path) -> None:
    files = {
        **BASE,
        "z-last.yml": "devices:\n  - " + flow(DEVICE, id="z-dev") + "\n",
        "c-middle.yaml": "devices:\n  - " + flow(DEVICE, id="c-dev") + "\n",
        ".hidden.yaml": "devices: not even a list\n",
        "notes.txt": "not: [yaml\n",
    }
    config = load_config(write_config(tmp_path, files))
    assert [d.id for d in config.devices] == ["a1-smk-1", "a2-cam-1", "c-dev", "z-dev"]


def test_single_file_and_registry(tmp_path: Path) -> None:
    path = tmp_path / "street.yaml"
    path.write_text(STREET + "agents:\n  - {id: a1-edge, area: lc/d1/a1, name: pc}\n", "utf-8")
    registry = load_registry(path)
    assert registry.grids["lc/d1/a1/m2"].kind == "micro"
    assert list(registry.agents) == ["a1-edge"]


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p / "absent", "no such file or directory"),
        (lambda p: p, "holds no *.yaml or *.yml files"),
    ],
    ids=["missing", "empty-dir"],
)
def test_missing_path_or_empty_directory(
    tmp_path: Path, make: Callable[[Path], Path], words: str
) -> None:
    target = make(tmp_path)
    problems = load_problems(target)
    assert [(p.file, p.line) for p in problems] == [(str(target), 1)]
    assert words in problems[0].message


def test_non_utf8_file_names_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    write_config(tmp_path, BASE)
    lines = [b"receivers:", b"  - {id: c, name: caf\xe9, kind: console, grid: lc}"]
    (tmp_path / "c-case.yaml").write_bytes(b"\n".join(lines) + b"\n")
    problems = load_problems(tmp_path)
    bad_line = next(i for i, line in enumerate(lines, start=1) if b"\xe9" in line)
    assert [(p.file, p.line) for p in problems] == [(str(tmp_path / "c-case.yaml"), bad_line)]
    assert "not valid UTF-8" in problems[0].message


def test_unreadable_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, BASE) / "a-street.yaml"
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running with privileges that read any file")
        problems = load_problems(tmp_path)
    finally:
        path.chmod(0o644)
    assert [(p.file, p.line) for p in problems] == [(str(path), 1)]
    assert "cannot read file" in problems[0].message


def test_problem_and_error_text() -> None:
    one = ConfigProblem("b.yaml", 7, "unknown agent 'x'")
    two = ConfigProblem("a.yaml", 3, "missing key 'street'")
    assert str(one) == "b.yaml:7: unknown agent 'x'"
    assert str(ConfigError([one, two])).splitlines() == [str(two), str(one)]


def test_check_config_reports_problems_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(tmp_path, case(block_device(agent="ghost-edge", flor=f"3  {MARK}")))
    assert run_check_config(str(tmp_path)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 2
    parsed = [PROBLEM_LINE.match(line) for line in lines]
    assert all(m is not None and Path(m["file"]).is_file() for m in parsed), lines
    assert any("unknown key 'flor'" in line for line in lines)
    assert any("unknown agent 'ghost-edge'" in line for line in lines)


def test_check_config_summarises_a_valid_config_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(tmp_path, BASE)
    assert run_check_config(str(tmp_path)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.strip() == (
        "ok: 1 street, 1 district, 2 areas, 3 micro-grids, 2 agents, 2 devices, 1 receiver"
    )
