"""Read one YAML file into plain data plus the line of every key and list item.

PyYAML's ready-made loaders forget where things came from and silently keep the last of
two equal keys; composing the node tree ourselves keeps both the lines and the chance
to call a duplicate key an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from config.errors import ConfigProblem, Loc

_MERGE_TAG = "tag:yaml.org,2002:merge"
# libyaml composes the sample street about ten times faster than pure Python.
_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)


@dataclass
class ParsedFile:
    file: str
    data: object = None  # None for an empty file
    lines: dict[Loc, int] = field(default_factory=dict)  # loc within this file -> 1-based line
    problems: list[ConfigProblem] = field(default_factory=list)
    # False when the file could not be read as written: not at all, or with values lost.
    readable: bool = True


def parse_file(path: Path) -> ParsedFile:
    name = str(path)
    text = _read_text(path)
    if isinstance(text, ConfigProblem):
        return ParsedFile(name, problems=[text], readable=False)
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        return ParsedFile(name, problems=[_syntax_problem(name, exc)], readable=False)
    except yaml.YAMLError as exc:  # unmarked errors are rare (e.g. a bad stream start)
        return ParsedFile(
            name, problems=[ConfigProblem(name, 1, f"YAML error: {exc}")], readable=False
        )
    parsed = ParsedFile(name)
    if root is not None:
        parsed.lines[()] = _line(root)
        parsed.data = _Converter(parsed).convert(root, ())
    return parsed


def _read_text(path: Path) -> str | ConfigProblem:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return ConfigProblem(str(path), 1, f"cannot read file: {exc.strerror or exc}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        return ConfigProblem(
            str(path), line, f"not valid UTF-8 (byte 0x{byte} at offset {exc.start})"
        )


def _syntax_problem(file: str, exc: yaml.MarkedYAMLError) -> ConfigProblem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    context = exc.context or ""
    # The error is found where parsing fails; what was left open (an unclosed bracket or
    # quote) is often lines earlier, so name that line too.
    if context and exc.context_mark is not None and exc.context_mark.line + 1 != line:
        context += f" (from line {exc.context_mark.line + 1})"
    what = "; ".join(part for part in (context, exc.problem) if part)
    return ConfigProblem(file, line, f"YAML syntax error: {what or exc}")


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


class _Converter:
    """Turns a composed node tree into dicts, lists and scalars, recording lines."""

    def __init__(self, parsed: ParsedFile) -> None:
        self._parsed = parsed
        self._scalars = SafeConstructor()
        self._open: set[int] = set()  # ids of the collections being converted, to stop cycles

    def _problem(self, node: Node, message: str, *, value_lost: bool = True) -> None:
        self._parsed.problems.append(ConfigProblem(self._parsed.file, _line(node), message))
        # A lost value would resurface as a misleading "missing" or "invalid" report.
        self._parsed.readable = self._parsed.readable and not value_lost

    def convert(self, node: Node, loc: Loc) -> object:
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        if id(node) in self._open:
            self._problem(node, "an alias refers to a collection that contains it")
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, loc)
            if isinstance(node, SequenceNode):
                return self._sequence(node, loc)
        finally:
            self._open.discard(id(node))
        return None  # pragma: no cover - the composer makes no other node kinds

    def _scalar(self, node: ScalarNode) -> object:
        try:
            return self._scalars.construct_object(node)
        # ValueError: a timestamp like 2025-13-45, or `!!int abc`.
        except (yaml.MarkedYAMLError, ValueError) as exc:
            detail = exc.problem if isinstance(exc, yaml.MarkedYAMLError) else exc
            self._problem(node, f"cannot read value {node.value!r}: {detail}")
            return None

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[str, object]:
        result: dict[str, object] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self._problem(key_node, "merge keys (<<) are not supported; write the keys out")
                continue
            if not isinstance(key_node, ScalarNode):
                self._problem(key_node, "a key must be a plain value, not a list or mapping")
                continue
            # Keys are taken as written: 'on', 'no' or '1' are names here, never booleans.
            key = str(key_node.value)
            first = self._parsed.lines.get((*loc, key))
            if first is not None:
                self._problem(
                    key_node, f"duplicate key '{key}' (first at line {first})", value_lost=False
                )
                continue
            self._parsed.lines[(*loc, key)] = _line(key_node)
            result[key] = self.convert(value_node, (*loc, key))
        return result

    def _sequence(self, node: SequenceNode, loc: Loc) -> list[object]:
        items: list[object] = []
        for index, item in enumerate(node.value):
            self._parsed.lines[(*loc, index)] = _line(item)
            items.append(self.convert(item, (*loc, index)))
        return items
