"""A stored batch of readings, grouped for the health rollup with numpy.

The rollup needs, per device, the batch's distinct reading times in order, how many
rows each time has, and the newest battery reading. Grouping row by row in Python
dicts was a fifth of the readings lane in the ingest bench; here it is one sort of
the batch's columns, and the rollup loops over devices, not rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

BATTERY = "battery_pct"
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class DeviceTimes:
    device: str
    stamps: FloatArray  # the batch's distinct reading times of the device, ascending
    rows: IntArray  # rows stored at each of those times
    battery: tuple[float, float] | None  # (ts, value) of its newest battery reading


def device_times(batch: pa.Table) -> Iterator[DeviceTimes]:
    """Per device in `batch` (columns device, metric, ts, value)."""
    if batch.num_rows == 0:
        return
    encoded = pc.dictionary_encode(batch.column("device")).combine_chunks()
    names = encoded.dictionary.to_pylist()
    code = encoded.indices.to_numpy().astype(np.int64)
    ts = batch.column("ts").to_numpy()
    order = np.lexsort((ts, code))
    c, t = code[order], ts[order]
    distinct = np.ones(len(c), dtype=bool)
    distinct[1:] = (c[1:] != c[:-1]) | (t[1:] != t[:-1])
    starts = np.flatnonzero(distinct)
    pair_code, pair_ts = c[starts], t[starts]
    pair_rows = np.diff(np.append(starts, len(c)))
    firsts = np.flatnonzero(np.r_[True, pair_code[1:] != pair_code[:-1]])
    ends = np.r_[firsts[1:], len(pair_code)]
    battery = _newest_battery(batch, code, ts)
    for lo, hi in zip(firsts.tolist(), ends.tolist(), strict=True):
        k = int(pair_code[lo])
        yield DeviceTimes(names[k], pair_ts[lo:hi], pair_rows[lo:hi], battery.get(k))


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
    return {
        int(k): (float(t), float(v))
        for k, t, v in zip(code[rows][pick], ts[rows][pick], value[pick], strict=True)
    }
