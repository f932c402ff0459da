"""Per-row features of the anomaly detector, computed for a batch of series at once.

Every function takes the chronological past of each series in the batch as one row of
a 2-D array (oldest first, NaN where the series has no value yet) and the new value of
each series, and returns one feature per row in units of that series' robust scale.
They only read the past handed to them, so the detector stays causal.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

MAD_TO_SIGMA = 1.4826  # a normal distribution's sigma per median absolute deviation
MEAN_AD_TO_SIGMA = 1.2533  # ... and per mean absolute deviation
A5 = 1.061405429  # the last coefficient of the erfc approximation below


def row_median(a: FloatArray, valid: IntArray) -> FloatArray:
    """Median of the `valid` finite values of each row (NaN elsewhere), rows of any fill.

    np.nanmedian falls back to a Python loop per row on wide arrays, so NaN is sorted
    to the end as +inf and the middle of each row's valid prefix is picked directly.
    """
    s = np.sort(np.where(np.isnan(a), np.inf, a), axis=1)
    k = np.maximum(valid, 1)
    rows = np.arange(len(a))
    med: FloatArray = 0.5 * (s[rows, (k - 1) // 2] + s[rows, k // 2])
    return med


def robust_scale(dev: FloatArray, valid: IntArray, floor: FloatArray) -> FloatArray:
    """Spread of absolute deviations as a sigma: MAD, or the mean deviation when the
    MAD is zero (on/off and stepwise signals), never below `floor`."""
    mad = MAD_TO_SIGMA * row_median(dev, valid)
    mean_ad = MEAN_AD_TO_SIGMA * np.nansum(dev, axis=1) / np.maximum(valid, 1)
    scale: FloatArray = np.maximum(np.maximum(mad, mean_ad), floor)
    return scale


def centre_and_scale(hist: FloatArray, valid: IntArray) -> tuple[FloatArray, FloatArray]:
    """Robust centre (median) and scale of each row of the past."""
    med = row_median(hist, valid)
    # The floor keeps a flat line's scale positive, so any change from it scores high.
    floor = 1e-9 * (np.abs(med) + 1.0)
    return med, robust_scale(np.abs(hist - med[:, None]), valid, floor)


def level_z(hist_n: FloatArray, x_n: FloatArray, short: int) -> tuple[FloatArray, FloatArray]:
    """|robust z| of the new value, and of the mean of the last `short` values (with the
    new one): the first sees spikes, the second level shifts and drift through noise."""
    recent = np.concatenate([hist_n[:, hist_n.shape[1] - (short - 1) :], x_n[:, None]], axis=1)
    return np.abs(x_n), np.abs(np.nanmean(recent, axis=1))


def step_z(hist: FloatArray, x: FloatArray, valid: IntArray) -> FloatArray:
    """|latest change| over the robust scale of past changes: spikes and sudden vibration."""
    diffs = np.abs(np.diff(hist, axis=1))
    last = hist[:, -1]
    floor = 1e-9 * (np.abs(last) + 1.0)
    scale = robust_scale(diffs, np.maximum(valid - 1, 1), floor)
    return np.nan_to_num(np.abs(x - last) / scale, nan=0.0)


def knn_distance(hist_n: FloatArray, x_n: FloatArray, embed: int, stride: int = 1) -> FloatArray:
    """RMS distance from the latest `embed` values (ending with the new one) to the
    nearest window of the same length in the past, in scale units: a shape never seen
    before (a changed daily pattern, a new vibration) is far from everything.

    Windows overlapping the latest one are left out: they would always be near. With
    `stride` > 1 only the past windows ending a multiple of `stride` rows before the
    latest are compared: a long shape is smooth at that shift, the cost falls by the
    stride, and a period that is a multiple of the stride is still matched exactly.
    A window with a missing value is never the nearest.

    The squared distance is expanded as |p|^2 - 2 p.c + |c|^2: window sums of squares
    come from a running sum and the dot products from one einsum over the strided view,
    with no (rows, windows, embed) temporary. That is 2-4x faster than subtracting
    (it was two thirds of serve's readings lane in the ingest bench). The expansion
    loses precision when the norms dwarf the distance (a repeated spike of 1e9 scale
    units), so the nearest window's distance is then computed directly.
    """
    width = hist_n.shape[1]
    rows = np.arange(len(x_n))
    current = np.concatenate([hist_n[:, width - (embed - 1) :], x_n[:, None]], axis=1)
    older = hist_n[:, : width - embed]
    missing = np.isnan(older)
    clean = np.where(missing, 0.0, older)
    first = (width - embed + 1) % stride  # window k ends width - k - embed + 1 rows back
    past = np.lib.stride_tricks.sliding_window_view(clean, embed, axis=1)[:, first::stride]
    zero = np.zeros((len(x_n), 1))
    squares = np.concatenate([zero, np.cumsum(np.square(clean), axis=1)], axis=1)
    gaps = np.concatenate([zero, np.cumsum(missing, axis=1)], axis=1)
    past_sq = (squares[:, embed:] - squares[:, :-embed])[:, first::stride]
    holed = (gaps[:, embed:] - gaps[:, :-embed])[:, first::stride] > 0
    dot = np.einsum("kwe,ke->kw", past, current)
    d2 = past_sq - 2.0 * dot + np.square(current).sum(axis=1)[:, None]
    d2 = np.where(holed | np.isnan(d2), np.inf, d2)
    if d2.shape[1] == 0:
        return np.full(len(x_n), np.inf)
    nearest = d2.argmin(axis=1)
    exact = np.square(past[rows, nearest] - current).sum(axis=1)
    out: FloatArray = np.where(np.isfinite(d2[rows, nearest]), np.sqrt(exact / embed), np.inf)
    return out


def range_excess(x: FloatArray, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """How far the new value lies beyond the range seen so far, as a fraction of that
    range (0 inside it): a level the series never reached is strong evidence whatever
    the noise. A series that has been constant so far has no range to compare with."""
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        beyond = np.maximum(x - hi, lo - x) / span
    excess: FloatArray = np.where(span > 0, np.nan_to_num(np.maximum(beyond, 0.0), nan=0.0), 0.0)
    return excess


def normal_sf(z: FloatArray) -> FloatArray:
    """P(Z > z) of a standard normal, vectorised (Abramowitz-Stegun 7.1.26, |error|
    below 1.5e-7) because numpy has no erfc and scipy is not worth a dependency here."""
    x = np.abs(z) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    upper = 0.5 * poly * np.exp(-x * x)
    sf: FloatArray = np.where(z >= 0, upper, 1.0 - upper)
    return sf


def batch_arrays(
    slots: IntArray, ts: FloatArray, values: FloatArray
) -> tuple[IntArray, FloatArray, FloatArray]:
    """A scoring batch as typed arrays; each slot at most once (the engine's rounds)."""
    s = np.asarray(slots, dtype=np.intp)
    if len(np.unique(s)) != len(s):
        raise ValueError("a slot appears twice in one batch: split it into rounds")
    return s, np.asarray(ts, dtype=np.float64), np.asarray(values, dtype=np.float64)
