"""After a restart: the detector engine's state back from the stores.

Two sources, in this order. The alert store: `restore` adopts the alerts still firing.
The time-series store: `rebuild` replays stored history through every reading rule
(`warm`), lifecycles included, and reconciles the outcome with the alert store, so a
pending condition keeps its start and a fire or resolve a crash lost comes out once;
stored events refill the event-fed state (`warm_events`); the anomaly detectors learn
the history outside the backend's lock (`learn_anomalies`, then `adopt_anomalies`).
`rebuild` runs the steps in that order; given the caller's lock, it holds it only around
the quick ones.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext

from config.models_rules import ELEVATOR_METRICS
from config.registry import Registry
from detectors.agent_offline import AgentOffline
from detectors.anomaly_rule import AnomalyRule, AnomalyState
from detectors.anomaly_state import LearntRule
from detectors.camera_rules import CameraRules
from detectors.correlation import FireCorrelator
from detectors.elevator import ElevatorRules
from detectors.events import EventDetector
from detectors.lifecycle import Lifecycle
from detectors.offline import OfflineDetector, offline_fingerprint
from detectors.reading_rule import ReadingRule
from detectors.rig_rule import RigAnomalyRule
from detectors.slots import DeviceIndex, ReadingBatch, Subset
from detectors.threshold import ThresholdRule
from gridwatch.records import AlertChange, AnomalyLevel, DeviceEvent, Reading
from store.interfaces import EventHistory, SpanHistory, TimeSeriesStore

log = logging.getLogger(__name__)
FiringAlert = tuple[str, str, float | None]  # fingerprint, device, value
MAX_HISTORY_S = 3600.0  # the longest history a restart reads back per series


class EngineRestart:
    """The restart half of `DetectorEngine` (which sets these attributes)."""

    registry: Registry
    index: DeviceIndex
    thresholds: dict[str, ThresholdRule]
    library: list[ReadingRule]
    rigs: list[RigAnomalyRule]
    elevator: ElevatorRules | None
    offline: OfflineDetector
    events: EventDetector
    cameras: CameraRules
    fire: FireCorrelator
    agents: AgentOffline
    lifecycles: dict[str, ThresholdRule | Lifecycle]
    restored: dict[str, tuple[str, float | None, float]]

    def rebuild(
        self,
        timeseries: TimeSeriesStore,
        now: float,
        lock: AbstractContextManager[object] | None = None,
        on_changes: Callable[[list[AlertChange]], object] = lambda changes: None,
    ) -> list[AlertChange]:
        """Replay stored history into every reading rule (see `warm` and
        `learn_anomalies`); returns the alert changes the alert store is missing.

        `lock` is the one live traffic holds while it drives the engine: held around the
        replay (a fraction of a second for a street) and the adoption of what the anomaly
        detectors learnt, not around the store reads or the learning (tens of seconds on a
        first start), so alarms arriving meanwhile are not held up. `on_changes` gets the
        changes as soon as the replay has them, before that learning."""
        lock = nullcontext() if lock is None else lock
        history = self.history(timeseries, now)  # store reads, outside the lock
        stored_events = (
            self.event_history(timeseries, now) if isinstance(timeseries, EventHistory) else []
        )
        with lock:
            self.warm_events(stored_events)
            changes = self.warm(history, now)
            states = self.anomaly_states()
        on_changes(changes)
        learnt = self.learn_anomalies(states, history)
        with lock:
            self.adopt_anomalies(learnt)
        log.info("detector state rebuilt from %d stored readings; %d alert changes the "
                 "store lacked", len(history), len(changes))
        return changes

    def event_history(self, events: EventHistory, now: float) -> list[DeviceEvent]:
        """Stored events the event-fed state needs back (door faults, controller-held
        elevator conditions): the last MAX_HISTORY_S, like the readings."""
        if self.elevator is None:
            return []
        return events.events_of_types(
            self.elevator.replayed_event_types, now - MAX_HISTORY_S, now
        )

    def warm_events(self, events: Sequence[DeviceEvent]) -> None:
        if self.elevator is not None:
            self.elevator.warm_events(events)

    def anomaly_states(self) -> list[AnomalyState]:
        """Copies of the learnt rules' state (anomaly and rig rules), to learn history
        into outside the lock."""
        return [rule.state() for rule in self.learnt_rules]

    def learn_anomalies(
        self, states: Sequence[AnomalyState], history: Sequence[Reading]
    ) -> list[AnomalyState]:
        """The anomaly rules' states with the stored history they had not seen learnt.
        Reads no mutable engine state, so it may run while live traffic goes on; rows
        that arrive meanwhile are scored by the rule as it was and not kept by the
        learnt state that `adopt_anomalies` then installs."""
        batch = ReadingBatch.from_readings(self.index, history)
        rules = self.learnt_rules
        return [rule.learn(state, batch) for rule, state in zip(rules, states, strict=True)]

    def adopt_anomalies(self, states: Sequence[AnomalyState]) -> None:
        for rule, state in zip(self.learnt_rules, states, strict=True):
            rule.load(state)

    def history(self, timeseries: TimeSeriesStore, now: float) -> list[Reading]:
        """The stored readings a replay needs; touches no detector state, so a caller may
        read it without holding up live traffic, then `warm` under its lock."""
        devices = self.registry.devices
        spans = self.replay_spans()
        if isinstance(timeseries, SpanHistory):
            rows = timeseries.recent_series(spans, now)
        else:
            rows = [
                (device, metric, p.ts, p.value)
                for (device, metric), span in spans.items()
                for p in timeseries.series(device, metric, now - span, now, None)
            ]
        return [Reading(devices[d].agent, d, m, ts, value) for d, m, ts, value in rows]

    def replay_spans(self) -> dict[tuple[str, str], float]:
        """Seconds of history per (device, metric): each rule's signal window before its
        decision span (see `_decision_span`); at most MAX_HISTORY_S."""
        spans: dict[tuple[str, str], float] = {}

        def need(devices: Subset, metrics: Iterable[str], span: float) -> None:
            for key in itertools.product(devices.ids, metrics):
                spans[key] = max(spans.get(key, 0.0), min(span, MAX_HISTORY_S))

        for threshold in self.thresholds.values():
            span = self._decision_span(threshold.devices, threshold.lifecycle)
            need(threshold.devices, [threshold.spec.metric], span)
        for rule in self.library:
            span = rule.history_s + self._decision_span(rule.devices, rule.life)
            need(rule.devices, [rule.spec.metric], span)
        for rig in self.rigs:  # the rows its saved state has not seen (it saves every 5 min)
            need(rig.devices, rig.spec.metrics, self._decision_span(rig.devices, rig.life))
        if self.elevator is not None:
            lives = self.elevator.life.values()
            span = max(self._decision_span(self.elevator.devices, life) for life in lives)
            need(self.elevator.devices, ELEVATOR_METRICS, span)
        return spans

    def _decision_span(self, devices: Subset, life: Lifecycle) -> float:
        """How far back a replay must decide, not just listen: the longest confirm time
        and hold, plus two reporting intervals so the reading before a condition began
        is decided too."""
        interval = float(self.index.interval_s[devices.members].max(initial=0.0))
        return life.memory_s + 2 * interval

    def warm(self, history: Sequence[Reading], now: float) -> list[AlertChange]:
        """Replay history so windows, pending conditions (a threshold 50 s into its 60 s
        confirm time), hysteresis and the elevator status table are as if the engine had
        never stopped. A windowed rule first only listens to the readings before its
        decision span (its window must be full before its decisions mean anything), then
        decides on the rest. Readings older than what a rule has already seen live are
        dropped as late, as always.

        The replay's alert changes are reconciled with the alert store, which `restore`
        adopted first: an alert whose replayed state matches the store's raises nothing
        (no double), and only a difference comes out, as its latest fire or resolve (a
        condition that fired just before a crash and never reached the store is not lost).
        """
        batch = ReadingBatch.from_readings(self.index, history)
        before = self._firing_fingerprints()
        replayed: list[AlertChange] = []
        for threshold in self.thresholds.values():
            replayed += threshold.process(batch)
        for rule in self.library:
            if isinstance(rule, AnomalyRule):
                continue  # its detector learns outside the lock: learn_anomalies
            cut = now - self._decision_span(rule.devices, rule.life)
            rule.warm(batch.where(batch.ts < cut))
            replayed += rule.process(batch.where(batch.ts >= cut))
        if self.elevator is not None:
            replayed += self.elevator.process(batch)
        differ = before ^ self._firing_fingerprints()
        latest = {c.fingerprint: c for c in replayed if c.kind != "update"}
        for fp, change in list(latest.items()):
            device, value, stored_at = self.restored.get(fp, ("", None, float("-inf")))
            if change.kind == "resolve" and change.ts <= stored_at:
                # Cleared only on readings older than the store's latest word on the
                # alert: this store missed what came after (a replica that was down
                # while another raised or updated it; readings still queued at the
                # broker). It stays firing and live readings decide: resolved here, it
                # came back as a second alert when the replica caught up.
                del latest[fp]
                differ.discard(fp)
                self._restore_one(fp, device, value)
        changes = sorted((latest[fp] for fp in differ if fp in latest), key=lambda c: c.ts)
        return changes + self.fire.observe(changes)

    @property
    def anomaly_rules(self) -> list[AnomalyRule]:
        """The single-metric anomaly rules."""
        return [rule for rule in self.library if isinstance(rule, AnomalyRule)]

    @property
    def learnt_rules(self) -> list[LearntRule]:
        """The rules whose learned state the backend keeps on disk (anomaly_state): the
        anomaly rules and the rig rules. A restart does not replay their decisions
        (`warm` skips them); they learn the history instead (`learn_anomalies`)."""
        learnt: list[LearntRule] = list(self.anomaly_rules)
        return learnt + list(self.rigs)

    def anomaly_levels(self) -> dict[str, list[AnomalyLevel]]:
        """Per device: each anomaly rule's current fire level and whether it learns."""
        levels: dict[str, list[AnomalyLevel]] = {}
        for rule in self.learnt_rules:
            for device, status in rule.status().items():
                levels.setdefault(device, []).append(status)
        return levels

    def _lifecycles(self) -> list[Lifecycle]:
        lives = [threshold.lifecycle for threshold in self.thresholds.values()]
        lives += [rule.life for rule in self.library]
        lives += [rig.life for rig in self.rigs]
        if self.elevator is not None:
            lives += self.elevator.life.values()
        return lives

    def _firing_fingerprints(self) -> set[str]:
        return set().union(*(life.firing_fingerprints() for life in self._lifecycles()))

    def restore(
        self, firing: Iterable[FiringAlert], stored_at: Mapping[str, float] | None = None
    ) -> list[str]:
        """Adopt the alerts firing in the store after a restart, so a condition that still
        holds updates its alert and a clearing reading resolves it. `stored_at`: each
        alert's latest condition time in the store (its `updated_at`); a replay does not
        resolve an alert on readings no newer than that (see `warm`). Returns the
        fingerprints no current rule or device claims (for the caller to resolve)."""
        unclaimed: list[str] = []
        times = stored_at or {}
        for fingerprint, device, value in firing:
            if self._restore_one(fingerprint, device, value):
                self.restored[fingerprint] = (
                    device, value, times.get(fingerprint, float("-inf")))
            else:
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
