"""A small slice of NAB through `gridwatch anomaly-scores` and the shared NAB scorer."""

from __future__ import annotations

from pathlib import Path

from tests.support.nab_score import score_slice

SLICE = ("artificialWithAnomaly/art_daily_jumpsup.csv", "realKnownCause/rogue_agent_key_hold.csv")


def test_runner_output_is_accepted_by_nab_score(shared_dir: Path, tmp_path: Path) -> None:
    nab = shared_dir / "data" / "nab"
    report = score_slice(shared_dir, nab / "data", nab / "windows.json", SLICE, tmp_path)
    assert report["series"] == len(SLICE)
    assert set(report["profiles"]) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
