"""Each device's own fire level for an anomaly rule, set online from the scores it has
seen so that normal operation stays within a false-alert budget.

The budget (alerts per device-month) becomes a risk per row, q = budget x interval /
month: on normal operation a row should exceed the level with probability q at most.
So the level is the (1 - q) quantile of the device's scores, far beyond what a few
hundred rows can show directly; it is extrapolated with extreme value theory, as SPOT
does (Siffer et al., "Anomaly detection in streams with extreme value theory", KDD
2017): the excesses of the scores over a high threshold t follow a generalised Pareto
distribution (GPD), and the (1 - q) quantile is

    z_q = t + sigma / gamma * ((q n / N_t) ** -gamma - 1)

with n rows seen and N_t of them above t. Here t is the K-th largest score seen (the
classic "top K order statistics" estimator), so the state per device is K numbers and a
count, updated by array operations for every device at once, and the GPD is fitted by
the method of moments (closed form) instead of SPOT's iterative likelihood.

Details:
- Scores in [0, 1) are fitted as u = -log(1 - score), which has an unbounded tail.
- As in SPOT, a row at or above the level (an alert) is not learnt: an anomaly must not
  raise the bar for the next one.
- During learning (`learn_rows`) the device does not page. Its first `settle_rows`
  (at most half of it) are the detector's own warm-up: scores of 0 (150 rows), then
  inflated ones while its long-run statistics form, so the level ignores them. (On the
  shared SKAB valve1 runs, a level learnt from all 500 rows let 1 of 16 anomalies
  through with the step detector, one that skipped the first 250 rows 7; the figure
  was chosen there, the only value tried besides 0.)
- Memory: the top K are kept for the current epoch of `epoch_rows` rows and the one
  before; the level is fitted on both. So the inflated scores of a detector that was
  still young, or of an old regime, leave after two epochs.
- The level is never below the largest score learnt (for a budget, 1 / q exceeds the
  rows seen, so the quantile lies beyond the sample's maximum; a bounded fit can say
  otherwise, and then a repeat of a normal extreme would page), nor below `floor` (a
  near-constant series would otherwise page on any flicker), nor above `cap` (a score
  the detector itself calls near certain always fires). The cap is not the detector's
  "beyond the range seen" score (0.95): on SKAB's anomaly-free run such new ranges came
  in normal operation (chosen on the shared SKAB files, see the README).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.anomaly_features import FloatArray, IntArray
from detectors.state_arrays import ArrayState

MONTH_S = 30 * 86_400.0
MAX_U = -np.log(1e-9)  # u of a score of 1 - 1e-9: scores are clipped below 1
# Moments need gamma < 0.5. A negative gamma (a bounded tail) is not allowed: fitted on
# K points it is often an artefact, and its level then sits just above the largest
# score seen, which a normal series soon passes (on heavy-tailed test data such fits
# spent ten times the budget; with gamma >= 0 the budget held).
GAMMA_LIMITS = (0.0, 0.45)
# The budget is fitted for this share of its risk: the rest covers the fit's own error
# (K points; the data's tail may not yet be the asymptotic one).
RISK_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class LevelParams:
    top_k: int = 32  # order statistics kept per epoch (the GPD is fitted on K - 1 excesses)
    learn_rows: int = 500  # rows before a device may page (the detector's warmup included)
    settle_rows: int = 250  # ... of which the level ignores these (at most half of them)
    epoch_rows: int = 20_000  # rows per memory epoch: scores are forgotten after two
    cap: float = 0.999  # the level never rises above this
    above_max: float = 1e-6  # ... nor falls to the largest score learnt: this above it


def risk_per_row(budget_per_month: FloatArray, interval_s: FloatArray) -> FloatArray:
    """The per-row exceedance probability that meets a budget of alerts per month."""
    rows_per_month = MONTH_S / np.maximum(interval_s, 1e-3)
    risk: FloatArray = np.clip(RISK_SHARE * budget_per_month / rows_per_month, 1e-12, 0.5)
    return risk


def gpd_level(top: FloatArray, n: FloatArray, risk: FloatArray) -> FloatArray:
    """The (1 - risk) quantile in u units, from each row of `top` (the largest values
    seen, any order, -inf where fewer were seen) and the rows seen `n`."""
    ordered = -np.sort(-top, axis=1)
    k = ordered.shape[1]
    t = ordered[:, -1]
    finite_t = np.isfinite(t)
    t = np.where(finite_t, t, 0.0)
    excess = np.where(np.isfinite(ordered[:, :-1]), ordered[:, :-1] - t[:, None], 0.0)
    mean = excess.mean(axis=1)
    var = excess.var(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(var > 1e-12, mean * mean / var, 0.0)
        gamma = np.clip(0.5 * (1.0 - ratio), *GAMMA_LIMITS)
        sigma = 0.5 * mean * (ratio + 1.0)
        # q n / N_t < 1 means the level lies beyond t; n < N_t / q always for a budget.
        r = np.clip(risk * n / (k - 1), 1e-300, 1.0)
        tail = np.where(np.abs(gamma) < 1e-6, sigma * -np.log(r), sigma / gamma * (r**-gamma - 1.0))
    # No spread among the excesses (a flat series): just beyond the largest seen.
    tail = np.where(var > 1e-12, tail, mean)
    level: FloatArray = np.where(finite_t, t + np.nan_to_num(tail, nan=0.0, posinf=MAX_U), 0.0)
    return level


class FireLevel(ArrayState):
    """Per-slot top-K score memory and the fire level it implies."""

    def __init__(
        self, risk: FloatArray, floor: FloatArray, params: LevelParams | None = None
    ) -> None:
        p = params or LevelParams()
        if p.top_k < 3 or p.learn_rows < 1 or p.epoch_rows < p.top_k:
            raise ValueError("need top_k >= 3, learn_rows >= 1 and epoch_rows >= top_k")
        self.params = p
        n_slots = len(risk)
        self.risk = np.asarray(risk, dtype=np.float64)
        self.floor = np.asarray(floor, dtype=np.float64)
        self.top = np.full((n_slots, 2 * p.top_k), -np.inf)  # [current epoch | previous]
        self.rows = np.zeros(n_slots, dtype=np.intp)  # rows judged, ever (learning)
        self.n_cur = np.zeros(n_slots)  # rows learnt in the current epoch (the POT's n)
        self.n_prev = np.zeros(n_slots)
        self.level = np.full(n_slots, p.cap)

    def learning(self, s: IntArray | None = None) -> npt.NDArray[np.bool_]:
        rows = self.rows if s is None else self.rows[s]
        return np.asarray(rows < self.params.learn_rows, dtype=np.bool_)

    def judge(self, s: IntArray, scores: FloatArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """The level each row is judged against and whether its device is still learning
        (both as they were before the row), then learn the rows that do not alert.
        `s` holds each slot at most once."""
        level = self.level[s].copy()
        learning = self.learning(s)
        settled = self.rows[s] >= min(self.params.settle_rows, self.params.learn_rows // 2)
        self.rows[s] += 1
        learn = settled & (learning | (scores < level))
        self._learn(s[learn], scores[learn])
        return level, learning

    def _learn(self, s: IntArray, scores: FloatArray) -> None:
        p = self.params
        k = p.top_k
        u = -np.log1p(-np.clip(scores, 0.0, 1.0 - 1e-9))
        cur = self.top[s, :k]
        low = cur.argmin(axis=1)
        rows = np.arange(len(s))
        replace = u > cur[rows, low]
        self.top[s[replace], low[replace]] = u[replace]
        self.n_cur[s] += 1
        # An epoch ends: the current top K become the previous epoch's.
        turn = s[self.n_cur[s] >= p.epoch_rows]
        self.top[turn, k:] = self.top[turn, :k]
        self.top[turn, :k] = -np.inf
        self.n_prev[turn] = self.n_cur[turn]
        self.n_cur[turn] = 0
        self._refit(s)

    def _refit(self, s: IntArray) -> None:
        k = self.params.top_k
        both = self.top[s]
        # The K largest of both epochs, over the rows of both.
        best = -np.partition(-both, k - 1, axis=1)[:, :k]
        u = gpd_level(best, self.n_cur[s] + self.n_prev[s], self.risk[s])
        p = self.params
        seen = 1.0 - np.exp(-np.minimum(best.max(axis=1), MAX_U)) + p.above_max
        level = np.maximum(1.0 - np.exp(-np.minimum(u, MAX_U)), seen)
        self.level[s] = np.clip(level, np.minimum(self.floor[s], p.cap), p.cap)

    _STATE = ("top", "rows", "n_cur", "n_prev", "level")
