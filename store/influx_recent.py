"""Which records count as new: a bounded memory of recently written keys.

InfluxDB cannot say whether a point existed before a write (it overwrites), so the
store remembers the last `capacity` keys it wrote and treats a record whose key is
among them as a replay: not returned, and not sent again. MQTT redeliveries and
edge replays arrive soon after the original, which is what this covers. After a
restart, or for a replay older than the memory, the record is written again (a
harmless overwrite) and returned as new; the detectors then see it again and their
own rules apply (alerts are keyed by fingerprint, so a repeat updates the firing
alert rather than opening a second one).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


class RecentKeys:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._keys: dict[Hashable, None] = {}  # insertion-ordered: oldest first

    def new(self, records: Sequence[T], key: Callable[[T], Hashable]) -> list[T]:
        """Records not seen recently; within the batch a repeated key counts once (its
        last record, as the embedded store keeps it). Does not remember them: call
        `remember` once they are durably written."""
        unique = {key(r): r for r in records}
        return [r for k, r in unique.items() if k not in self._keys]

    def remember(self, records: Sequence[T], key: Callable[[T], Hashable]) -> None:
        for r in records:
            self._keys[key(r)] = None
        excess = len(self._keys) - self.capacity
        if excess > 0:
            for k in list(islice(self._keys, excess)):
                del self._keys[k]

    def __len__(self) -> int:
        return len(self._keys)
