"""The readings lane holds the detector engine for a bounded time, so an alarm waits
for one short chunk whatever the readings cost (gridwatch.hold_budget)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from app.backend import DetectorStage
from gridwatch.hold_budget import ChunkSizer
from gridwatch.reading_table import ReadingTable

COST_PER_READING_S = 50e-6  # an anomaly-ruled reading's evaluation, roughly, in the bench


class SlowEngine:
    """Evaluation time proportional to the readings, like the anomaly detector's."""

    def __init__(self) -> None:
        self.evaluated = 0
        self.evaluated_when_alarm_ran: int | None = None
        self.busy = threading.Event()

    def process_readings(self, chunk: Sequence[Any]) -> list[Any]:
        self.busy.set()
        time.sleep(len(chunk) * COST_PER_READING_S)
        self.evaluated += len(chunk)
        return []

    def process_events(self, _events: Sequence[Any]) -> list[Any]:
        self.evaluated_when_alarm_ran = self.evaluated
        return []


class PassThroughDispatcher:
    def enqueue(self, _changes: Sequence[Any]) -> None:
        return None

    def finish(self, _ticket: object) -> list[Any]:
        return []

    def note_readings(self, _readings: Sequence[Any]) -> None:
        return None


def test_an_alarm_waits_for_one_short_chunk_not_a_fixed_5000_readings() -> None:
    engine = SlowEngine()
    stage = DetectorStage(cast(Any, engine), cast(Any, PassThroughDispatcher()))
    n = 40_000  # 2 s of evaluation at this cost
    readings = ReadingTable.from_columns(["ag"] * n, ["d"] * n, ["m"] * n, np.zeros(n),
                                         np.zeros(n))
    lane = threading.Thread(target=stage.on_readings, args=(readings,))
    lane.start()
    assert engine.busy.wait(5)
    time.sleep(0.3)  # the sizer has measured the cost by now
    at_alarm = engine.evaluated
    stage.on_events([])
    lane.join(30)
    assert engine.evaluated == len(readings)  # nothing skipped
    assert engine.evaluated_when_alarm_ran is not None
    # A 20 ms budget at 50 us a reading is 400 readings a hold; the alarm got in after
    # the hold in progress (and at most one more). A fixed 5,000 chunk (the old code)
    # made it wait up to 5,000 readings, 250 ms here.
    waited_for = engine.evaluated_when_alarm_ran - at_alarm
    assert waited_for <= 1_200, waited_for


def test_the_chunk_fits_the_budget_at_the_measured_cost() -> None:
    sizer = ChunkSizer(budget_s=0.02, smallest=50, largest=5_000)
    assert sizer.size() == 50  # nothing measured: start small
    sizer.took(50, 50 * 50e-6)
    assert sizer.size() == 400
    sizer.took(400, 400 * 1e-6)  # cheap readings: grows, not all at once
    assert 400 < sizer.size() < 5_000
    for _ in range(30):
        sizer.took(1_000, 1_000 * 1e-6)
    assert sizer.size() == 5_000  # capped


def test_an_overrun_shrinks_the_next_chunk_at_once() -> None:
    sizer = ChunkSizer(budget_s=0.02, smallest=50, largest=5_000)
    for _ in range(30):
        sizer.took(5_000, 5_000 * 1e-6)
    assert sizer.size() == 5_000
    sizer.took(5_000, 0.5)  # a chunk of expensive readings: 100 us each
    assert sizer.size() == 200
    sizer.took(10, 1.0)  # pathological: never below the floor
    assert sizer.size() == 50
    sizer.took(0, 1.0)  # nothing evaluated: nothing learnt
    assert sizer.size() == 50
