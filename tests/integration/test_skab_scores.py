"""SKAB valve1 through `gridwatch skab-to-nab`, the anomaly runner and the shared NAB scorer."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from evaluation.skab_convert import run_skab_to_nab
from tests.support.nab_score import score_slice

SLICE = ("valve1_0/Pressure.csv", "valve1_10/Volume Flow RateRMS.csv")


def test_converted_valve1_is_scored_by_the_runner_and_nab_score(
    shared_dir: Path, tmp_path: Path
) -> None:
    nab = tmp_path / "nab"
    assert run_skab_to_nab(shared_dir / "data" / "skab", nab, ["valve1"]) == 0

    windows = json.loads((nab / "windows.json").read_text())
    assert len(windows) == 16 * 8  # 16 experiments x 8 sensors
    for rel, wins in windows.items():
        assert len(wins) == 1, rel  # each valve1 experiment has one labelled run
        with (nab / "data" / rel).open(newline="") as f:
            stamps = [row["timestamp"] for row in csv.DictReader(f)]
        assert stamps == sorted(set(stamps))  # unique and increasing
        assert {wins[0][0], wins[0][1]} <= set(stamps)

    report = score_slice(shared_dir, nab / "data", nab / "windows.json", SLICE, tmp_path / "s")
    assert report["series"] == len(SLICE)
    assert report["windows"] == len(SLICE)
    assert set(report["profiles"]) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
