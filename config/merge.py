"""Merge the YAML files of a configuration directory into one document.

List sections are concatenated in file order, so a street can keep its devices in one
file per district; every other section may be written in one file only, because two
silently merged `street` trees would hide a mistake. The merged document keeps a source
map from each key and item back to its file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from config.errors import ConfigProblem, Loc
from config.yaml_source import ParsedFile

LIST_SECTIONS: tuple[Loc, ...] = (
    ("agents",),
    ("maintainers",),
    ("devices",),
    ("receivers",),
    ("tokens",),
    ("rules", "thresholds"),
    ("rules", "events"),
)


@dataclass
class SourceMap:
    """Positions of keys and items in the merged document (implements `Locator`)."""

    positions: dict[Loc, tuple[str, int]] = field(default_factory=dict)

    def position(self, loc: Loc) -> tuple[str, int]:
        for end in range(len(loc), -1, -1):
            found = self.positions.get(loc[:end])
            if found is not None:
                return found
        return ("<config>", 1)


@dataclass
class Merged:
    data: dict[str, object]
    source: SourceMap
    problems: list[ConfigProblem]


def merge(files: list[ParsedFile]) -> Merged:
    merged = Merged({}, SourceMap(), [])
    for parsed in files:
        if parsed.data is None:
            continue
        if not isinstance(parsed.data, dict):
            line = parsed.lines.get((), 1)
            merged.problems.append(
                ConfigProblem(parsed.file, line, "the top level must be a mapping of sections")
            )
            continue
        _FileMerge(merged, parsed).run()
    if files and () not in merged.source.positions:
        merged.source.positions[()] = (files[0].file, 1)
    return merged


def _section_of(loc: Loc) -> Loc | None:
    return next((s for s in LIST_SECTIONS if loc[: len(s)] == s), None)


def _holds_sections(loc: Loc) -> bool:
    """True for a mapping such as `rules` that contains list sections."""
    return any(len(s) > len(loc) and s[: len(loc)] == loc for s in LIST_SECTIONS)


class _FileMerge:
    def __init__(self, merged: Merged, parsed: ParsedFile) -> None:
        self._merged = merged
        self._parsed = parsed
        self._offsets: dict[Loc, int] = {}  # list section -> index of this file's first item
        self._skipped: list[Loc] = []  # parts of this file left out of the merged document

    def run(self) -> None:
        assert isinstance(self._parsed.data, dict)
        self._merge_mapping(self._merged.data, self._parsed.data, ())
        self._copy_positions()

    def _problem(self, loc: Loc, message: str) -> None:
        line = self._parsed.lines.get(loc, 1)
        self._merged.problems.append(ConfigProblem(self._parsed.file, line, message))

    def _merge_mapping(
        self, target: dict[str, object], source: dict[str, object], loc: Loc
    ) -> None:
        for key, value in source.items():
            here = (*loc, key)
            name = ".".join(str(part) for part in here)
            if here in LIST_SECTIONS:
                self._merge_list(target, key, value, here, name)
            elif _holds_sections(here) and isinstance(value, dict):
                inner = target.setdefault(key, {})
                if isinstance(inner, dict):
                    self._merge_mapping(inner, value, here)
                else:
                    self._once_only(here, name)
            elif key in target:
                self._once_only(here, name)
            else:
                target[key] = value

    def _merge_list(
        self, target: dict[str, object], key: str, value: object, here: Loc, name: str
    ) -> None:
        if value is None:  # an empty section, e.g. every device of a district commented out
            self._skipped.append(here)
            return
        if not isinstance(value, list):
            self._problem(here, f"'{name}' must be a list of items")
            self._skipped.append(here)
            return
        existing = target.setdefault(key, [])
        assert isinstance(existing, list)
        self._offsets[here] = len(existing)
        existing.extend(value)

    def _once_only(self, here: Loc, name: str) -> None:
        first_file, first_line = self._merged.source.position(here)
        self._problem(
            here,
            f"'{name}' is already set in {first_file}:{first_line}; it may appear in one file only",
        )
        self._skipped.append(here)

    def _copy_positions(self) -> None:
        positions = self._merged.source.positions
        for loc, line in self._parsed.lines.items():
            if any(loc[: len(s)] == s for s in self._skipped):
                continue
            section = _section_of(loc)
            if section is not None and len(loc) > len(section):
                index = loc[len(section)]
                assert isinstance(index, int)
                loc = (*section, index + self._offsets[section], *loc[len(section) + 1 :])
                positions[loc] = (self._parsed.file, line)
            else:
                positions.setdefault(loc, (self._parsed.file, line))
