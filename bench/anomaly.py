"""`gridwatch bench anomaly`: rows per second of `gridwatch anomaly-scores` with the
default detector, beside the plain `gaussian` detector run the same way in the same run.

Input is the NAB corpus in ../shared when present (the quick run takes two of its files),
else a fixed synthetic set. Timing covers reading, scoring and writing, as a user sees it.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.kit import ROUNDS, Result, csv_rows
from detectors.anomaly_registry import DEFAULT_DETECTOR
from evaluation.nab_runner import run_anomaly_scores

NAB = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab" / "data"
QUICK_FILES = ("artificialWithAnomaly/art_daily_jumpsup.csv", "realKnownCause/nyc_taxi.csv")


def _inputs(root: Path, quick: bool) -> tuple[Path, str]:
    """A folder of series to score and a description of it."""
    if NAB.is_dir() and not quick:
        return NAB, "NAB corpus in ../shared"
    data = root / "in"
    if NAB.is_dir():
        for rel in QUICK_FILES:
            (data / rel).parent.mkdir(parents=True, exist_ok=True)
            (data / rel).symlink_to(NAB / rel)
        return data, "2 NAB files"
    rng = np.random.default_rng(0)
    data.mkdir(parents=True)
    for i in range(8):
        values = np.cumsum(rng.normal(0, 1, 2000 if quick else 10000))
        rows = "\n".join(f"{t},{v:.5f}" for t, v in enumerate(values))
        (data / f"s{i}.csv").write_text("timestamp,value\n" + rows + "\n")
    return data, "8 synthetic random walks"


def _rate(data: Path, out: Path, detector: str, rows: int) -> float:
    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):  # progress lines are for users
        code = run_anomaly_scores(data, out / detector, detector)
    if code != 0:
        raise RuntimeError(f"anomaly-scores failed with {detector}")
    return rows / (time.perf_counter() - start)


def run(quick: bool) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="gw-bench-anomaly-") as tmp:
        data, what = _inputs(Path(tmp), quick)
        rows = csv_rows(data)
        ours, ref = [], []
        for _ in range(ROUNDS):
            ours.append(_rate(data, Path(tmp) / "out", DEFAULT_DETECTOR, rows))
            ref.append(_rate(data, Path(tmp) / "out", "gaussian", rows))
    return [
        Result(
            f"anomaly-scores {DEFAULT_DETECTOR} ({what}, {rows:,} rows)",
            "rows/s",
            statistics.median(ours),
            "gaussian detector, same runner",
            statistics.median(ref),
        )
    ]
