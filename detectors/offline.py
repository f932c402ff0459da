"""Device-offline detection over one array slot per device.

A device is offline once it has been silent longer than factor * interval + grace.
The same allowance decides both ways, so a backlog of old buffered messages flushed
after a reconnect cannot flap the alert: it resolves only once the newest message
seen is recent enough that the next tick would not fire again.
"""

from __future__ import annotations

import numpy as np

from config.models import OfflineRuleSpec
from detectors.slots import DeviceIndex, FloatArray, IntArray
from gridwatch.records import AlertChange, ChangeKind

OFFLINE_RULE = "device.offline"


def offline_fingerprint(device: str) -> str:
    return f"{OFFLINE_RULE}:{device}"


class OfflineDetector:
    def __init__(self, index: DeviceIndex, spec: OfflineRuleSpec, start: float) -> None:
        self.ids = index.ids
        self.spec = spec
        self.allowance: FloatArray = spec.factor * index.interval_s + spec.grace_s
        # Never-seen devices count from the engine start, so a restart raises nothing
        # until each device has had its full allowance to report.
        self.last_seen: FloatArray = np.full(len(index), start, dtype=np.float64)
        self.offline = np.zeros(len(index), dtype=np.bool_)

    def observe(self, slots: IntArray, ts: FloatArray, now: float) -> list[AlertChange]:
        """Merge message times into last_seen; resolve devices that are back."""
        ok = np.isfinite(ts)
        # A device clock running ahead must not hide the device's later silence.
        np.maximum.at(self.last_seen, slots[ok], np.minimum(ts[ok], now))
        candidates = np.unique(slots[self.offline[slots]])
        back = candidates[now - self.last_seen[candidates] <= self.allowance[candidates]]
        self.offline[back] = False
        return self.emit("resolve", back, self.last_seen[back], now)

    def tick(self, now: float) -> list[AlertChange]:
        """Fire for every device silent past its allowance that is not already offline."""
        due = np.flatnonzero(~self.offline & (now - self.last_seen > self.allowance))
        self.offline[due] = True
        return self.emit("fire", due, np.full(len(due), now), now)

    def restore(self, slot: int) -> None:
        self.offline[slot] = True

    def emit(
        self, kind: ChangeKind, slots: IntArray, ts: FloatArray, now: float
    ) -> list[AlertChange]:
        silent = now - self.last_seen[slots]
        changes = []
        for i, t, quiet in zip(slots.tolist(), ts.tolist(), silent.tolist(), strict=True):
            device = self.ids[i]
            if kind == "fire":
                summary = f"{device} silent for {quiet:.0f} s (allowed {self.allowance[i]:.0f} s)"
                value: float | None = quiet
            else:
                summary = f"{device} is reporting again"
                value = None
            changes.append(
                AlertChange(
                    kind=kind,
                    fingerprint=offline_fingerprint(device),
                    rule=OFFLINE_RULE,
                    type=OFFLINE_RULE,
                    severity=self.spec.severity,
                    device=device,
                    ts=t,
                    value=value,
                    summary=summary,
                )
            )
        return changes
