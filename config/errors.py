"""Configuration problems, each pinned to the file and line a person has to fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# A place in the (merged) configuration data: mapping keys and list indices, from the top.
Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    file: str
    line: int  # 1-based
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ConfigError(Exception):
    """Every problem found in a configuration, not just the first one."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line))
        super().__init__("\n".join(str(p) for p in self.problems))


class Locator(Protocol):
    def position(self, loc: Loc) -> tuple[str, int]:
        """The file and line of the key or item at `loc`, or of its nearest enclosing one."""
        ...


def problem_at(locator: Locator, loc: Loc, message: str) -> ConfigProblem:
    file, line = locator.position(loc)
    return ConfigProblem(file, line, message)
