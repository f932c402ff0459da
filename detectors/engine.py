"""The detector engine: readings in batches, events one by one, timers on tick.

Everything it returns is an AlertChange for dispatch to store and route; the engine
itself keeps only detector state, which `restore` rebuilds from the alert store and
`rebuild` (windows, pending conditions, elevator status) from the time-series store
(both in detectors.engine_restart).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from config.models_rules import CorrelationSpec
from config.registry import Registry
from detectors.agent_offline import AgentOffline
from detectors.camera_rules import CameraRules
from detectors.correlation import FireCorrelator
from detectors.elevator import ElevatorRules
from detectors.engine_restart import EngineRestart
from detectors.events import EventDetector
from detectors.library import reading_rules
from detectors.lifecycle import UPDATE_INTERVAL_S, Lifecycle
from detectors.offline import OfflineDetector
from detectors.rig_rule import RigAnomalyRule
from detectors.slots import DeviceIndex, ReadingBatch
from detectors.threshold import ThresholdRule
from gridwatch.records import AlertChange, DeviceEvent, Reading


class DetectorEngine(EngineRestart):
    def __init__(
        self,
        registry: Registry,
        clock: Callable[[], float] = time.time,
        update_interval_s: float = UPDATE_INTERVAL_S,
    ) -> None:
        self.clock = clock
        self.registry = registry
        self.index = DeviceIndex(registry)
        rules = registry.rules
        self.thresholds = {
            r.id: ThresholdRule(r, self.index, update_interval_s) for r in rules.thresholds
        }
        self.library = reading_rules(rules, self.index)
        self.rigs = [RigAnomalyRule(spec, self.index) for spec in rules.rig_anomalies]
        self.elevator = ElevatorRules(rules.elevator, self.index) if rules.elevator else None
        self.offline = OfflineDetector(self.index, rules.offline, start=clock())
        self.events = EventDetector(registry.devices, rules.events)
        self.cameras = CameraRules(rules.cameras, registry.devices)
        correlation = rules.correlation or CorrelationSpec()
        self.fire = FireCorrelator(correlation, registry.devices)
        self.agents = AgentOffline(correlation, registry, self.index, self.offline)
        self.rule_metrics = [r.metric_id for r in self.thresholds.values()]
        self.rule_metrics += [r.metric_id for r in self.library]
        # Rule id -> the lifecycle holding its alerts, for restore.
        self.lifecycles: dict[str, ThresholdRule | Lifecycle] = dict(self.thresholds)
        self.lifecycles.update({r.spec.id: r.life for r in self.library})
        self.lifecycles.update({r.spec.id: r.life for r in self.rigs})
        if self.elevator is not None:
            self.lifecycles.update(self.elevator.life)
        # The store's firing alerts as `restore` adopted them: fingerprint -> (device,
        # value, the condition's latest time in the store), for `warm` (engine_restart).
        self.restored: dict[str, tuple[str, float | None, float]] = {}

    def process_readings(self, readings: Sequence[Reading]) -> list[AlertChange]:
        batch = ReadingBatch.of(self.index, readings)
        now = self.clock()
        changes = self.agents.filter(self.offline.observe(batch.slot, batch.ts, now), now)
        return changes + self.evaluate(batch)

    def evaluate(self, batch: ReadingBatch) -> list[AlertChange]:
        """Every reading rule over one batch of columns (what `gridwatch bench` times)."""
        changes = self._evaluate_rules(batch)
        return changes + self.fire.observe(changes)

    def _evaluate_rules(self, batch: ReadingBatch) -> list[AlertChange]:
        # Split by metric once, so each rule scans its own metric's readings only.
        parts = {m: batch.where(batch.metric == m) for m in set(self.rule_metrics)}
        changes: list[AlertChange] = []
        for rule in self.thresholds.values():
            changes += rule.process(parts[rule.metric_id])
        for reading_rule in self.library:
            changes += reading_rule.process(parts[reading_rule.metric_id])
        for rig in self.rigs:
            changes += rig.process(batch)
        if self.elevator is not None:
            changes += self.elevator.process(batch)
        return changes

    def process_events(self, events: Iterable[DeviceEvent]) -> list[AlertChange]:
        events = list(events)
        changes: list[AlertChange] = []
        elevator = self.elevator
        for event in events:
            if self.cameras.handles(event.type):
                changes += self.cameras.process(event)
            elif elevator is not None and elevator.claims(event):
                changes += elevator.condition_event(event)
            else:
                changes += self.events.process(event)
            if elevator is not None:
                changes += elevator.on_event(event)
        changes += self.fire.observe(changes)
        # Offline bookkeeping comes after, so it never holds back the alarm itself.
        slots = self.index.slots_of([e.device for e in events])
        ts = np.fromiter((e.ts for e in events), dtype=np.float64, count=len(events))
        known = slots >= 0
        now = self.clock()
        changes += self.agents.filter(self.offline.observe(slots[known], ts[known], now), now)
        return changes

    def tick(self, now: float | None = None) -> list[AlertChange]:
        """Timer-driven changes: devices gone silent, pending conditions now due."""
        at = self.clock() if now is None else now
        changes = self.agents.filter(self.offline.tick(at), at)
        for rule in self.thresholds.values():
            changes += rule.tick(at)
        for reading_rule in self.library:
            changes += reading_rule.tick(at)
        for rig in self.rigs:
            changes += rig.tick(at)
        if self.elevator is not None:
            changes += self.elevator.tick(at)
        return changes + self.fire.observe(changes)
