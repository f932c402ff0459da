"""A rig's metrics taken together: one score per row for how far the whole rig has moved
from its own recent normal, vectorised over devices (a round of rows, one per device).

Why a rig and not each sensor alone: on the shared SKAB valve1 runs (a water-circulation
rig: pressures, flow, temperatures, vibration) the eight sensors together separate each
anomaly from everything outside it in 16 of 16 runs, the per-sensor scores combined in
11 (README, "A rig-level score"). A valve that sticks moves pressure and flow a little
each, in a direction the rig never goes in normal operation.

Per device, with k metrics x per row:
- m, a fast EWMA of x (alpha = 2 / (fast_rows + 1)): it smooths sensor noise;
- b, a slow baseline of x (EWMA with time constant `baseline_rows`; a running mean
  while the device is younger): the rig's recent normal, which follows warm-up and drift;
- the residual r = m - b and the score r' P r, P the inverse of S, the residuals' second
  moment, plus a ridge of `ridge` times its diagonal (Hotelling's T² of the residual);
- learning: rows [learn_from, learn_rows) give S; the fire level is `level_factor` times
  the largest of their scores, fixed from then on;
- after learning, a row below the level moves S (time constant `adapt_rows`, the row's
  weight capped Huber-style at `huber` x the learning maximum over its score, so a near
  miss moves it little) and the baseline. A row at or above it freezes both, so an
  anomaly is not learnt as normal, for at most `freeze_rows` rows a spell (a token count
  that calm rows refill); past that, S learns at `relearn_rows` and the baseline moves
  again, so a lasting change becomes the new normal after about one alert instead of
  paging for ever.
- A metric missing from a row carries its last value for up to `carry_rows` rows; beyond
  that the row is skipped (no score, nothing learnt).

All times are in rows at the device's reporting interval. Every parameter was chosen on
the shared SKAB valve1 runs and the anomaly-free run (README), so they are a starting
point, not a finding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors.slots import BoolArray, FloatArray, IntArray
from detectors.state_arrays import ArrayState

# A metric that did not move while learning would make S singular and any later flicker
# of it an alarm: its variance is floored at this share of its level, squared (a sensor's
# resolution is rarely finer than 1e-4 of what it reads).
RESOLUTION = 1e-4
# The learning rows kept to find the largest learning score: every one up to this many,
# beyond it every stride-th (S itself sums every learning row). A day of 10 s rows kept
# whole would be 0.3 MB per rig of five metrics, in memory and in the
# state file; a smoothed residual changes little between neighbouring rows.
HELD_MAX = 1024


@dataclass(frozen=True, slots=True)
class RigParams:
    fast_rows: float = 10.0
    baseline_rows: float = 1200.0
    learn_from: int = 100  # rows the baseline settles before S is learnt
    learn_rows: int = 500  # rows before the rig may page
    ridge: float = 0.01
    level_factor: float = 5.0
    adapt_rows: float = 20_000.0
    huber: float = 0.5
    freeze_rows: int = 600
    relearn_rows: float = 300.0
    carry_rows: int = 60

    def __post_init__(self) -> None:
        if not 0 <= self.learn_from < self.learn_rows:
            raise ValueError("learn_from must be below learn_rows")
        if min(self.fast_rows, self.baseline_rows, self.adapt_rows, self.relearn_rows) < 1:
            raise ValueError("time constants must be at least one row")


@dataclass(frozen=True, slots=True)
class RigScores:
    """One round's outcome, for the rows the model could score (`scored`)."""

    scored: BoolArray  # per row offered: every metric had a value (its own or carried)
    score: FloatArray  # per scored row
    level: FloatArray  # ... the level it is judged against (as it was before the row)
    learning: BoolArray  # ... still learning: it must not page
    lead: IntArray  # ... the metric whose term of r' P r is largest: what moved most


