"""Threshold rules with hysteresis and a minimum duration, over arrays of devices.

A "below" rule is an "above" rule on negated values: thresholds are stored multiplied
by the rule's sign, so one vectorised code path serves both directions. The rule only
decides, per reading, whether the fire level is reached and whether the clear level is
passed; pending, firing, resolving and update throttling are the shared `Lifecycle`
(with no hold: a threshold alert resolves as soon as its value clears).
"""

from __future__ import annotations

import numpy as np

from config.models import ThresholdRuleSpec
from detectors.lifecycle import UPDATE_INTERVAL_S, AlertTemplate, Lifecycle, rule_fingerprint
from detectors.slots import (
    BoolArray,
    DeviceIndex,
    FloatArray,
    IntArray,
    ReadingBatch,
    Subset,
    rounds,
)
from gridwatch.records import AlertChange

OVERRIDABLE = ("fire_at", "clear_at", "min_duration_s")
threshold_fingerprint = rule_fingerprint  # "{rule}:{device}", like every reading rule


class ThresholdRule:
    """State of one ThresholdRuleSpec over every device of its device type."""

    def __init__(
        self,
        spec: ThresholdRuleSpec,
        index: DeviceIndex,
        update_interval_s: float = UPDATE_INTERVAL_S,
    ) -> None:
        self.spec = spec
        self.metric_id = index.metric_id[spec.metric]
        self.devices = Subset(index, index.members(spec.device_type))
        self.sign = 1.0 if spec.direction == "above" else -1.0

        fire_at = self.devices.floats(spec.fire_at)
        clear_at = self.devices.floats(spec.clear_at)
        self.min_duration = self.devices.floats(spec.min_duration_s)
        self._apply_overrides(fire_at, clear_at)
        self.fire_k = self.sign * fire_at
        self.clear_k = self.sign * clear_at
        if (self.clear_k > self.fire_k).any():
            # The clear band must sit on the safe side of fire_at, or a single value
            # would both start and clear the condition.
            raise ValueError(f"rule {spec.id}: clear_at is past fire_at for {spec.direction}")
        self.last_ts = self.devices.floats(-np.inf)
        template = AlertTemplate(spec.id, spec.alert_type, spec.severity, spec.summary, spec.metric)
        self.lifecycle = Lifecycle(
            self.devices, template, self.min_duration, self.devices.floats(0.0), update_interval_s
        )

    @property
    def firing(self) -> BoolArray:
        return self.lifecycle.firing

    def _apply_overrides(self, fire_at: FloatArray, clear_at: FloatArray) -> None:
        targets = {"fire_at": fire_at, "clear_at": clear_at, "min_duration_s": self.min_duration}
        for device, values in self.spec.overrides.items():
            slot = self.devices.local.get(device)
            if slot is None:
                raise ValueError(
                    f"rule {self.spec.id}: override for {device}, "
                    f"which is not a {self.spec.device_type}"
                )
            for key, value in values.items():
                if key not in targets:
                    raise ValueError(f"rule {self.spec.id}: cannot override {key!r}")
                targets[key][slot] = value
        if (self.min_duration < 0).any():
            raise ValueError(f"rule {self.spec.id}: min_duration_s must be >= 0")

    def process(self, batch: ReadingBatch) -> list[AlertChange]:
        """Apply every reading of this rule's metric, each device's in device-time order."""
        local = self.devices.local_of[batch.slot]
        mine = (batch.metric == self.metric_id) & (local >= 0)
        slot, ts, value = local[mine], batch.ts[mine], batch.value[mine]
        slot, ts, value = self._skip_quiet(slot, ts, value)
        changes: list[AlertChange] = []
        for part in rounds(slot, ts):
            changes += self._step(slot[part], ts[part], value[part])
        return changes

    def _skip_quiet(
        self, slot: IntArray, ts: FloatArray, value: FloatArray
    ) -> tuple[IntArray, FloatArray, FloatArray]:
        """The rows of devices that may change state. A device neither pending nor
        firing, none of whose readings here reaches fire_at, decides nothing whatever
        their order: only its newest time moves, set here at once. Steady telemetry is
        almost all such rows, and stepping them round by round (one reading per device
        each) cost a lifecycle step per round for nothing."""
        finite = np.isfinite(value)
        hot = self.lifecycle.firing | ~np.isnan(self.lifecycle.pending_since)
        hot[slot[finite & (self.sign * value >= self.fire_k[slot])]] = True
        quiet = ~hot[slot]
        calm = quiet & finite
        np.maximum.at(self.last_ts, slot[calm], ts[calm])
        return slot[~quiet], ts[~quiet], value[~quiet]

    def _step(self, s: IntArray, t: FloatArray, v: FloatArray) -> list[AlertChange]:
        """One reading per slot at most: the decision as array operations."""
        fresh = (t > self.last_ts[s]) & np.isfinite(v)
        s, t, v = s[fresh], t[fresh], v[fresh]
        self.last_ts[s] = t
        x = self.sign * v
        return self.lifecycle.step(s, t, x >= self.fire_k[s], x < self.clear_k[s], v)

    def tick(self, now: float) -> list[AlertChange]:
        """Fire pending conditions whose duration has elapsed without a new reading."""
        return self.lifecycle.tick(now)

    def restore(self, device: str, value: float | None) -> bool:
        """Mark a device's alert as firing in the store; False if the rule does not cover it."""
        return self.lifecycle.restore(device, value)
