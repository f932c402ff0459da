"""A fire-water tank's level for anomaly rule tests: drawn down by day, refilled by
night, with sensor noise; a normal series nothing should page on."""

from __future__ import annotations

import numpy as np

from detectors.anomaly_features import FloatArray


def daily_tank_level(n: int, seed: int, step_s: float) -> FloatArray:
    rng = np.random.default_rng(seed)
    day = np.arange(n) * step_s / 86_400.0
    level: FloatArray = (
        3.0 - 0.4 * np.clip(np.sin(2 * np.pi * day), 0, None) + rng.normal(0, 0.01, n)
    )
    return level
