"""The online anomaly detectors by name: what `gridwatch anomaly-scores --detector`
and the engine's anomaly rule choose from. Each takes the number of slots."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy.typing as npt

from detectors.anomaly import AnomalyDetector, AnomalyParams
from detectors.anomaly_features import FloatArray, IntArray
from detectors.anomaly_gaussian import GaussianDetector


class OnlineDetector(Protocol):
    n_slots: int

    @property
    def history_rows(self) -> int:
        """Rows of a series the detector looks back over: what a restart replays."""
        ...

    def score(self, slots: IntArray, ts: FloatArray, values: FloatArray) -> FloatArray: ...

    def fire_at_level(self, slots: IntArray, level: FloatArray) -> None:
        """The score these slots' rule fires at now (a detector that damps repeats
        within an episode stops damping rises below it)."""
        ...

    def state_dict(self) -> dict[str, npt.NDArray[Any]]: ...

    def load_state(self, state: dict[str, npt.NDArray[Any]]) -> None: ...


# The default plus a variant that also scores sudden steps: better on vibration and
# pressure rigs (SKAB), worse on series with sharp daily edges (NAB). Rigs sample fast
# (1 Hz) and an anomaly there lasts hundreds of rows, so the variant keeps its episodes
# longer and its memory shorter than the default, which NAB's 5-minute series shaped
# (chosen on SKAB valve1: 78.6 standard with these, 74.6 with the default's).
STEP_WEIGHTS = (0.0, 0.0, 1.0, 1.0, 1.0)
# Its range score is graded, so a value far beyond the range can pass a budget's level
# above 0.95 (SKAB valve1, budget rule: 9 of 16 anomalies alerted instead of 7, no more
# false alerts; its NAB-scorer figures there unchanged). The default keeps the flat
# score: its NAB figures were not re-measured.
STEP_PARAMS = AnomalyParams(weights=STEP_WEIGHTS, window=640, suppress=300, spatial_graded=True)


def _with_steps(n_slots: int) -> AnomalyDetector:
    return AnomalyDetector(n_slots, STEP_PARAMS)


DEFAULT_DETECTOR = "robust-knn"
DETECTORS: dict[str, Callable[[int], OnlineDetector]] = {
    DEFAULT_DETECTOR: AnomalyDetector,
    "robust-knn-step": _with_steps,
    "gaussian": GaussianDetector,
}


def make_detector(name: str | None, n_slots: int) -> OnlineDetector:
    """The named detector (the default when None); KeyError for an unknown name."""
    return DETECTORS[name or DEFAULT_DETECTOR](n_slots)
