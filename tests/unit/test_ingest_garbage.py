"""The per-agent dead-letter budget and the garbage alert, alone and in the pipeline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.decode import RawMessage
from ingest.garbage import GarbageBudget, garbage_change
from ingest.pipeline import IngestPipeline
from store.opstate_sqlite import SqliteOpStore
from store.timeseries_duckdb import DuckDBTimeSeries
from tests.support.sinks import NullSink
from tests.support.tiny_street import lc_street

NOW = 1_764_090_000.0


def test_the_budget_stores_a_burst_then_a_rate_and_starts_one_episode() -> None:
    budget = GarbageBudget(rate_per_s=2.0, burst=3.0, quiet_s=60.0)
    verdicts = [budget.reject("a", NOW) for _ in range(5)]
    assert [v.store for v in verdicts] == [True, True, True, False, False]
    assert [v.episode_started for v in verdicts] == [False, False, False, True, False]
    assert budget.reject("a", NOW + 1.0).store  # two tokens back after a second
    assert budget.reject("b", NOW).store  # another agent has its own bucket
    assert not budget.episode_over("a", NOW + 30)
    assert budget.episode_over("a", NOW + 62)
    assert not budget.episode_over("a", NOW + 63)  # once


def test_after_a_quiet_spell_a_new_flood_is_a_new_episode() -> None:
    budget = GarbageBudget(rate_per_s=0.001, burst=1.0, quiet_s=10.0)
    assert budget.reject("a", NOW).store
    assert budget.reject("a", NOW + 1).episode_started
    assert not budget.reject("a", NOW + 2).episode_started
    assert budget.reject("a", NOW + 20).episode_started


def test_unregistered_senders_share_one_bucket() -> None:
    budget = GarbageBudget(rate_per_s=0.001, burst=1.0)
    assert budget.reject(None, NOW).store
    assert not budget.reject(None, NOW).store


@pytest.mark.parametrize(("rate", "burst", "quiet"), [(0, 1, 1), (1, 0.5, 1), (1, 1, 0)])
def test_a_bad_budget_is_refused(rate: float, burst: float, quiet: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        GarbageBudget(rate, burst, quiet)


def test_the_garbage_alert_is_filed_under_the_agents_first_device() -> None:
    registry = lc_street()
    change = garbage_change(registry, "ag-a1", NOW, "bad_json: not JSON", over=False)
    assert change is not None
    assert (change.kind, change.type, change.severity) == ("fire", "agent.garbage", "warning")
    assert registry.devices[change.device].agent == "ag-a1"
    assert change.fingerprint == "agent.garbage:ag-a1"
    resolve = garbage_change(registry, "ag-a1", NOW, "quiet", over=True)
    assert resolve is not None and resolve.kind == "resolve"
    assert garbage_change(registry, "nobody", NOW, "x", over=False) is None


class GarbageSink(NullSink):
    def __init__(self) -> None:
        self.garbage: list[tuple[str, bool]] = []

    def on_agent_garbage(self, agent: str, ts: float, detail: str, over: bool) -> None:
        self.garbage.append((agent, over))


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[DuckDBTimeSeries, SqliteOpStore]]:
    ts, ops = DuckDBTimeSeries(tmp_path / "ts.duckdb"), SqliteOpStore(tmp_path / "ops.sqlite")
    yield ts, ops
    ts.close()
    ops.close()


def test_a_flood_of_garbage_stores_the_budget_counts_the_rest_and_alerts_once(
    stores: tuple[DuckDBTimeSeries, SqliteOpStore],
) -> None:
    ts, ops = stores
    sink = GarbageSink()
    budget = GarbageBudget(rate_per_s=0.001, burst=10.0, quiet_s=60.0)
    pipe = IngestPipeline(lc_street(), ts, ops, sink, garbage=budget)
    bad = [RawMessage("gw/v1/ag-a1/events", b"{", NOW) for _ in range(100)]
    pipe.process(bad[:50])
    pipe.process(bad[50:])
    assert ops.dead_letter_count() == 10
    assert sink.garbage == [("ag-a1", False)]
    # A good message after the quiet spell ends the episode (the alert resolves).
    good = json.dumps({"agent": "ag-a1", "seq": 1, "readings": []}).encode()
    pipe.process([RawMessage("gw/v1/ag-a1/readings", good, NOW + 30)])
    assert sink.garbage == [("ag-a1", False)]  # still within the quiet spell
    pipe.process([RawMessage("gw/v1/ag-a1/readings", good, NOW + 61)])
    assert sink.garbage == [("ag-a1", False), ("ag-a1", True)]
