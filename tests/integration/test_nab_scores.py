"""A small slice of NAB through `gridwatch anomaly-scores` and the shared NAB scorer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from detectors.nab_runner import run_anomaly_scores

SLICE = ("artificialWithAnomaly/art_daily_jumpsup.csv", "realKnownCause/rogue_agent_key_hold.csv")


def test_runner_output_is_accepted_by_nab_score(shared_dir: Path, tmp_path: Path) -> None:
    nab = shared_dir / "data" / "nab"
    data = tmp_path / "data"
    for rel in SLICE:  # links, not copies: only these two series are scored
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
    assert set(report["profiles"]) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
