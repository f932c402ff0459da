"""The published NAB results of another detector, in the layout the shared NAB scorer
reads, so a comparison is made by the same scorer on the same files:

    python -m evaluation.nab_published NAB_CHECKOUT DETECTOR WINDOWS.json OUT_DIR

NAB_CHECKOUT is a clone of github.com/numenta/NAB (its `results/<detector>/<group>/
<detector>_<name>.csv` files, columns `timestamp,value,anomaly_score,...`); every series
named in WINDOWS.json is written to OUT_DIR/<group>/<name> with the columns `timestamp`
and `anomaly_score`. Then:

    python ../shared/tools/nab_score.py --data DATA --windows WINDOWS.json --results OUT_DIR

With the shared 18 files' windows this gives the published detectors' scores on exactly
those files (the scorer reproduces NAB's corpus-wide table: HTM 70.10, ARTime 74.85,
Windowed Gaussian 39.65 on all 58). Nothing of NAB is copied into this project.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path


def convert(nab: Path, detector: str, windows: Path, out: Path) -> int:
    """Write the detector's scores for every series in `windows`; returns how many."""
    names = json.loads(windows.read_text(encoding="utf-8"))
    for rel in names:
        group, name = rel.split("/", 1)
        source = nab / "results" / detector / group / f"{detector}_{name}"
        if not source.is_file():
            raise FileNotFoundError(f"{source}: no published result for {rel}")
        target = out / group / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with source.open(newline="") as f, target.open("w", newline="") as o:
            rows = csv.DictReader(f)
            writer = csv.writer(o)
            writer.writerow(["timestamp", "anomaly_score"])
            writer.writerows((r["timestamp"], r["anomaly_score"]) for r in rows)
    return len(names)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    nab, detector, windows, out = Path(args[0]), args[1], Path(args[2]), Path(args[3])
    try:
        n = convert(nab, detector, windows, out)
    except (OSError, ValueError, KeyError) as exc:
        print(f"nab_published: {exc}", file=sys.stderr)
        return 2
    print(f"{n} series of {detector} written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
