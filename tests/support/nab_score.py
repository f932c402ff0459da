"""Running the shared NAB scorer (../shared/tools/nab_score.py) on a results folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from evaluation.nab_runner import run_anomaly_scores


def nab_score(shared_dir: Path, data: Path, windows: Path, results: Path) -> dict[str, Any]:
    """The scorer's JSON report; fails the test with its stderr when it refuses."""
    done = subprocess.run(
        [sys.executable, str(shared_dir / "tools" / "nab_score.py"), "--data", str(data),
         "--windows", str(windows), "--results", str(results), "--json"],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def score_slice(
    shared_dir: Path, source: Path, windows: Path, rels: tuple[str, ...], work: Path
) -> dict[str, Any]:
    """Link (never copy) the series `rels` of `source` into `work`, score them with the
    backend's default detector (`gridwatch anomaly-scores`), and return the scorer's
    report on them."""
    data = work / "data"
    for rel in rels:
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).symlink_to(source / rel)
    out = work / "out"
    assert run_anomaly_scores(data, out, None) == 0
    return nab_score(shared_dir, data, windows, out)
