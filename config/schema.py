"""Validate the merged document against the pydantic models, problems pinned to lines.

When some list items are invalid, they (and unknown keys) are left out and the rest is
validated again, so the cross-reference checks can still run on everything that is
well-formed: one bad device should not hide a wrong agent id three files away.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from config.errors import ConfigProblem, Loc, Locator, problem_at
from config.merge import LIST_SECTIONS
from config.models import StreetConfig


@dataclass
class SchemaResult:
    problems: list[ConfigProblem]
    # The well-formed part of the configuration, None when even that does not validate.
    config: StreetConfig | None
    locator: Locator  # positions in terms of `config`'s own list indices
    # Ids of left-out items per section, so references to them are not reported twice.
    dropped_ids: dict[str, set[str]] = field(default_factory=dict)


def validate_schema(data: dict[str, object], locator: Locator) -> SchemaResult:
    try:
        return SchemaResult([], StreetConfig.model_validate(data), locator)
    except ValidationError as exc:
        errors = exc.errors()
    problems = [problem_at(locator, e["loc"], describe(e, data)) for e in errors]
    pruned = copy.deepcopy(data)
    kept, dropped_ids = _prune(pruned, errors)
    try:
        config = StreetConfig.model_validate(pruned)
    except ValidationError:
        return SchemaResult(problems, None, locator)
    return SchemaResult(problems, config, _PrunedLocator(locator, kept), dropped_ids)


def describe(error: ErrorDetails, data: object) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "missing":
        return _prefixed(loc[:-1], data, f"missing key '{loc[-1]}'")
    if error["type"] == "extra_forbidden":
        return _prefixed(loc[:-1], data, f"unknown key '{loc[-1]}'")
    message = error["msg"]
    value = error.get("input")
    if value is None or isinstance(value, str | int | float | bool):
        message += f" (got {value!r})"
    return _prefixed(loc, data, message)


def _prefixed(loc: Loc, data: object, message: str) -> str:
    label = label_of(loc, data)
    return f"{label}: {message}" if label else message


def label_of(loc: Loc, data: object) -> str:
    """A readable name for `loc`: list items by their id, e.g. `devices[wy1-cam-01].floor`."""
    label = ""
    node = data
    for part in loc:
        child = _child(node, part)
        if isinstance(part, int):
            name = _item_name(child)
            label += f"[{name if name is not None else part}]"
        else:
            label += f".{part}" if label else str(part)
        node = child
    return label


def _child(node: object, part: str | int) -> object:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def _item_name(item: object) -> str | None:
    if isinstance(item, dict):
        for key in ("id", "event_type"):
            if isinstance(item.get(key), str):
                return str(item[key])
    return None


def _prune(
    data: dict[str, object], errors: list[ErrorDetails]
) -> tuple[dict[Loc, list[int]], dict[str, set[str]]]:
    """Drop unknown keys and invalid list items in place; return, per list section, the
    original index of each item kept, and the ids of the items dropped."""
    bad: dict[Loc, set[int]] = {}
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            parent = _child_at(data, loc[:-1])
            if isinstance(parent, dict):
                parent.pop(str(loc[-1]), None)
            continue
        section = next((s for s in LIST_SECTIONS if loc[: len(s)] == s and len(loc) > len(s)), None)
        if section is not None and isinstance(loc[len(section)], int):
            bad.setdefault(section, set()).add(int(loc[len(section)]))
    kept: dict[Loc, list[int]] = {}
    dropped: dict[str, set[str]] = {}
    for section, indices in bad.items():
        items = _child_at(data, section)
        assert isinstance(items, list)
        kept[section] = [i for i in range(len(items)) if i not in indices]
        names = {_item_name(items[i]) for i in indices}
        dropped[str(section[-1])] = {n for n in names if n is not None}
        items[:] = [items[i] for i in kept[section]]
    return kept, dropped


def _child_at(data: object, loc: Loc) -> object:
    node = data
    for part in loc:
        node = _child(node, part)
    return node


@dataclass
class _PrunedLocator:
    """Maps positions in the pruned config back to the full document's."""

    base: Locator
    kept: dict[Loc, list[int]]

    def position(self, loc: Loc) -> tuple[str, int]:
        for section, original in self.kept.items():
            if loc[: len(section)] == section and len(loc) > len(section):
                index = loc[len(section)]
                if isinstance(index, int) and 0 <= index < len(original):
                    loc = (*section, original[index], *loc[len(section) + 1 :])
                break
        return self.base.position(loc)
