"""`gridwatch_alerts_firing`: firing alerts per area and severity, read from the op
store at scrape time, with the grid label cut to the residential area (bounded)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from gridwatch import metrics
from gridwatch.records import Alert


def alert(i: int, grid: str, severity: str) -> Alert:
    return Alert(i, f"fp{i}", "r", "fire.smoke", severity, "firing", f"dev{i}",
                 "smoke_detector", grid, "1", 0.0, 0.0, None, 1.0, "")


@pytest.fixture
def firing() -> Iterator[list[Alert]]:
    alerts: list[Alert] = []
    metrics.track_firing_alerts(lambda: alerts)
    yield alerts
    metrics._FIRING.source = None


def scraped() -> dict[tuple[str, str], float]:
    return {(s.labels["area"], s.labels["severity"]): s.value
            for family in REGISTRY.collect() if family.name == "gridwatch_alerts_firing"
            for s in family.samples}


def test_firing_alerts_are_counted_per_area_and_severity(firing: list[Alert]) -> None:
    assert scraped() == {}
    firing += [alert(1, "lc/d2/wy1/mg07", "critical"), alert(2, "lc/d2/wy1/mg03", "critical"),
               alert(3, "lc/d2/wy1", "minor"), alert(4, "lc/d1/lc1/mg01", "critical"),
               alert(5, "lc/d1", "major")]
    assert scraped() == {("lc/d2/wy1", "critical"): 2, ("lc/d2/wy1", "minor"): 1,
                         ("lc/d1/lc1", "critical"): 1, ("lc/d1", "major"): 1}
    firing.clear()  # resolved: read afresh at the next scrape
    assert scraped() == {}
