"""A stored batch of readings, grouped for the health rollup with numpy.

The rollup needs, per device, the batch's distinct reading times in order, how many
rows each time has, and the newest battery reading. Grouping row by row in Python
dicts was a fifth of the readings lane in the ingest bench; here it is one sort of
the batch's columns. The result stays in whole-batch arrays (not one small array per
device), so the rollup folds the batch in with a few numpy operations: folded device by
device, a storm of 6,000 devices took about 190 ms, and the stalls of the whole `serve`
process seen during the storm bench (the alarm lane's threads' too) came while it ran.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from gridwatch.reading_table import ReadingTable

BATTERY = "battery_pct"
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class BatchTimes:
    """The batch's distinct (device, time) pairs, sorted by device code, then time.

    Device k is `names[k]`; its pairs are `[starts[k], ends[k])`. Every name has at
    least one pair (the names are the batch's own)."""

    names: list[str]
    code: IntArray  # per pair: its device's code
    ts: FloatArray  # per pair: the time, ascending within a device
    rows: IntArray  # per pair: how many of the batch's rows have it
    starts: IntArray  # per device: its first pair
    ends: IntArray  # per device: one past its last pair
    battery: dict[int, tuple[float, float]]  # per device code: (ts, value) of its newest

    def spans(self) -> pa.Table:
        """Per device: its name, oldest and newest time in the batch."""
        return pa.table({"device": pa.array(self.names, pa.string()),
                         "oldest": self.ts[self.starts], "newest": self.ts[self.ends - 1]})

    def first_of_device(self) -> BoolArray:
        """Per pair: whether it is its device's first (earliest) one."""
        first = np.zeros(len(self.code), dtype=bool)
        first[self.starts] = True
        return first

    def same_device_before(self) -> BoolArray:
        """Per pair: whether the pair before it belongs to the same device."""
        same: BoolArray = np.r_[False, self.code[1:] == self.code[:-1]]
        return same

    def same_device_after(self) -> BoolArray:
        """Per pair: whether the pair after it belongs to the same device."""
        same: BoolArray = np.r_[self.code[1:] == self.code[:-1], False]
        return same


def bucket_runs(
    code: IntArray, ts: FloatArray, bucket_s: float
) -> tuple[IntArray, IntArray, IntArray]:
    """(device code, bucket, how many times) per bucket the times fall in, for times in
    (device, time) order: each (device, bucket) is then one run, so no sort is needed
    (np.unique over the two columns sorted 100k pairs again, slower than the old
    device-by-device loop for a batch of few busy devices)."""
    buckets = np.floor(ts / bucket_s).astype(np.int64)
    starts = np.ones(len(buckets), dtype=bool)
    starts[1:] = (code[1:] != code[:-1]) | (buckets[1:] != buckets[:-1])
    run = np.flatnonzero(starts)
    n: IntArray = np.diff(np.r_[run, len(buckets)]).astype(np.int64)
    return code[run], buckets[run], n


def batch_times(readings: pa.Table | ReadingTable) -> BatchTimes:
    """The pairs of a batch (columns device, metric, ts, value; may be empty). A
    ReadingTable lends its device column's encoding, which the store's write has made
    already."""
    batch = readings.table if isinstance(readings, ReadingTable) else readings
    if batch.num_rows == 0:
        empty = np.zeros(0, dtype=np.int64)
        return BatchTimes([], empty, np.zeros(0), empty, empty, empty, {})
    if isinstance(readings, ReadingTable):
        names, codes = readings.strings("device")
        code = codes.astype(np.int64)  # a copy: the table's encoding is shared
    else:
        encoded = pc.dictionary_encode(batch.column("device")).combine_chunks()
        names = encoded.dictionary.to_pylist()
        code = encoded.indices.to_numpy().astype(np.int64)
    ts = batch.column("ts").to_numpy()
    order = np.lexsort((ts, code))
    c, t = code[order], ts[order]
    distinct = np.ones(len(c), dtype=bool)
    distinct[1:] = (c[1:] != c[:-1]) | (t[1:] != t[:-1])
    firsts = np.flatnonzero(distinct)
    pair_code, pair_ts = c[firsts], t[firsts]
    pair_rows = np.diff(np.append(firsts, len(c)))
    starts = np.flatnonzero(np.r_[True, pair_code[1:] != pair_code[:-1]])
    ends = np.r_[starts[1:], len(pair_code)]
    return BatchTimes(names, pair_code, pair_ts, pair_rows, starts, ends,
                      _newest_battery(batch, code, ts))


def _newest_battery(
    batch: pa.Table, code: IntArray, ts: FloatArray
) -> dict[int, tuple[float, float]]:
    """Per device code, its newest battery reading; of equal times, the first row."""
    rows = np.flatnonzero(pc.equal(batch.column("metric"), BATTERY).to_numpy(zero_copy_only=False))
    if not len(rows):
        return {}
    value = batch.column("value").to_numpy()[rows]
    order = np.lexsort((rows, -ts[rows], code[rows]))
    codes = code[rows][order]
    pick = order[np.r_[True, codes[1:] != codes[:-1]]]  # the first of each device
    newest = zip(ts[rows][pick].tolist(), value[pick].tolist(), strict=True)
    return dict(zip(code[rows][pick].tolist(), newest, strict=True))
