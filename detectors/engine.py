"""The detector engine: readings in batches, events one by one, timers on tick.

Everything it returns is an AlertChange for dispatch to store and route; the engine
itself keeps only detector state, which `restore` rebuilds from the alert store and
`rebuild` (the rule windows) from the time-series store.
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
from detectors.events import EventDetector
from detectors.library import reading_rules
from detectors.lifecycle import UPDATE_INTERVAL_S, Lifecycle
from detectors.offline import OfflineDetector, offline_fingerprint
from detectors.slots import DeviceIndex, ReadingBatch
from detectors.threshold import ThresholdRule
from gridwatch.records import AlertChange, DeviceEvent, Reading
from store.interfaces import TimeSeriesStore

FiringAlert = tuple[str, str, float | None]  # fingerprint, device, value
MAX_HISTORY_S = 3600.0  # the longest history a restart reads back per series


class DetectorEngine:
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
        if self.elevator is not None:
            self.lifecycles.update(self.elevator.life)

    def process_readings(self, readings: Sequence[Reading]) -> list[AlertChange]:
        batch = ReadingBatch.from_readings(self.index, readings)
        now = self.clock()
        changes = self.agents.filter(self.offline.observe(batch.slot, batch.ts, now), now)
        return changes + self.evaluate(batch)

    def evaluate(self, batch: ReadingBatch) -> list[AlertChange]:
        """Every reading rule over one batch of columns (what `gridwatch bench` times)."""
        # Split by metric once, so each rule scans its own metric's readings only.
        parts = {m: batch.where(batch.metric == m) for m in set(self.rule_metrics)}
        changes: list[AlertChange] = []
        for rule in self.thresholds.values():
            changes += rule.process(parts[rule.metric_id])
        for reading_rule in self.library:
            changes += reading_rule.process(parts[reading_rule.metric_id])
        if self.elevator is not None:
            changes += self.elevator.process(batch)
        return changes + self.fire.observe(changes)

    def process_events(self, events: Iterable[DeviceEvent]) -> list[AlertChange]:
        events = list(events)
        changes: list[AlertChange] = []
        for event in events:
            if self.cameras.handles(event.type):
                changes += self.cameras.process(event)
            else:
                changes += self.events.process(event)
            if self.elevator is not None:
                changes += self.elevator.on_event(event)
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
        if self.elevator is not None:
            changes += self.elevator.tick(at)
        return changes + self.fire.observe(changes)

    def rebuild(self, timeseries: TimeSeriesStore, now: float) -> int:
        """Refill the rule windows from stored history, so a rule over the last ten
        minutes is not blind for ten minutes after a restart. Raises no alert (the alert
        store holds those; see `restore`). Returns how many readings were read back."""
        history = self.history(timeseries, now)
        self.warm(history)
        return len(history)

    def history(self, timeseries: TimeSeriesStore, now: float) -> list[Reading]:
        """The stored readings the windowed rules need; touches no detector state, so a
        caller may read it without holding up live traffic, then `warm` under its lock."""
        spans: dict[tuple[str, str], float] = {}
        for rule in self.library:
            span = min(rule.history_s, MAX_HISTORY_S)
            for device in rule.devices.ids if span > 0 else ():
                key = (device, rule.spec.metric)
                spans[key] = max(spans.get(key, 0.0), span)
        devices = self.registry.devices
        return [
            Reading(devices[device].agent, device, metric, p.ts, p.value)
            for (device, metric), span in spans.items()
            for p in timeseries.series(device, metric, now - span, now, None)
        ]

    def warm(self, history: Sequence[Reading]) -> None:
        """Feed history into the rule signals (windows, counters) without raising alerts.
        Readings older than what a rule has already seen live are dropped as late."""
        batch = ReadingBatch.from_readings(self.index, history)
        for rule in self.library:
            rule.warm(batch)

    def restore(self, firing: Iterable[FiringAlert]) -> list[str]:
        """Adopt the alerts firing in the store after a restart, so a condition that still
        holds updates its alert and a clearing reading resolves it. Returns the
        fingerprints no current rule or device claims (for the caller to resolve)."""
        unclaimed: list[str] = []
        for fingerprint, device, value in firing:
            if not self._restore_one(fingerprint, device, value):
                unclaimed.append(fingerprint)
        return unclaimed

    def _restore_one(self, fingerprint: str, device: str, value: float | None) -> bool:
        if self.agents.restore(fingerprint) or self.fire.restore(fingerprint, device):
            return True
        slot = self.index.slot.get(device)
        if slot is None:
            return False
        if fingerprint == offline_fingerprint(device):
            self.offline.restore(slot)
            return True
        suffix = f":{device}"
        owner = self.lifecycles.get(fingerprint.removesuffix(suffix))
        if fingerprint.endswith(suffix) and owner is not None:
            return owner.restore(device, value)
        return self.cameras.restore(fingerprint, device) or self.events.restore(fingerprint, device)
