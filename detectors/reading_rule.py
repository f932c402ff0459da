"""The shape every reading rule of the library shares.

A rule is a *signal* (per-slot state updated by each reading: a ring window, the last
change, a reversal count) and a *lifecycle* (pending, firing, clearing), the one every
rule shares. After a restart the engine replays stored history through both and
reconciles the outcome with the alert store (`DetectorEngine.warm`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

from config.models_rules import ReadingRuleSpec
from detectors.lifecycle import AlertTemplate, Lifecycle
from detectors.slots import BoolArray, DeviceIndex, FloatArray, IntArray, ReadingBatch, Subset
from detectors.slots import rounds as device_time_rounds
from gridwatch.records import AlertChange

Decision = tuple[BoolArray, BoolArray, FloatArray]  # starts, clears, value to report


def per_device(
    devices: Subset,
    rule_id: str,
    defaults: Mapping[str, float],
    overrides: Mapping[str, Mapping[str, float]],
    allowed: Sequence[str],
) -> dict[str, FloatArray]:
    """One float array per parameter: the rule's value, or the device's override."""
    arrays = {name: devices.floats(value) for name, value in defaults.items()}
    for device, values in overrides.items():
        slot = devices.local.get(device)
        if slot is None:
            raise ValueError(
                f"rule {rule_id}: override for {device}, which the rule does not cover"
            )
        for key, value in values.items():
            if key not in allowed or key not in arrays:
                raise ValueError(f"rule {rule_id}: cannot override {key!r}")
            arrays[key][slot] = value
    return arrays


class ReadingRule(ABC):
    """One rule over every device of its type; subclasses provide `observe`."""

    spec: ReadingRuleSpec

    def __init__(self, spec: ReadingRuleSpec, index: DeviceIndex, params: Sequence[str]) -> None:
        self.spec = spec
        self.metric_id = index.metric_id[spec.metric]
        self.devices = Subset(index, index.members(spec.device_type))
        names = ("min_duration_s", "hold_s", *params)
        self.p = per_device(
            self.devices,
            spec.id,
            {n: float(getattr(spec, n)) for n in names},
            spec.overrides,
            spec.OVERRIDABLE,
        )
        template = AlertTemplate(spec.id, spec.alert_type, spec.severity, spec.summary, spec.metric)
        self.life = Lifecycle(self.devices, template, self.p["min_duration_s"], self.p["hold_s"])

    @property
    def history_s(self) -> float:
        """How much stored history `warm` needs to see for the signal to be whole."""
        return 0.0

    @abstractmethod
    def observe(self, s: IntArray, t: FloatArray, v: FloatArray) -> tuple[BoolArray, Decision]:
        """Take one reading per slot; return which were accepted, and the decision on those."""

    def _mine(self, batch: ReadingBatch) -> tuple[IntArray, FloatArray, FloatArray]:
        local = self.devices.local_of[batch.slot]
        mine = (batch.metric == self.metric_id) & (local >= 0)
        return local[mine], batch.ts[mine], batch.value[mine]

    def _worth_a_round(
        self, s: IntArray, t: FloatArray, v: FloatArray
    ) -> tuple[IntArray, FloatArray, FloatArray]:
        """The rows `observe` may take (all of them, here): a rule that refuses rows by
        its own state can drop them before the rounds, which each cost a call."""
        return s, t, v

    def process(self, batch: ReadingBatch) -> list[AlertChange]:
        s, t, v = self._worth_a_round(*self._mine(batch))
        changes: list[AlertChange] = []
        for part in device_time_rounds(s, t):
            ok, (starts, clears, value) = self.observe(s[part], t[part], v[part])
            if ok.any():
                changes += self.life.step(s[part][ok], t[part][ok], starts, clears, value)
        return changes

    def warm(self, batch: ReadingBatch) -> None:
        """Fill the signal from stored history without deciding anything: decisions on a
        half-filled window would be wrong (no reversals yet reads as "clear")."""
        s, t, v = self._mine(batch)
        for part in device_time_rounds(s, t):
            self.observe(s[part], t[part], v[part])

    def tick(self, now: float) -> list[AlertChange]:
        return self.life.tick(now)

    def restore(self, device: str, value: float | None) -> bool:
        return self.life.restore(device, value)
