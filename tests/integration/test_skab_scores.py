"""SKAB valve1 through `gridwatch skab-to-nab`, the anomaly runner and the shared NAB scorer."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from detectors.nab_runner import run_anomaly_scores
from detectors.skab_convert import run_skab_to_nab

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

    data = tmp_path / "data"
    for rel in SLICE:  # links, not copies: only these series are scored
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).symlink_to(nab / "data" / rel)
    out = tmp_path / "out"
    assert run_anomaly_scores(data, out, None) == 0
    done = subprocess.run(
        [
            sys.executable,
            str(shared_dir / "tools" / "nab_score.py"),
            "--data",
            str(data),
            "--windows",
            str(nab / "windows.json"),
            "--results",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["series"] == len(SLICE)
    assert report["windows"] == len(SLICE)
    assert set(report["profiles"]) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
