"""Threshold rules with hysteresis and a minimum duration, over arrays of devices.

A "below" rule is an "above" rule on negated values: thresholds are stored multiplied
by the rule's sign, so one vectorised code path serves both directions.
"""

from __future__ import annotations

import numpy as np

from config.models import ThresholdRuleSpec
from detectors.slots import (
    DeviceIndex,
    FloatArray,
    IntArray,
    ReadingBatch,
    Subset,
    render_summary,
    rounds,
)
from gridwatch.records import AlertChange, ChangeKind

UPDATE_INTERVAL_S = 10.0
OVERRIDABLE = ("fire_at", "clear_at", "min_duration_s")
_KINDS: tuple[ChangeKind, ...] = ("fire", "update", "resolve")


def threshold_fingerprint(rule_id: str, device: str) -> str:
    return f"{rule_id}:{device}"


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
        self.update_interval_s = update_interval_s
        self.sign = 1.0 if spec.direction == "above" else -1.0
        self.fingerprints = [threshold_fingerprint(spec.id, d) for d in self.devices.ids]

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

        self.pending_since = self.devices.floats(np.nan)
        self.firing = self.devices.flags()
        self.last_ts = self.devices.floats(-np.inf)
        self.last_value = self.devices.floats(np.nan)
        # What the alert store last heard, for throttling updates.
        self.emitted_ts = self.devices.floats(-np.inf)
        self.emitted_value = self.devices.floats(np.nan)

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
        changes: list[AlertChange] = []
        for part in rounds(slot, ts):
            changes += self._step(slot[part], ts[part], value[part])
        return changes

    def _step(self, s: IntArray, t: FloatArray, v: FloatArray) -> list[AlertChange]:
        """One reading per slot at most: the whole state machine as array operations."""
        fresh = (t > self.last_ts[s]) & np.isfinite(v)
        s, t, v = s[fresh], t[fresh], v[fresh]
        self.last_ts[s] = t
        self.last_value[s] = v

        x = self.sign * v
        starts = x >= self.fire_k[s]
        clears = x < self.clear_k[s]
        firing = self.firing[s]
        pending = self.pending_since[s]
        # Between clear_at and fire_at the previous state, pending or firing, holds.
        active = starts | (~clears & (firing | ~np.isnan(pending)))
        since = np.where(np.isnan(pending), t, pending)

        fire = active & ~firing & (t - since >= self.min_duration[s])
        resolve = firing & ~active
        update = (
            firing
            & active
            & (v != self.emitted_value[s])
            & (t - self.emitted_ts[s] >= self.update_interval_s)
        )
        self.firing[s] = (firing & active) | fire
        self.pending_since[s] = np.where(active & ~firing & ~fire, since, np.nan)

        kind = np.where(fire, 0, np.where(update, 1, 2))
        emit = np.flatnonzero(fire | update | resolve)
        return self._emit(s[emit], t[emit], v[emit], kind[emit])

    def tick(self, now: float) -> list[AlertChange]:
        """Fire pending conditions whose duration has elapsed without a new reading."""
        # NaN (not pending) compares False, so only pending slots can be due.
        due = np.flatnonzero(~self.firing & (now - self.pending_since >= self.min_duration))
        at = self.pending_since[due] + self.min_duration[due]
        self.firing[due] = True
        self.pending_since[due] = np.nan
        return self._emit(due, at, self.last_value[due], np.zeros(len(due), dtype=np.intp))

    def restore(self, device: str, value: float | None) -> bool:
        """Mark a device's alert as firing in the store; False if the rule does not cover it."""
        slot = self.devices.local.get(device)
        if slot is None:
            return False
        self.firing[slot] = True
        self.pending_since[slot] = np.nan
        self.emitted_value[slot] = np.nan if value is None else value
        # The store's copy may be stale: the next reading still in condition updates it.
        self.emitted_ts[slot] = -np.inf
        return True

    def _emit(
        self, slots: IntArray, ts: FloatArray, values: FloatArray, kinds: IntArray
    ) -> list[AlertChange]:
        if len(slots) == 0:
            return []
        self.emitted_ts[slots] = ts
        self.emitted_value[slots] = values
        spec = self.spec
        return [
            AlertChange(
                kind=_KINDS[k],
                fingerprint=self.fingerprints[i],
                rule=spec.id,
                type=spec.alert_type,
                severity=spec.severity,
                device=self.devices.ids[i],
                ts=t,
                value=v,
                summary=render_summary(spec.summary, self.devices.ids[i], v, spec.metric),
            )
            for i, t, v, k in zip(
                slots.tolist(), ts.tolist(), values.tolist(), kinds.tolist(), strict=True
            )
        ]
