from __future__ import annotations

import numpy as np

from bench.detectors import WINDOW, Feed, bench_registry
from bench.detectors_loop import LoopRules
from detectors.engine import DetectorEngine
from detectors.slots import ReadingBatch

T0 = 1_764_090_000.0


def test_the_loop_reference_decides_exactly_like_the_engine() -> None:
    """The benchmark's reference must be the same rules, or its ratio means nothing."""
    registry = bench_registry(200)
    feed = Feed(registry, seed=9)
    engine = DetectorEngine(registry, clock=lambda: T0)
    loop = LoopRules(registry)
    index = engine.index
    seen_engine: list[tuple[str, str]] = []
    seen_loop: list[tuple[str, str]] = []
    for k in range(WINDOW // 4):
        ts = T0 + k
        # Big swings now and then, so rules fire and clear during the run.
        values = feed.values() * (1.0 + (k % 37 == 0) * 3.0)
        rows = list(
            zip(feed.devices, feed.metrics, [ts] * len(values), values.tolist(), strict=True)
        )
        slot = index.slots_of(feed.devices)
        metric = feed.batch(engine, ts).metric
        batch = ReadingBatch(slot, metric, np.full(len(slot), ts), values.astype(np.float64))
        seen_engine += [
            (c.fingerprint, c.kind) for c in engine.evaluate(batch) if c.kind != "update"
        ]
        seen_loop += loop.step(rows)
    assert seen_engine, "the run should exercise the rules"
    assert {k for _, k in seen_engine} == {"fire", "resolve"}
    assert sorted(seen_engine) == sorted(seen_loop)
