"""What one batch's reading times do to the kept health state, for the whole batch at once.

Per device, against what is known of it (its first and last message time): times after
the last extend it upwards, each a step from the one before (the first from the last
known); times before the first extend it downwards, walked from the first known one
down; times strictly inside are late (a replay, or another metric of a known message:
the store tells which); a time equal to the first or last is a repeat and changes
nothing. A device not known before starts at its first time, which counts as a message.

The same as walking each device's times in turn (as the rollup did, one device after
another: about 30 us a device in small numpy calls, 200 ms for a storm of 6,000), in a
handful of array operations over all the batch's pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from store.health_batch import BatchTimes, BoolArray, FloatArray, IntArray, bucket_runs


@dataclass(frozen=True, slots=True)
class Fold:
    silence_code: IntArray  # per new silence (a, b), a < b, in no set order: its device
    silence_a: FloatArray
    silence_b: FloatArray
    count_code: IntArray  # per (device, bucket) with new messages: the device's code
    count_bucket: IntArray
    count_n: IntArray  # how many new messages
    late: IntArray  # positions (into the batch's pairs) of the late times
    first: FloatArray  # per device: its first message time after the batch
    last: FloatArray  # per device: its last


def fold(times: BatchTimes, known_first: FloatArray, known_last: FloatArray,
         known: BoolArray, floor_s: float, bucket_s: float) -> Fold:
    """`known_first`, `known_last` per device code (any value where not `known`)."""
    code, ts = times.code, times.ts
    first_pair = times.first_of_device()
    group_min, group_max = ts[times.starts], ts[times.ends - 1]
    lo = np.where(known, known_first, group_min)[code]
    hi = np.where(known, known_last, group_min)[code]
    up = ts > hi  # a suffix of each device's times
    down = ts < lo  # a prefix
    inside = (ts > lo) & (ts < hi)
    # Upwards each time steps from the one before it, the first from the last known.
    prev = np.r_[np.nan, ts[:-1]]
    from_up = np.where(times.same_device_before() & np.r_[False, up[:-1]], prev, hi)
    # Downwards (walked from the top) each steps from the one after it.
    after = np.r_[ts[1:], np.nan]
    from_down = np.where(times.same_device_after() & np.r_[down[1:], False], after, lo)
    up_cut = np.flatnonzero(up & (ts - from_up > floor_s))
    down_cut = np.flatnonzero(down & (from_down - ts > floor_s))
    new_message = up | down | (first_pair & ~known[code])
    counted = np.flatnonzero(new_message)
    count_code, count_bucket, count_n = bucket_runs(code[counted], ts[counted], bucket_s)
    return Fold(
        np.r_[code[up_cut], code[down_cut]], np.r_[from_up[up_cut], ts[down_cut]],
        np.r_[ts[up_cut], from_down[down_cut]], count_code, count_bucket, count_n,
        np.flatnonzero(inside),
        np.where(known, np.minimum(known_first, group_min), group_min),
        np.where(known, np.maximum(known_last, group_max), group_max),
    )
