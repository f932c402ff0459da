"""A batch's late reading times (inside a device's known span), kept as arrays.

A replay after an outage brings tens of thousands of them in one batch. As a list of
(device, time) tuples, with a dict of their row counts beside it, they took about a
sixth of the readings lane's samples in a profile of the ingest bench (whose
500-reading rounds land inside the spans the earlier rounds made); as columns they go
to DuckDB, and come back as positions, without a Python object per time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from store.health_batch import FloatArray, IntArray, bucket_runs


@dataclass(frozen=True, slots=True)
class LateTimes:
    """Late times in (device code, time) order, as the batch's pairs are."""

    names: pa.Array  # the batch's device names, by code (strings)
    code: IntArray
    ts: FloatArray
    rows: IntArray  # the batch's rows at each time

    def table(self) -> pa.Table:
        """For DuckDB: position, device, ts, rows."""
        return pa.table({
            "i": np.arange(len(self.ts), dtype=np.int64),
            "device": self.names.take(self.code),
            "ts": self.ts,
            "rows": self.rows,
        })

    def take(self, positions: IntArray) -> LateTimes:
        """These positions, kept in order."""
        return LateTimes(self.names, self.code[positions], self.ts[positions],
                         self.rows[positions])

    def counts(self, bucket_s: float) -> Iterator[tuple[int, int, int]]:
        """(device code, bucket, how many times) per bucket the times fall in."""
        runs = bucket_runs(self.code, self.ts, bucket_s)
        return zip(*(column.tolist() for column in runs), strict=True)

    def inside(self, k: int, a: float, b: float) -> FloatArray:
        """Device k's times strictly between a and b, ascending."""
        lo, hi = np.searchsorted(self.code, [k, k + 1])
        ts = self.ts[lo:hi]
        cut: FloatArray = ts[np.searchsorted(ts, a, "right"):np.searchsorted(ts, b, "left")]
        return cut
