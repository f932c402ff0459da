"""The detector engine: readings in batches, events one by one, timers on tick.

Everything it returns is an AlertChange for dispatch to store and route; the engine
itself keeps only detector state, which `restore` rebuilds from the alert store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from config.registry import Registry
from detectors.events import EventDetector
from detectors.offline import OfflineDetector, offline_fingerprint
from detectors.slots import DeviceIndex, ReadingBatch
from detectors.threshold import UPDATE_INTERVAL_S, ThresholdRule
from gridwatch.records import AlertChange, DeviceEvent, Reading

FiringAlert = tuple[str, str, float | None]  # fingerprint, device, value


class DetectorEngine:
    def __init__(
        self,
        registry: Registry,
        clock: Callable[[], float] = time.time,
        update_interval_s: float = UPDATE_INTERVAL_S,
    ) -> None:
        self.clock = clock
        self.index = DeviceIndex(registry)
        rules = registry.rules
        self.thresholds = {
            r.id: ThresholdRule(r, self.index, update_interval_s) for r in rules.thresholds
        }
        self.offline = OfflineDetector(self.index, rules.offline, start=clock())
        self.events = EventDetector(registry.devices, rules.events)

    def process_readings(self, readings: Sequence[Reading]) -> list[AlertChange]:
        batch = ReadingBatch.from_readings(self.index, readings)
        changes = self.offline.observe(batch.slot, batch.ts, self.clock())
        for rule in self.thresholds.values():
            changes += rule.process(batch)
        return changes

    def process_events(self, events: Iterable[DeviceEvent]) -> list[AlertChange]:
        events = list(events)
        changes: list[AlertChange] = []
        for event in events:
            changes += self.events.process(event)
        # Offline bookkeeping comes after, so it never holds back the alarm itself.
        slots = self.index.slots_of([e.device for e in events])
        ts = np.fromiter((e.ts for e in events), dtype=np.float64, count=len(events))
        known = slots >= 0
        changes += self.offline.observe(slots[known], ts[known], self.clock())
        return changes

    def tick(self, now: float | None = None) -> list[AlertChange]:
        """Timer-driven changes: devices gone silent, pending conditions now due."""
        at = self.clock() if now is None else now
        changes = self.offline.tick(at)
        for rule in self.thresholds.values():
            changes += rule.tick(at)
        return changes

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
        slot = self.index.slot.get(device)
        if slot is None:
            return False
        if fingerprint == offline_fingerprint(device):
            self.offline.restore(slot)
            return True
        suffix = f":{device}"
        rule = self.thresholds.get(fingerprint.removesuffix(suffix))
        if fingerprint.endswith(suffix) and rule is not None:
            return rule.restore(device, value)
        return self.events.restore(fingerprint, device)
