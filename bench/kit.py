"""What every benchmark returns: its figure beside a reference measured in the same run."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROUNDS = 3  # each figure is the median of this many rounds: the machines are shared


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    unit: str
    figure: float
    reference_name: str
    reference: float

    def line(self) -> str:
        ratio = self.figure / self.reference if self.reference else float("nan")
        return (
            f"{self.name}: {self.figure:,.6g} {self.unit}  |  reference ({self.reference_name}): "
            f"{self.reference:,.6g} {self.unit}  |  ratio {ratio:.2f}"
        )


def arrival(seen: Mapping[str, float], key: str, timeout: float) -> float | None:
    """`seen[key]` once another thread has put it there, or None after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if key in seen:
            return seen[key]
        time.sleep(0.005)
    return None


def csv_rows(data: Path) -> int:
    """Data rows (the header left out) of every CSV under `data`."""
    return sum(sum(1 for _ in p.open()) - 1 for p in data.rglob("*.csv"))
