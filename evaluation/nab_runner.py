"""`gridwatch anomaly-scores IN_DIR OUT_DIR [--detector NAME]` (contract section 5).

Every `timestamp,value` CSV under IN_DIR is scored by the backend's own online detector
as if its rows arrived live, and written to OUT_DIR at the same relative path with the
columns `timestamp,value,anomaly_score`. Rows are fed one per series per call, so a
score can only see earlier rows; up to GROUP series share each call, one slot each,
which is how the engine feeds many devices at once.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from detectors.anomaly_features import FloatArray
from detectors.anomaly_registry import DEFAULT_DETECTOR, DETECTORS, make_detector

GROUP = 64  # series scored side by side: bounds memory on a large IN_DIR


class InputError(Exception):
    """A problem with the input that the user must fix; the message names the place."""


@dataclass(frozen=True, slots=True)
class Series:
    rel: Path
    timestamps: list[str]  # as written in the input, echoed verbatim
    raw_values: list[str]
    ts: FloatArray
    values: FloatArray


def parse_time(text: str) -> float:
    """Unix seconds from ISO 8601 (naive means UTC) or a plain number."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return float(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_value(text: str) -> float:
    """A float; an empty cell is a missing reading (NaN), which the detectors skip."""
    return float(text) if text.strip() else float("nan")


def _column(
    rows: list[list[str]], col: int, parse: Callable[[str], float], where: str
) -> FloatArray:
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        try:
            out[i] = parse(row[col])
        except (ValueError, IndexError):
            cell = row[col] if col < len(row) else "<missing>"
            raise InputError(f"{where}:{i + 2}: not a number: {cell!r}") from None
    return out


def load_series(path: Path, rel: Path) -> Series:
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        rows = [row for row in reader if row]
    missing = [c for c in ("timestamp", "value") if c not in header]
    if missing:
        raise InputError(f"{path}:1: no column {' or '.join(missing)} in header {header}")
    t_col, v_col = header.index("timestamp"), header.index("value")
    values = _column(rows, v_col, parse_value, str(path))
    ts = _column(rows, t_col, parse_time, str(path))
    return Series(rel, [r[t_col] for r in rows], [r[v_col] for r in rows], ts, values)


def score_group(detector: str | None, group: list[Series]) -> list[FloatArray]:
    """Scores of each series, fed row by row: call k holds row k of every series long
    enough to have one, each series in its own slot of one detector."""
    det = make_detector(detector, len(group))
    lengths = np.array([len(s.values) for s in group])
    width = int(lengths.max(initial=0))
    ts = np.full((len(group), width), np.nan)
    values = np.full((len(group), width), np.nan)
    for i, s in enumerate(group):
        ts[i, : len(s.ts)] = s.ts
        values[i, : len(s.values)] = s.values
    scores = np.zeros((len(group), width))
    order = np.argsort(-lengths, kind="stable")  # longest first: live rows are a prefix
    active = len(group)
    for row in range(width):
        while active and lengths[order[active - 1]] <= row:
            active -= 1
        slots = order[:active]
        scores[slots, row] = det.score(slots, ts[slots, row], values[slots, row])
    return [scores[i, : lengths[i]] for i in range(len(group))]


def write_scores(path: Path, series: Series, scores: FloatArray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["timestamp", "value", "anomaly_score"])
        out.writerows(
            zip(series.timestamps, series.raw_values, (f"{v:.9g}" for v in scores), strict=True)
        )


def input_files(in_dir: Path, detector: str | None) -> list[Path] | None:
    """The CSVs under IN_DIR, or None after saying what is wrong with the arguments
    (the runners of contract section 5 share them)."""
    if detector is not None and detector not in DETECTORS:
        names = ", ".join(sorted(DETECTORS))
        print(
            f"unknown detector {detector!r}; valid: {names} (default {DEFAULT_DETECTOR})",
            file=sys.stderr,
        )
        return None
    if not in_dir.is_dir():
        print(f"{in_dir}: no such directory", file=sys.stderr)
        return None
    files = sorted(p for p in in_dir.rglob("*.csv") if p.is_file())
    if not files:
        print(f"{in_dir}: no CSV files", file=sys.stderr)
        return None
    return files


def load_groups(in_dir: Path, files: list[Path]) -> Iterator[list[Series]]:
    """The series in groups of GROUP, each loaded when it is reached (InputError then):
    series side by side in one detector, memory bounded on a large IN_DIR."""
    for lo in range(0, len(files), GROUP):
        yield [load_series(p, p.relative_to(in_dir)) for p in files[lo : lo + GROUP]]


def run_anomaly_scores(in_dir: Path, out_dir: Path, detector: str | None) -> int:
    files = input_files(in_dir, detector)
    if files is None:
        return 2
    done = 0
    try:
        for group in load_groups(in_dir, files):
            for series, scores in zip(group, score_group(detector, group), strict=True):
                write_scores(out_dir / series.rel, series, scores)
                done += 1
                print(f"anomaly-scores: {done}/{len(files)} files: {series.rel}", file=sys.stderr)
    except InputError as exc:
        print(f"anomaly-scores: {exc}", file=sys.stderr)
        return 2
    return 0
