"""`gridwatch bench rig`: readings per second through the rig rule (`alert-replay --rig`),
beside the single-metric anomaly rule (`alert-replay --detector robust-knn-step`, the
per-sensor rule the README compares it with) on the same files, in the same run.

Input is SKAB valve1 from ../shared when present (16 runs of 8 sensors; the quick run
takes two runs), else synthetic rigs. Timing covers reading, the rule and writing the
episodes, as a user of `alert-replay` sees it; a reading is one sensor's value at one
time, so a rig row of eight sensors is eight readings.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.kit import ROUNDS, Result, csv_rows
from evaluation.alert_replay import run_alert_replay
from evaluation.rig_replay import run_rig_replay
from evaluation.skab_convert import run_skab_to_nab

SKAB = Path(__file__).resolve().parents[2] / "shared" / "data" / "skab"
PER_SENSOR = "robust-knn-step"


def _inputs(root: Path, quick: bool) -> tuple[Path, str]:
    """A folder of rigs (a folder of series each) and a description of it."""
    data = root / "nab" / "data"
    if SKAB.is_dir():
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            if run_skab_to_nab(SKAB, root / "nab", ["valve1"]) != 0:
                raise RuntimeError("skab-to-nab failed on ../shared/data/skab")
        if quick:
            for extra in sorted(data.iterdir())[2:]:
                shutil.rmtree(extra)
        return data, "SKAB valve1 in ../shared" + (", 2 runs" if quick else "")
    rng = np.random.default_rng(0)
    rows = 1200 if quick else 4000
    for rig in range(2 if quick else 8):
        load = np.cumsum(rng.normal(0, 0.1, rows))
        folder = data / f"rig{rig}"
        folder.mkdir(parents=True)
        for sensor in range(8):
            values = (1 + sensor) * load + rng.normal(0, 0.05, rows)
            text = "\n".join(f"{t},{v:.5f}" for t, v in enumerate(values))
            (folder / f"s{sensor}.csv").write_text("timestamp,value\n" + text + "\n")
    return data, f"{2 if quick else 8} synthetic rigs of 8 sensors"


def _rate(replay: Callable[[Path], int], readings: int, out: Path) -> float:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = replay(out)
    if code != 0:
        raise RuntimeError(f"alert-replay failed into {out}")
    return readings / (time.perf_counter() - start)


def run(quick: bool) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="gw-bench-rig-") as tmp:
        root = Path(tmp)
        data, what = _inputs(root, quick)
        readings = csv_rows(data)  # a row of one sensor's file is one reading
        ours, ref = [], []
        for i in range(ROUNDS):
            ours.append(_rate(lambda out: run_rig_replay(data, out), readings, root / f"rig{i}"))
            ref.append(_rate(lambda out: run_alert_replay(data, out, PER_SENSOR), readings,
                             root / f"sensor{i}"))
    return [
        Result(
            f"alert-replay --rig ({what}, {readings:,} readings)",
            "readings/s",
            statistics.median(ours),
            f"the per-sensor rule ({PER_SENSOR}), same files",
            statistics.median(ref),
        )
    ]
