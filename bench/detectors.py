"""`gridwatch bench detectors`: one evaluation step of every rule for 10,000 devices
with 600-sample windows, beside the same rules as a per-device Python loop
(`bench.detectors_loop`), in the same run; medians of `STEP_ROUNDS` steps, alternating
the two so that both see the same moments of a shared, noisy machine."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from bench.detectors_loop import LoopRules
from bench.kit import Result
from config.models import (
    AgentSpec,
    DeviceSpec,
    GridNodeSpec,
    MaintainerSpec,
    RulesSpec,
    StreetConfig,
    ThresholdRuleSpec,
)
from config.models_rules import (
    ELEVATOR_METRICS,
    ElevatorRulesSpec,
    FlatlineRuleSpec,
    NoisyRuleSpec,
    RangeRuleSpec,
    RateRuleSpec,
)
from config.registry import Registry
from detectors.engine import DetectorEngine
from detectors.slots import ReadingBatch

T0 = 1_764_090_000.0
WINDOW = 600  # samples per window, one a second
# A step takes milliseconds: many of them cost little next to filling the windows, and
# a median of 21 stands up to a busy neighbour better than one of 3.
STEP_ROUNDS = 21
# device type -> (share of the devices, metrics one step reports)
MIX: dict[str, tuple[float, tuple[str, ...]]] = {
    "heat_detector": (0.4, ("temperature_c",)),
    "hydrant_pressure": (0.3, ("water_pressure_mpa",)),
    "elevator": (0.3, ELEVATOR_METRICS),
}


BASE = {"temperature_c": 22.0, "water_pressure_mpa": 0.3, "speed_mps": 1.0, "floor": 5.0}


def bench_rules() -> RulesSpec:
    common: dict[str, Any] = {"severity": "minor", "summary": "{device} {value}"}
    heat: dict[str, Any] = {"device_type": "heat_detector", "metric": "temperature_c", **common}
    hyd: dict[str, Any] = {"device_type": "hydrant_pressure", "metric": "water_pressure_mpa"}
    hyd |= common
    return RulesSpec(
        thresholds=[
            ThresholdRuleSpec(id="heat-high", direction="above", fire_at=57, clear_at=45,
                              alert_type="fire.heat", **heat),
            ThresholdRuleSpec(id="hyd-low", direction="below", fire_at=0.1, clear_at=0.14,
                              alert_type="fire.pressure_low", **hyd),
        ],
        rates=[
            RateRuleSpec(id="heat-rise", direction="rise", window_s=WINDOW, fire_per_min=8,
                         clear_per_min=4, alert_type="fire.heat_rise", **heat),
            RateRuleSpec(id="hyd-fall", direction="fall", window_s=WINDOW, fire_per_min=0.05,
                         clear_per_min=0.01, alert_type="fire.pressure_loss", **hyd),
        ],
        ranges=[
            RangeRuleSpec(id="heat-range", low=-40, high=150, alert_type="device.sensor_fault",
                          **heat),
            RangeRuleSpec(id="hyd-range", low=0, high=2, alert_type="device.sensor_fault", **hyd),
        ],
        flatlines=[FlatlineRuleSpec(id="heat-stuck", tolerance=0.001, samples=WINDOW,
                                    stuck_s=WINDOW, alert_type="device.sensor_stuck", **heat)],
        noisy=[NoisyRuleSpec(id="heat-noisy", samples=WINDOW, min_step=0.5, fire_reversals=300,
                             clear_reversals=100, alert_type="device.sensor_noisy", **heat)],
        elevator=ElevatorRulesSpec(trapped_confirm_s=60),
    )


def bench_registry(n: int) -> Registry:
    devices = []
    for device_type, (share, _) in MIX.items():
        devices += [
            DeviceSpec(id=f"{device_type[:4]}{i}", type=device_type, agent="ag", grid="s/d/a/m",  # type: ignore[arg-type]
                       building="1", floor=1, maintainer="m", interval_s=1.0)
            for i in range(int(n * share))
        ]
    micro = GridNodeSpec(id="m", name="m")
    area = GridNodeSpec(id="a", name="a", children=[micro])
    grid = GridNodeSpec(
        id="s", name="s", children=[GridNodeSpec(id="d", name="d", children=[area])]
    )
    config = StreetConfig(
        street=grid,
        agents=[AgentSpec(id="ag", area="s/d/a", name="ag")],
        maintainers=[MaintainerSpec(id="m", name="m", kind="property")],
        devices=devices,
        rules=bench_rules(),
    )
    return Registry.from_config(config)


class Feed:
    """One reading per device and metric per second: slow random walks and car states."""

    def __init__(self, registry: Registry, seed: int = 5) -> None:
        self.rng = np.random.default_rng(seed)
        self.devices: list[str] = []
        self.metrics: list[str] = []
        self.base: list[float] = []
        for spec in registry.devices.values():
            for metric in MIX[spec.type][1]:
                self.devices.append(spec.id)
                self.metrics.append(metric)
                self.base.append(BASE.get(metric, 0.0))
        self.base_arr = np.array(self.base)
        self.binary = np.array([m in ELEVATOR_METRICS[:4] for m in self.metrics])

    def values(self) -> np.ndarray[tuple[int, ...], np.dtype[np.float64]]:
        noise = self.rng.normal(0.0, 0.01, len(self.base_arr)) * self.base_arr
        # Car states change rarely: most cars idle at a landing, door closed, empty.
        coin = self.rng.random(len(self.base_arr)) < 0.01
        return np.where(self.binary, coin.astype(float), self.base_arr + noise)

    def batch(self, engine: DetectorEngine, ts: float) -> ReadingBatch:
        index = engine.index
        slot = index.slots_of(self.devices)
        metric = np.fromiter((index.metric_id[m] for m in self.metrics), np.intp)
        return ReadingBatch(slot, metric, np.full(len(slot), ts), self.values())

    def rows(self, ts: float) -> list[tuple[str, str, float, float]]:
        vals = self.values().tolist()
        return list(zip(self.devices, self.metrics, [ts] * len(vals), vals, strict=True))


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


def run(quick: bool) -> list[Result]:
    n = 2_000 if quick else 10_000
    registry = bench_registry(n)
    feed = Feed(registry)
    engine = DetectorEngine(registry, clock=lambda: T0 + WINDOW)
    loop = LoopRules(registry)
    for k in range(WINDOW):  # fill every window first: the step below sees full windows
        engine.evaluate(feed.batch(engine, T0 + k))
        loop.step(feed.rows(T0 + k))
    vec: list[float] = []
    ref: list[float] = []
    for r in range(STEP_ROUNDS):
        ts = T0 + WINDOW + r
        batch, rows = feed.batch(engine, ts), feed.rows(ts)
        start = time.perf_counter()
        engine.evaluate(batch)
        vec.append(time.perf_counter() - start)
        start = time.perf_counter()
        loop.step(rows)
        ref.append(time.perf_counter() - start)
    label = (
        f"detectors: one step of all rules, {n:,} devices, {WINDOW}-sample windows "
        f"(median of {STEP_ROUNDS} steps)"
    )
    return [Result(label, "ms", _median_ms(vec), "per-device Python loop", _median_ms(ref))]
