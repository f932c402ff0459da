"""The device index: one integer slot per registry device, so detector state lives in
numpy arrays and a batch of readings becomes a few integer columns.

Dict lookups are built once; turning a batch into columns is a handful of C-level
`map`/`np.fromiter` passes, never a Python loop per device.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter

import numpy as np
import numpy.typing as npt

from config.models import DEVICE_TYPES, RulesSpec
from config.models_rules import ELEVATOR_METRICS, READING_RULE_LISTS
from config.registry import Registry
from gridwatch.reading_table import ReadingTable
from gridwatch.records import Reading

IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_device_of = attrgetter("device")
_metric_of = attrgetter("metric")
_ts_of = attrgetter("ts")
_value_of = attrgetter("value")


def watched_metrics(rules: RulesSpec) -> list[str]:
    """Every metric some rule reads; other metrics only count as signs of life."""
    listed = [r.metric for r in rules.thresholds]
    for name in READING_RULE_LISTS:
        listed += [r.metric for r in getattr(rules, name)]
    for rig in rules.rig_anomalies:
        listed += rig.metrics
    if rules.elevator is not None:
        listed += ELEVATOR_METRICS
    return listed


class DeviceIndex:
    """Slots for every device of the registry, and ids for every metric a rule watches."""

    def __init__(self, registry: Registry) -> None:
        specs = list(registry.devices.values())
        self._fill(
            [d.id for d in specs],
            [d.type for d in specs],
            [d.interval_s for d in specs],
            watched_metrics(registry.rules),
        )

    @classmethod
    def bare(
        cls,
        ids: Sequence[str],
        types: Sequence[str],
        interval_s: Sequence[float],
        metrics: Sequence[str],
    ) -> DeviceIndex:
        """An index of devices known only by id, type and interval: for offline replays
        of a rule (evaluation.alert_replay), which have no registry."""
        index = cls.__new__(cls)
        index._fill(ids, types, interval_s, metrics)
        return index

    def _fill(
        self,
        ids: Sequence[str],
        types: Sequence[str],
        interval_s: Sequence[float],
        metrics: Sequence[str],
    ) -> None:
        self.ids: list[str] = list(ids)
        self.slot: dict[str, int] = {d: i for i, d in enumerate(self.ids)}
        type_code = {t: i for i, t in enumerate(DEVICE_TYPES)}
        self.type_code: dict[str, int] = type_code
        self.types: IntArray = np.fromiter(
            (type_code[t] for t in types), dtype=np.intp, count=len(ids)
        )
        self.interval_s: FloatArray = np.asarray(interval_s, dtype=np.float64)
        self.metric_id: dict[str, int] = {m: i for i, m in enumerate(dict.fromkeys(metrics))}

    def __len__(self) -> int:
        return len(self.ids)

    def slots_of(self, devices: Sequence[str]) -> IntArray:
        """Slot per device id; -1 for ids the registry does not know."""
        return np.fromiter(
            map(self.slot.get, devices, repeat(-1)), dtype=np.intp, count=len(devices)
        )

    def members(self, device_type: str) -> IntArray:
        """Global slots of every device of one type, in slot order."""
        return np.flatnonzero(self.types == self.type_code[device_type])


@dataclass(frozen=True, slots=True)
class ReadingBatch:
    """A batch of readings of known devices as columns; `metric` is -1 for unwatched metrics."""

    slot: IntArray
    metric: IntArray
    ts: FloatArray
    value: FloatArray

    def where(self, mask: BoolArray) -> ReadingBatch:
        return ReadingBatch(self.slot[mask], self.metric[mask], self.ts[mask], self.value[mask])

    @classmethod
    def of(cls, index: DeviceIndex, readings: Sequence[Reading]) -> ReadingBatch:
        if isinstance(readings, ReadingTable):
            return cls.from_table(index, readings)
        return cls.from_readings(index, readings)

    @classmethod
    def from_table(cls, index: DeviceIndex, table: ReadingTable) -> ReadingBatch:
        # One dictionary lookup per distinct device and metric, not per reading.
        devices, device_code = table.strings("device")
        metrics, metric_code = table.strings("metric")
        slot = index.slots_of(devices)[device_code]
        metric = np.fromiter(map(index.metric_id.get, metrics, repeat(-1)), dtype=np.intp,
                             count=len(metrics))[metric_code]
        known = slot >= 0  # ingest dead-letters unknown devices already
        return cls(slot[known], metric[known], table.ts[known], table.value[known])

    @classmethod
    def from_readings(cls, index: DeviceIndex, readings: Sequence[Reading]) -> ReadingBatch:
        n = len(readings)
        slot = index.slots_of(list(map(_device_of, readings)))
        metric = np.fromiter(
            map(index.metric_id.get, map(_metric_of, readings), repeat(-1)),
            dtype=np.intp,
            count=n,
        )
        ts = np.fromiter(map(_ts_of, readings), dtype=np.float64, count=n)
        value = np.fromiter(map(_value_of, readings), dtype=np.float64, count=n)
        # Ingest dead-letters unknown devices already; here they are just dropped.
        known = slot >= 0
        return cls(slot[known], metric[known], ts[known], value[known])


class Subset:
    """The devices a rule applies to: a map from global slot to local slot, and the
    local slots' device ids. Rule state arrays are sized to the subset, not the street."""

    def __init__(self, index: DeviceIndex, members: IntArray) -> None:
        self.members = members
        self.local_of: IntArray = np.full(len(index), -1, dtype=np.intp)
        self.local_of[members] = np.arange(len(members), dtype=np.intp)
        self.ids: list[str] = [index.ids[i] for i in members.tolist()]
        self.local: dict[str, int] = {d: i for i, d in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def floats(self, fill: float) -> FloatArray:
        """A preallocated float state array, one element per local slot."""
        return np.full(len(self.ids), fill, dtype=np.float64)

    def flags(self) -> BoolArray:
        """A preallocated boolean state array, all False."""
        return np.zeros(len(self.ids), dtype=np.bool_)


def rounds(slot: IntArray, ts: FloatArray) -> Iterator[IntArray]:
    """Positions into (slot, ts), split into rounds with at most one position per slot,
    so each round can be applied with plain fancy indexing. Round k holds every slot's
    k-th reading in device-time order; a batch with one reading per device is one round.
    """
    n = len(slot)
    if n == 0:
        return
    if np.bincount(slot).max() == 1:
        # The common batch, one reading per device: one round, no sort needed.
        yield np.arange(n, dtype=np.intp)
        return
    order = np.lexsort((ts, slot))
    s = slot[order]
    starts = np.ones(n, dtype=bool)
    starts[1:] = s[1:] != s[:-1]
    if starts.all():
        yield order
        return
    positions = np.arange(n, dtype=np.intp)
    group_start = np.maximum.accumulate(np.where(starts, positions, 0))
    rank = positions - group_start
    # A stable sort by rank keeps slots in order within a round and costs O(n log n)
    # however many rounds there are, instead of one full mask per round.
    by_rank = np.argsort(rank, kind="stable")
    cuts = np.cumsum(np.bincount(rank))[:-1]
    yield from np.split(order[by_rank], cuts)


def render_summary(
    template: str, device: str, value: float | None, metric: str, zone: str | None = None
) -> str:
    """A rule's summary with {device}, {value}, {metric} and {zone} filled in; a template
    the values do not fit falls back to plain text instead of failing the hot path."""
    try:
        return template.format(device=device, value=value, metric=metric, zone=zone or "-")
    except (KeyError, IndexError, ValueError, TypeError):
        return f"{template} [device={device} metric={metric} value={value}]"
