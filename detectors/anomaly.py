"""The default online anomaly detector: causal, scoring in [0, 1], vectorised over series.

API (what the engine's anomaly rule wraps)::

    det = AnomalyDetector(n_slots)          # one slot per (device, metric) series
    det.fire_at_level(slots, levels)        # optional: where each slot's rule fires
    scores = det.score(slots, ts, values)   # a batch: each slot at most once
    state = det.state_dict()                # numpy arrays, for a restart ...
    det.load_state(state)                   # ... or det.prime(slots, ts, values) from history

`score` returns one float64 in [0, 1] per row; 0.5 is the detector's own "this is an
anomaly" level (`AnomalyParams.fire_level`), so a rule "score above 0.5" fires once per
anomaly (a rule that fires elsewhere says so with `fire_at_level`). A row's score
depends only on that row and earlier rows of its slot: the state is updated after the
row is scored. NaN values and rows older than their slot's latest row score 0 and leave
the state untouched. The detector works on samples, not seconds: `ts` only orders rows.

How it scores, per row (all array operations over the batch):
1. Features against the slot's last `window` values, in units of their robust scale
   (median / MAD): |z| of the value (spikes), |z| of the short mean (level shifts,
   drift), |z| of the step from the previous value (sudden vibration), and the distance
   of the latest `embed` values to the nearest past window of that shape (a changed
   periodic pattern, a shape never seen), as in KNN-CAD (optionally on values clipped to
   +-`knn_clip` scales, so that spikes of any height look alike); the long shape (`embed_long`)
   is only compared with every `long_stride`-th past window, which keeps a long
   window affordable. Features whose weight is 0 are not computed.
2. Each feature (weighted; by default only the two shapes count) is compared with its
   own long-term distribution in that slot (as in HTM's anomaly likelihood): a feature
   that is always high in a noisy series is not news, a jump to levels it never had is.
3. The largest of these z-scores maps to (0, 1): z^2 / (z^2 + 4^2), 0.5 at z = 4.
4. A value beyond the slot's all-time [min, max] by more than `spatial_tol` of that
   range scores `spatial_score` (0.95) at least, as in HTM's NAB detector: a level the
   series never reached is news whatever its noise, and it is seen at the first row.
   With `spatial_graded`, further beyond scores higher (see AnomalyParams).
5. A score of `arm_level` or more starts an episode of `suppress` rows in which scores
   are damped unless clearly above the episode's peak and no row of it has reached
   `fire_level` (or the level the rule fires at: `fire_at_level`) yet, so one anomaly
   is one detection (maybe after a faint start), not one per row (operators, like the
   NAB scorer, penalise repeats). The first `warmup` rows of a slot score 0 while it
   learns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.anomaly_features import (
    FloatArray,
    IntArray,
    batch_arrays,
    centre_and_scale,
    knn_distance,
    level_z,
    range_excess,
    step_z,
)

N_FEATURES = 5
VALUE_LIMIT = 1e100  # inputs are clipped here so squares and sums never overflow


@dataclass(frozen=True, slots=True)
class AnomalyParams:
    window: int = 1280  # past values per slot: over four days of 5-minute samples
    embed: int = 8  # length of the recent shape compared with the past
    embed_long: int = 48  # ... and of its context (four hours of 5-minute samples)
    short: int = 8  # rows in the short mean of the value
    min_history: int = 128  # rows before features are computed at all
    warmup: int = 150  # rows before a non-zero score
    short_alpha: float = 1.0  # EW weight of the short-term feature average (1: none)
    long_alpha: float = 1.0 / 1500  # EW weight of the long-term feature distribution
    std_floor: float = 0.05  # smallest feature spread, in scale units
    fire_level: float = 0.5  # what the engine's rule should alert on
    arm_level: float = 0.3  # a score this high starts an episode: later rows are damped
    suppress: int = 80  # rows an episode lasts
    damping: float = 0.4  # factor on damped scores
    # In an episode, a score this many times its peak still shows, until one reached
    # the level the rule fires at (fire_level, or what AnomalyRule sets per slot): an
    # anomaly first seen faintly can still alert, but alerts only once.
    escalate: float = 1.25
    z_half: float = 4.0  # feature z that maps to a score of 0.5
    # The long shape is compared with every this-many-th past window: a quarter of the
    # cost, which pays for the longer window (weekly-ish patterns, fewer false alarms).
    long_stride: int = 4
    spatial_tol: float = 0.15  # a value beyond the seen range by this fraction of it ...
    # ... scores at least this (0: off), as in HTM's NAB detector; not 1, so an even
    # more extreme shape still ranks above it.
    spatial_score: float = 0.95
    # Graded: beyond the range by k x spatial_tol scores 1 - (1 - spatial_score) / k, so
    # in the fire level's units (u = -log(1 - score)) the excess counts by its logarithm.
    # A flat score makes every new range alike, however far: a budget's level, fitted
    # above the scores a young device has seen, often lies between 0.95 and 0.99, and a
    # flat 0.95 can never pass it (nor, once the device has learnt one, any later one).
    spatial_graded: bool = False
    # Weight of each feature's z (value, short mean, step, shape, long shape); 0: off.
    # Shapes alone did best on NAB's periodic series; the step adds vibration and
    # sudden jumps (SKAB) but fires on every sharp daily edge, so it is a variant.
    weights: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 1.0, 1.0)
    # Shapes can be compared on values clipped to +-this many scales (0: not clipped):
    # in spiky series a window holding a spike is otherwise far from every past window
    # unless a spike of the same height sat at the same place. Off by default: 8 (chosen
    # on the 18 shared NAB files) raised NAB standard and low-FN scores on the untuned
    # files too but lowered the low-FP score there, and false alerts are what matter.
    knn_clip: float = 0.0


class AnomalyDetector:
    """Per-slot ring buffers and running feature statistics in preallocated arrays."""

    def __init__(self, n_slots: int, params: AnomalyParams | None = None) -> None:
        p = params or AnomalyParams()
        if p.min_history < 2 * max(p.embed, p.embed_long) + 1 or p.window <= p.min_history:
            raise ValueError("need window > min_history >= 2 * embed_long + 1")
        if p.spatial_graded and p.spatial_tol <= 0:
            raise ValueError("a graded range score needs spatial_tol > 0")
        self.params = p
        self.n_slots = n_slots
        self.buf = np.full((n_slots, p.window), np.nan)
        self.head = np.zeros(n_slots, dtype=np.intp)  # next write position in buf
        self.count = np.zeros(n_slots, dtype=np.intp)  # rows learned
        self.last_ts = np.full(n_slots, -np.inf)
        self.short = np.zeros((n_slots, N_FEATURES))
        self.mean = np.zeros((n_slots, N_FEATURES))
        self.var = np.zeros((n_slots, N_FEATURES))
        self.n_feat = np.zeros(n_slots, dtype=np.intp)  # rows that updated the features
        self.quiet = np.zeros(n_slots, dtype=np.intp)  # rows left in the episode
        self.peak = np.zeros(n_slots)  # highest score shown in the episode
        # The score each slot's rule fires at (AnomalyRule sets it per row: a learnt
        # level, or its fire_score): an episode's rises show until its peak reaches it.
        self.fire_at = np.full(n_slots, p.fire_level)
        self.lo = np.full(n_slots, np.inf)  # smallest value learned
        self.hi = np.full(n_slots, -np.inf)  # largest value learned

    @property
    def history_rows(self) -> int:
        return self.params.window

    def score(self, slots: IntArray, ts: FloatArray, values: FloatArray) -> FloatArray:
        slots, ts, values = batch_arrays(slots, ts, values)
        out = np.zeros(len(slots))
        live = np.isfinite(values) & (ts >= self.last_ts[slots])
        s = slots[live]
        x = np.clip(values[live], -VALUE_LIMIT, VALUE_LIMIT)
        ready = self.count[s] >= self.params.min_history
        if ready.any():
            out[np.flatnonzero(live)[ready]] = self._score_ready(s[ready], x[ready])
        self._learn(s, x)
        self.last_ts[s] = ts[live]
        return out

    def prime(self, slots: IntArray, ts: FloatArray, values: FloatArray) -> None:
        """Rebuild state from stored history (any order, slots repeated): after a
        restart the detector scores the next row as if it had never stopped."""
        from detectors.slots import rounds  # the engine's own round splitter

        slots = np.asarray(slots, dtype=np.intp)
        ts = np.asarray(ts, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        for pos in rounds(slots, ts):
            self.score(slots[pos], ts[pos], values[pos])

    def fire_at_level(self, slots: IntArray, level: FloatArray) -> None:
        """The score the rule fires at for these slots, before their next rows. An
        episode stops showing its rises once one reached it: with a fixed 0.5 that is
        once the alert is out; a budget's learnt level is often far higher, and an
        anomaly whose first row scores between the two would otherwise be damped for
        the whole episode, its stronger rows never alerting."""
        self.fire_at[slots] = level

    def _history(self, s: IntArray) -> FloatArray:
        w = self.params.window
        cols = (self.head[s, None] + np.arange(w)) % w
        hist: FloatArray = self.buf[s[:, None], cols]
        return hist

    def _score_ready(self, s: IntArray, x: FloatArray) -> FloatArray:
        p = self.params
        hist = self._history(s)
        valid = np.minimum(self.count[s], p.window)
        with np.errstate(invalid="ignore", over="ignore"):
            med, scale = centre_and_scale(hist, valid)
            hist_n = (hist - med[:, None]) / scale[:, None]
            x_n = (x - med) / scale
            feats = self._features(hist, hist_n, x, x_n, valid)
        feats = np.nan_to_num(feats, nan=0.0, posinf=VALUE_LIMIT)
        z = self._surprise(s, np.minimum(feats, VALUE_LIMIT))
        with np.errstate(over="ignore"):
            raw = z * z / (z * z + p.z_half**2)
        raw = np.where(z > 0, np.nan_to_num(raw, nan=1.0), 0.0)
        excess = range_excess(x, self.lo[s], self.hi[s])
        beyond = excess > p.spatial_tol
        spatial: FloatArray = np.full(len(x), p.spatial_score)
        if p.spatial_graded:
            with np.errstate(divide="ignore"):
                ratio = np.where(beyond, p.spatial_tol / excess, 1.0)
            spatial = 1.0 - (1.0 - p.spatial_score) * ratio
        raw = np.where(beyond, np.maximum(raw, spatial), raw)
        return self._post(s, raw)

    def _features(
        self, hist: FloatArray, hist_n: FloatArray, x: FloatArray, x_n: FloatArray, valid: IntArray
    ) -> FloatArray:
        """The weighted features (columns as in `weights`); a feature that is off is
        left at 0 and not computed: the shape distances dominate the cost per row."""
        p = self.params
        on = [w > 0 for w in p.weights]
        feats = np.zeros((len(x), N_FEATURES))
        if on[0] or on[1]:
            feats[:, 0], feats[:, 1] = level_z(hist_n, x_n, p.short)
        if on[2]:
            feats[:, 2] = step_z(hist, x, valid)
        if p.knn_clip > 0:  # after the level features: they need the true heights
            hist_n = np.clip(hist_n, -p.knn_clip, p.knn_clip)
            x_n = np.clip(x_n, -p.knn_clip, p.knn_clip)
        if on[3]:
            feats[:, 3] = knn_distance(hist_n, x_n, p.embed)
        if on[4]:
            feats[:, 4] = knn_distance(hist_n, x_n, p.embed_long, p.long_stride)
        return feats

    def _surprise(self, s: IntArray, feats: FloatArray) -> FloatArray:
        """Largest z of any feature's short-term average against its long-term spread;
        the long-term statistics are updated after, so a row never judges itself."""
        p = self.params
        short = (1 - p.short_alpha) * self.short[s] + p.short_alpha * feats
        mean, var = self.mean[s], self.var[s]
        z = (short - mean) / np.sqrt(var + p.std_floor**2)
        z = np.where(self.n_feat[s, None] > 0, z * np.asarray(p.weights), 0.0).max(axis=1)
        # A running average until 1/long_alpha rows, then exponential forgetting.
        a = np.maximum(1.0 / (self.n_feat[s] + 1.0), p.long_alpha)[:, None]
        delta = short - mean
        self.mean[s] = mean + a * delta
        self.var[s] = (1 - a) * (var + a * delta * delta)
        self.short[s] = short
        self.n_feat[s] += 1
        surprise: FloatArray = np.maximum(np.nan_to_num(z, nan=0.0), 0.0)
        return surprise

    def _post(self, s: IntArray, raw: FloatArray) -> FloatArray:
        p = self.params
        warm = self.count[s] >= p.warmup
        in_episode = self.quiet[s] > 0
        peak = np.where(in_episode, self.peak[s], 0.0)
        # Within an episode only clearly stronger evidence shows again: at most a few
        # rising detections per anomaly instead of one per row.
        rises = (raw > p.escalate * peak) & (peak < self.fire_at[s])
        shown = warm & (~in_episode | rises)
        starts = shown & (raw >= p.arm_level)
        self.quiet[s] = np.where(starts, p.suppress, np.maximum(self.quiet[s] - 1, 0))
        self.peak[s] = np.where(starts, np.maximum(raw, peak), peak)
        out = np.where(shown, raw, np.minimum(raw, peak) * p.damping)
        return np.clip(np.where(warm, out, 0.0), 0.0, 1.0)

    def _learn(self, s: IntArray, x: FloatArray) -> None:
        self.buf[s, self.head[s]] = x
        self.head[s] = (self.head[s] + 1) % self.params.window
        self.count[s] += 1
        self.lo[s] = np.minimum(self.lo[s], x)
        self.hi[s] = np.maximum(self.hi[s], x)

    _STATE = (
        "buf",
        "head",
        "count",
        "last_ts",
        "short",
        "mean",
        "var",
        "n_feat",
        "quiet",
        "peak",
        "lo",
        "hi",
    )

    def state_dict(self) -> dict[str, npt.NDArray[Any]]:
        return {name: getattr(self, name).copy() for name in self._STATE}

    def load_state(self, state: dict[str, npt.NDArray[Any]]) -> None:
        for name in self._STATE:
            current = getattr(self, name)
            new = np.asarray(state[name], dtype=current.dtype)
            if new.shape != current.shape:
                raise ValueError(f"state {name}: shape {new.shape}, expected {current.shape}")
            setattr(self, name, new.copy())