class RigModel(ArrayState):
    """Model state for `devices` rigs of `metrics` metrics each, all in arrays."""

    _STATE = (
        "rows", "last", "age", "fast", "base", "second", "precision", "held",
        "learn_max", "level", "tokens",
    )

    def __init__(self, devices: int, metrics: int, params: RigParams) -> None:
        n, k = devices, metrics
        span = params.learn_rows - params.learn_from
        self.stride = -(-span // HELD_MAX)  # ceil: keep at most HELD_MAX rows
        held = -(-span // self.stride)
        self.params = params
        self.rows = np.zeros(n, dtype=np.int64)  # rows scored or learnt
        self.last = np.full((n, k), np.nan)  # each metric's last value ...
        self.age = np.full((n, k), np.iinfo(np.int64).max // 2, dtype=np.int64)  # ... rows ago
        self.fast = np.zeros((n, k))
        self.base = np.zeros((n, k))
        self.second = np.zeros((n, k, k))  # S (while learning: the sum of r r')
        self.precision = np.zeros((n, k, k))  # P
        self.held = np.zeros((n, held, k))  # the learning rows' residuals
        self.learn_max = np.zeros(n)
        self.level = np.full(n, np.inf)
        self.tokens = np.full(n, params.freeze_rows, dtype=np.int64)

    def learning(self) -> BoolArray:
        learning: BoolArray = self.rows < self.params.learn_rows
        return learning

    def step(self, s: IntArray, x: FloatArray) -> RigScores:
        """Take one row per device (`s` distinct), NaN where a metric has no value."""
        p = self.params
        have = np.isfinite(x)
        age = np.where(have, 0, self.age[s] + 1)
        last = np.where(have, x, self.last[s])
        self.age[s], self.last[s] = age, last
        scored = (np.isfinite(last) & (age <= p.carry_rows)).all(axis=1)
        s, x = s[scored], last[scored]
        n = self.rows[s]
        first = (n == 0)[:, None]
        fast = np.where(first, x, self.fast[s] + 2.0 / (p.fast_rows + 1.0) * (x - self.fast[s]))
        base = np.where(first, x, self.base[s])
        r = fast - base
        learning = n < p.learn_rows
        score = np.zeros(len(s))
        post = ~learning
        terms = r[post] * np.einsum("nij,nj->ni", self.precision[s[post]], r[post])
        score[post] = terms.sum(axis=1)
        lead = np.zeros(len(s), dtype=np.intp)
        lead[post] = terms.argmax(axis=1)
        level = self.level[s]
        high = post & (score >= level)
        frozen = high & (self.tokens[s] > 0)
        calm = post & ~high

        collect = learning & (n >= p.learn_from)
        self.second[s[collect]] += r[collect][:, :, None] * r[collect][:, None, :]
        j = n - p.learn_from
        keep = collect & (j % self.stride == 0)
        self.held[s[keep], j[keep] // self.stride] = r[keep]
        self._adapt(s, r, score, calm, high & ~frozen)
        self.tokens[s[calm]] = np.minimum(self.tokens[s[calm]] + 1, p.freeze_rows)
        self.tokens[s[frozen]] -= 1
        moves = ~frozen
        tau = np.minimum(n[moves] + 1, p.baseline_rows)[:, None]
        base[moves] += (x[moves] - base[moves]) / tau
        self.fast[s], self.base[s], self.rows[s] = fast, base, n + 1
        done = learning & (n + 1 == p.learn_rows)
        if done.any():
            self._end_learning(s[done])
        return RigScores(scored, score, level, learning, lead)

    def _adapt(
        self, s: IntArray, r: FloatArray, score: FloatArray, calm: BoolArray, relearn: BoolArray
    ) -> None:
        p = self.params
        rate = np.zeros(len(s))
        cap = p.huber * self.learn_max[s[calm]]
        rate[calm] = np.minimum(1.0, cap / np.maximum(score[calm], 1e-300)) / p.adapt_rows
        rate[relearn] = 1.0 / p.relearn_rows
        moving = rate > 0
        if not moving.any():
            return
        sm, rm = s[moving], r[moving]
        outer = rm[:, :, None] * rm[:, None, :]
        self.second[sm] += rate[moving][:, None, None] * (outer - self.second[sm])
        self.precision[sm] = self._inverse(self.second[sm], self.base[sm])

    def _end_learning(self, s: IntArray) -> None:
        p = self.params
        held = self.held[s]
        self.second[s] /= p.learn_rows - p.learn_from
        self.precision[s] = self._inverse(self.second[s], self.base[s])
        scores = np.einsum("dli,dij,dlj->dl", held, self.precision[s], held)
        self.learn_max[s] = scores.max(axis=1, initial=0.0)
        # A rig that never moved while learning would page on anything: the level is at
        # least what a one-resolution-step residual in every metric scores.
        floor = float(held.shape[2])
        self.level[s] = np.maximum(p.level_factor * self.learn_max[s], floor)

    def _inverse(self, second: FloatArray, base: FloatArray) -> FloatArray:
        diag = np.diagonal(second, axis1=1, axis2=2)
        floor = (RESOLUTION * np.maximum(np.abs(base), 1.0)) ** 2
        ridge = self.params.ridge * diag + floor
        k = second.shape[1]
        inverse: FloatArray = np.linalg.inv(second + ridge[:, :, None] * np.eye(k))
        return inverse
