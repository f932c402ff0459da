"""The online anomaly detectors: causal, bounded, vectorised, restartable, and they see
what they are for (level shifts, spikes, changed shapes) more than plain noise."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from detectors.anomaly import AnomalyDetector, AnomalyParams
from detectors.anomaly_features import knn_distance
from detectors.anomaly_registry import DETECTORS, make_detector

FloatArray = npt.NDArray[np.float64]
NAMES = sorted(DETECTORS)
FIRE_LEVEL = AnomalyParams().fire_level
N = 700  # rows per synthetic series: past the default detector's warm-up


def feed(det: object, values: FloatArray, slot: int = 0) -> FloatArray:
    """One row at a time into one slot, as live readings arrive."""
    out = np.empty(len(values))
    score = det.score  # type: ignore[attr-defined]
    for i, v in enumerate(values):
        out[i] = score(np.array([slot]), np.array([float(i)]), np.array([v]))[0]
    return out


def noise(seed: int, n: int = N) -> FloatArray:
    return np.random.default_rng(seed).normal(10.0, 1.0, n)


def daily(seed: int, n: int = N) -> FloatArray:
    """A periodic signal with noise (a day of 96 samples), like a heat or load sensor."""
    t = np.arange(n)
    return 20 + 5 * np.sin(2 * np.pi * t / 96) + np.random.default_rng(seed).normal(0, 0.3, n)


@pytest.mark.parametrize("name", NAMES)
def test_score_of_a_row_does_not_change_when_later_rows_are_appended(name: str) -> None:
    values = daily(1)
    values[500:] += 6.0
    full = feed(make_detector(name, 1), values)
    prefix = feed(make_detector(name, 1), values[:450])
    np.testing.assert_array_equal(full[:450], prefix)


@pytest.mark.parametrize("name", NAMES)
def test_scores_are_finite_and_in_unit_interval_on_hostile_input(name: str) -> None:
    hostile = noise(2, 400)
    hostile[[250, 251, 300]] = np.nan
    hostile[310] = 1e300
    hostile[311] = -1e300
    hostile[320] = np.inf
    hostile[330] = 1e-300
    series = [hostile, np.full(400, 3.0), np.full(400, 1e200), np.zeros(400)]
    for values in series:
        scores = feed(make_detector(name, 1), values)
        assert np.isfinite(scores).all()
        assert ((scores >= 0) & (scores <= 1)).all()
    assert feed(make_detector(name, 1), hostile)[[250, 251, 300, 320]].tolist() == [0.0] * 4


def peak_after(scores: FloatArray, start: int) -> float:
    return float(scores[start : start + 60].max())


def stands_out(name: str, event: float, quiet: FloatArray) -> bool:
    """The event alerts and noise does not, at the level the engine's rule uses; the
    plain Gaussian baseline has no such level, so it need only score the event higher."""
    noise_max = float(quiet[200:].max())
    if name == "gaussian":
        return event > noise_max
    return event >= FIRE_LEVEL > noise_max


@pytest.mark.parametrize("name", NAMES)
def test_a_level_shift_scores_far_above_pure_noise(name: str) -> None:
    quiet = feed(make_detector(name, 1), noise(3))
    shifted = noise(3)
    shifted[550:] += 8.0
    scores = feed(make_detector(name, 1), shifted)
    assert stands_out(name, peak_after(scores, 550), quiet)


@pytest.mark.parametrize("name", NAMES)
def test_a_spike_scores_far_above_pure_noise(name: str) -> None:
    quiet = feed(make_detector(name, 1), noise(4))
    spiked = noise(4)
    spiked[600] += 12.0
    scores = feed(make_detector(name, 1), spiked)
    assert stands_out(name, scores[600], quiet)


def test_a_changed_periodic_pattern_is_seen_but_the_pattern_itself_is_not() -> None:
    quiet = feed(AnomalyDetector(1), daily(5))
    changed = daily(5)
    changed[600:] = 20 + 5 * np.sin(2 * np.pi * np.arange(600, N) / 24)  # four times faster
    scores = feed(AnomalyDetector(1), changed)
    assert stands_out("robust-knn", peak_after(scores, 600), quiet)


def test_one_anomaly_is_one_detection_not_one_per_row() -> None:
    shifted = noise(6)
    shifted[550:] += 8.0
    scores = feed(AnomalyDetector(1), shifted)
    assert 1 <= (scores[550:] >= FIRE_LEVEL).sum() <= 3


@pytest.mark.parametrize("name", NAMES)
def test_a_batch_over_many_slots_equals_each_slot_alone(name: str) -> None:
    rng = np.random.default_rng(7)
    lengths = [N, 500, 650, 300]
    series = [np.cumsum(rng.normal(0, 1, n)) for n in lengths]
    series[0][400:] += 20.0
    alone = [feed(make_detector(name, 1), s) for s in series]
    det = make_detector(name, len(series))
    batch = [np.empty(n) for n in lengths]
    for row in range(max(lengths)):
        slots = np.array([i for i, n in enumerate(lengths) if n > row])[::-1]  # any order
        vals = np.array([series[i][row] for i in slots])
        scores = det.score(slots, np.full(len(slots), float(row)), vals)
        for i, sc in zip(slots, scores, strict=True):
            batch[i][row] = sc
    for a, b in zip(alone, batch, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_a_restart_from_saved_state_scores_as_if_it_never_stopped(name: str) -> None:
    values = daily(8)
    values[550:] += 4.0
    whole = feed(make_detector(name, 1), values)
    before = make_detector(name, 1)
    feed(before, values[:400])
    after = make_detector(name, 1)
    after.load_state(before.state_dict())
    rest = np.array(
        [
            after.score(np.array([0]), np.array([float(i)]), np.array([values[i]]))[0]
            for i in range(400, N)
        ]
    )
    np.testing.assert_array_equal(rest, whole[400:])


def test_priming_from_history_equals_having_been_live() -> None:
    values = daily(9)
    whole = feed(AnomalyDetector(2), values, slot=1)
    det = AnomalyDetector(2)
    det.prime(np.ones(400, dtype=np.intp), np.arange(400, dtype=np.float64), values[:400])
    rest = feed_from(det, values, 400, slot=1)
    np.testing.assert_array_equal(rest, whole[400:])


def feed_from(det: AnomalyDetector, values: FloatArray, start: int, slot: int) -> FloatArray:
    return np.array(
        [
            det.score(np.array([slot]), np.array([float(i)]), np.array([values[i]]))[0]
            for i in range(start, len(values))
        ]
    )


def test_a_slot_twice_in_one_batch_is_refused_and_late_rows_are_ignored() -> None:
    det = AnomalyDetector(3)
    with pytest.raises(ValueError, match="rounds"):
        det.score(np.array([1, 1]), np.array([0.0, 1.0]), np.array([1.0, 2.0]))
    det.score(np.array([0]), np.array([10.0]), np.array([1.0]))
    assert det.score(np.array([0]), np.array([5.0]), np.array([1e9]))[0] == 0.0
    assert det.count[0] == 1


RANGE_ONLY = AnomalyParams(weights=(0.0, 0.0, 0.0, 0.0, 0.0))  # every z feature off


def beyond_range(seed: int) -> FloatArray:
    """A daily cycle that at row 600 goes 30 % of its range above its highest value."""
    values = daily(seed)
    top, bottom = float(values[:600].max()), float(values[:600].min())
    values[600] = top + 0.3 * (top - bottom)
    return values


def test_a_value_beyond_the_range_seen_so_far_fires_by_itself() -> None:
    scores = feed(AnomalyDetector(1, RANGE_ONLY), beyond_range(10))
    assert scores[600] >= FIRE_LEVEL
    assert scores[:600].max() < FIRE_LEVEL  # a steady noisy cycle stays inside its range


def test_a_value_inside_the_range_does_not_fire_on_range_alone() -> None:
    values = daily(12)
    values[600] = float(values[:600].min()) + 0.01  # a deep dip, but seen before
    assert feed(AnomalyDetector(1, RANGE_ONLY), values).max() < FIRE_LEVEL


def test_the_step_detector_scores_further_beyond_the_range_higher() -> None:
    """The step variant's range score is graded: a flat 0.95 for every new range could
    never pass a budgeted level fitted above it (SKAB valve1's flow meters: the valve
    closing takes the flow half the range below anything seen, and that level was often
    0.96-0.98), however far the value went."""
    from dataclasses import replace

    from detectors.anomaly_registry import STEP_PARAMS

    range_only = replace(STEP_PARAMS, weights=RANGE_ONLY.weights)
    values = beyond_range(10)
    top, bottom = float(values[:600].max()), float(values[:600].min())
    scores = {}
    for excess in (0.3, 0.6, 3.0):
        values[600] = top + excess * (top - bottom)
        scores[excess] = feed(AnomalyDetector(1, range_only), values)[600]
    assert 0.95 < scores[0.3] < scores[0.6] < scores[3.0] < 1.0
    assert scores[0.3] == pytest.approx(1 - 0.05 * 0.15 / 0.3)  # 0.95 at spatial_tol
    assert feed(AnomalyDetector(1, RANGE_ONLY), values)[600] == 0.95  # the default: flat


def test_the_range_feature_can_be_switched_off() -> None:
    off = AnomalyParams(weights=RANGE_ONLY.weights, spatial_score=0.0)
    assert feed(AnomalyDetector(1, off), beyond_range(10)).max() == 0.0


@pytest.mark.parametrize("stride", [1, 4])
def test_a_strided_shape_search_still_finds_a_repeat_of_the_period(stride: int) -> None:
    """The long shape is compared with every stride-th past window only; a period that
    is a multiple of the stride is still matched exactly, a new shape is not."""
    t = np.arange(641, dtype=np.float64)
    wave = np.sin(2 * np.pi * t / 96)
    hist, x = wave[None, :-1], wave[-1:]
    assert knn_distance(hist, x, 48, stride)[0] < 1e-9
    fast = np.sin(2 * np.pi * t / 24)
    changed = np.concatenate([wave[:-48], fast[-48:]])
    assert knn_distance(changed[None, :-1], changed[-1:], 48, stride)[0] > 0.3


def test_a_growing_anomaly_alerts_once_not_at_every_rise() -> None:
    """Scores may rise past the first detection within an episode; once one has reached
    fire_level the alert is out, and higher ones would only repeat it."""
    values = noise(13)
    values[600:640] += np.linspace(1.0, 40.0, 40)  # a surge that keeps growing
    shapes_only = AnomalyParams(spatial_score=0.0)  # the range would say 1.0 at once
    scores = feed(AnomalyDetector(1, shapes_only), values)
    assert (scores[600:680] >= FIRE_LEVEL).sum() == 1


def spike_after_a_taller_one(seed: int) -> FloatArray:
    """Noise with a tall spike in the warm-up (50 scales) and a lower one later (30)."""
    values = noise(seed)
    values[140] = 60.0
    values[500] = 40.0
    return values


def test_a_spike_lower_than_one_seen_before_is_less_news_with_clipped_shapes() -> None:
    """Spiky series (counts, latencies): unclipped, a spike's window is far from every
    past window unless a spike of the same height sat at the same place, so each new
    height is news. With the shapes clipped (`knn_clip`) the earlier spike matches."""
    clipped = AnomalyParams(knn_clip=8.0)
    for seed in range(4):
        values = spike_after_a_taller_one(seed)
        clipped_score = feed(AnomalyDetector(1, clipped), values)[500]
        unclipped_score = feed(AnomalyDetector(1), values)[500]
        assert clipped_score < unclipped_score
        assert clipped_score < FIRE_LEVEL


def test_clipping_the_shapes_is_off_by_default() -> None:
    values = spike_after_a_taller_one(0)
    off = AnomalyParams(knn_clip=0.0)
    np.testing.assert_array_equal(
        feed(AnomalyDetector(1), values), feed(AnomalyDetector(1, off), values)
    )
