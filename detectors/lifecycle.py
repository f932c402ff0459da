"""The alert lifecycle every rule shares, as array operations over a rule's devices.

A rule decides per reading two things: whether its condition has reached the fire level
(`starts`) and whether it is past the clear level (`clears`); between the two the
previous state holds (hysteresis). The lifecycle turns that into alert changes:

- fire once the condition has held `min_duration` (pending meanwhile);
- resolve only once it has stayed clear for `hold` seconds; a condition that comes back
  within the hold keeps the one alert firing, which is the flap suppression: a sensor
  toggling faster than its hold yields one alert, not a storm;
- updates of a firing alert are throttled per fingerprint and carry the latest value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors.slots import BoolArray, FloatArray, IntArray, Subset, render_summary
from gridwatch.records import AlertChange, ChangeKind

UPDATE_INTERVAL_S = 10.0
_KINDS: tuple[ChangeKind, ...] = ("fire", "update", "resolve")
_FIRE, _UPDATE, _RESOLVE = 0, 1, 2


def rule_fingerprint(rule_id: str, device: str) -> str:
    return f"{rule_id}:{device}"


@dataclass(frozen=True, slots=True)
class AlertTemplate:
    """What an alert of one rule says, apart from device, time and value."""

    rule: str
    type: str
    severity: str
    summary: str
    metric: str


class Lifecycle:
    def __init__(
        self,
        devices: Subset,
        template: AlertTemplate,
        min_duration: FloatArray,
        hold: FloatArray,
        update_interval_s: float = UPDATE_INTERVAL_S,
    ) -> None:
        if (min_duration < 0).any() or (hold < 0).any():
            raise ValueError(f"rule {template.rule}: min_duration_s and hold_s must be >= 0")
        self.devices = devices
        self.template = template
        self.min_duration = min_duration
        self.hold = hold
        self.update_interval_s = update_interval_s
        self.fingerprints = [rule_fingerprint(template.rule, d) for d in devices.ids]
        self.pending_since = devices.floats(np.nan)
        self.clear_since = devices.floats(np.nan)
        self.firing = devices.flags()
        self.last_value = devices.floats(np.nan)
        self.emitted_ts = devices.floats(-np.inf)
        self.emitted_value = devices.floats(np.nan)

    def step(
        self, s: IntArray, t: FloatArray, starts: BoolArray, clears: BoolArray, v: FloatArray
    ) -> list[AlertChange]:
        """One decision per slot at most (unique `s`), at device times `t`."""
        firing = self.firing[s]
        pending = ~np.isnan(self.pending_since[s])
        # Most slots are quiet (not starting, pending or firing): decide only the rest.
        # A quiet slot's last value is never read (tick reports pending and firing ones).
        busy = np.flatnonzero(starts | firing | pending)
        if len(busy) < len(s):
            s, t, starts, clears, v = s[busy], t[busy], starts[busy], clears[busy], v[busy]
            firing, pending = firing[busy], pending[busy]
        # NaN means "no figure this time" (an undecided window): keep the last one.
        known = ~np.isnan(v)
        self.last_value[s] = np.where(known, v, self.last_value[s])
        active = starts | (~clears & (firing | pending))
        since = np.where(pending, self.pending_since[s], t)
        fire = active & ~firing & (t - since >= self.min_duration[s])

        # Clear time counts from the first clear decision; any active one forgets it.
        calm_since = np.where(np.isnan(self.clear_since[s]), t, self.clear_since[s])
        resolve = firing & ~active & (t - calm_since >= self.hold[s])
        update = (
            firing
            & active
            & known
            & (v != self.emitted_value[s])
            & (t - self.emitted_ts[s] >= self.update_interval_s)
        )
        now_firing = (firing & ~resolve) | fire
        self.firing[s] = now_firing
        self.pending_since[s] = np.where(active & ~now_firing, since, np.nan)
        self.clear_since[s] = np.where(now_firing & ~active, calm_since, np.nan)

        kind = np.where(fire, _FIRE, np.where(update, _UPDATE, _RESOLVE))
        emit = np.flatnonzero(fire | update | resolve)
        # A fire is dated when its condition became due, as `tick` dates it, not by the
        # reading that found it due: so every replica, whichever path fires it, gives an
        # episode the same start (the op store matches a late replica's fire on it).
        at = np.where(fire, since + self.min_duration[s], t)
        return self.emit(s[emit], at[emit], v[emit], kind[emit])

    def force(self, s: IntArray, t: FloatArray, v: FloatArray) -> list[AlertChange]:
        """Fire now, with the confirm time counted as served: the device's own controller
        has already confirmed the condition (an elevator's trapped event). A firing
        alert is updated instead; one condition stays one alert whichever source saw it."""
        # fmin skips NaN: a condition not yet pending starts exactly one confirm time ago.
        self.pending_since[s] = np.fmin(self.pending_since[s], t - self.min_duration[s])
        active = np.ones(len(s), dtype=np.bool_)
        return self.step(s, t, active, ~active, v)

    @property
    def memory_s(self) -> float:
        """How far back a condition's start can still matter: the longest confirm time
        plus the longest hold. A restart replays at least this much history."""
        longest = self.min_duration.max(initial=0.0) + self.hold.max(initial=0.0)
        return float(longest)

    def firing_fingerprints(self) -> set[str]:
        return {self.fingerprints[i] for i in np.flatnonzero(self.firing).tolist()}

    def tick(self, now: float) -> list[AlertChange]:
        """Pending conditions whose duration and clear spells whose hold have elapsed."""
        # NaN compares False, so only pending (or clearing) slots can be due.
        due = np.flatnonzero(~self.firing & (now - self.pending_since >= self.min_duration))
        at = self.pending_since[due] + self.min_duration[due]
        self.firing[due] = True
        self.pending_since[due] = np.nan
        changes = self.emit(due, at, self.last_value[due], np.full(len(due), _FIRE))
        calm = np.flatnonzero(self.firing & (now - self.clear_since >= self.hold))
        at = self.clear_since[calm] + self.hold[calm]
        self.firing[calm] = False
        self.clear_since[calm] = np.nan
        return changes + self.emit(calm, at, self.last_value[calm], np.full(len(calm), _RESOLVE))

    def restore(self, device: str, value: float | None) -> bool:
        """Adopt an alert firing in the store; False if this rule does not cover the device."""
        slot = self.devices.local.get(device)
        if slot is None:
            return False
        self.firing[slot] = True
        self.pending_since[slot] = np.nan
        self.clear_since[slot] = np.nan
        self.emitted_value[slot] = np.nan if value is None else value
        # The store's copy may be stale: the next reading still in condition updates it.
        self.emitted_ts[slot] = -np.inf
        return True

    def emit(
        self, slots: IntArray, ts: FloatArray, values: FloatArray, kinds: IntArray
    ) -> list[AlertChange]:
        if len(slots) == 0:
            return []
        self.emitted_ts[slots] = ts
        self.emitted_value[slots] = values
        tpl = self.template
        ids = self.devices.ids
        return [
            AlertChange(
                kind=_KINDS[k],
                fingerprint=self.fingerprints[i],
                rule=tpl.rule,
                type=tpl.type,
                severity=tpl.severity,
                device=ids[i],
                ts=t,
                value=None if v != v else v,  # NaN (no value yet) is no value
                summary=render_summary(tpl.summary, ids[i], v, tpl.metric),
            )
            for i, t, v, k in zip(
                slots.tolist(), ts.tolist(), values.tolist(), kinds.tolist(), strict=True
            )
        ]
