"""`gridwatch alert-replay IN_DIR OUT_DIR [--detector NAME]` (contract section 5).

Every `timestamp,value` CSV under IN_DIR is one device's metric. Its rows go, as if they
arrived live, through the backend's own anomaly rule (detectors.anomaly_rule) with the
rule's default settings: the detector, the learning phase, the fire level each device
learns for its false-alert budget, the clear level and the hold, and the shared alert
lifecycle. The alerts a guard would have seen are written to OUT_DIR at the same
relative path as `started_at,resolved_at`, one row per alert episode, each time as
written in the input (`resolved_at` empty when still firing at the end of the file).

Each file is its own device, with the reporting interval its timestamps show (the
median step), which turns the budget per month into a budget per row. A row not after
the latest one before it is dropped, as the backend drops it from a live device (and
counted on stderr). Only readings
move time on: the backend's ticker is not run, so an alert resolves at the first row
that completes its hold, a time the input itself has. A fire is dated when its
condition became due (its `min_duration_s` after it began), which may fall between
rows: it is written as the first row at or after that time, when it was seen.

`--fixed-level SCORE` (beyond the contract) replays the rule as it was before budgets:
no learning phase, fire at SCORE: the reference the README compares with.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from config.models_rules import AnomalyRuleSpec
from detectors.anomaly_features import FloatArray
from detectors.anomaly_registry import DEFAULT_DETECTOR
from detectors.anomaly_rule import AnomalyRule
from detectors.slots import DeviceIndex, ReadingBatch
from evaluation.nab_runner import InputError, Series, input_files, load_groups
from gridwatch.records import AlertChange

METRIC = "value"
DEFAULT_INTERVAL_S = 60.0  # a file of one row has no step to measure
Episode = tuple[str, str]  # started_at, resolved_at ("" while firing)


def replay_spec(detector: str | None, fixed_level: float | None) -> AnomalyRuleSpec:
    """The backend's anomaly rule with its defaults (the device type only names it)."""
    fields: dict[str, object] = {
        "id": "alert-replay", "device_type": "water_tank", "metric": METRIC,
        "detector": detector or DEFAULT_DETECTOR, "severity": "warning",
        "alert_type": "device.anomaly", "summary": "{device} {value}",
    }
    if fixed_level is not None:
        fields |= {"fire_score": fixed_level, "clear_score": min(0.3, fixed_level),
                   "max_false_alerts_per_device_month": None}
    return AnomalyRuleSpec.model_validate(fields)


def interval_of(ts: FloatArray) -> float:
    steps = np.diff(ts[np.isfinite(ts)])
    steps = steps[steps > 0]
    return float(np.median(steps)) if len(steps) else DEFAULT_INTERVAL_S


def replay_group(spec: AnomalyRuleSpec, group: list[Series]) -> list[list[Episode]]:
    """The alert episodes of each series, all series side by side in one rule."""
    ids = [str(i) for i in range(len(group))]
    index = DeviceIndex.bare(
        ids, [spec.device_type] * len(group), [interval_of(s.ts) for s in group], [METRIC]
    )
    rule = AnomalyRule(spec, index)
    log = EpisodeLog([s.ts for s in group], [s.timestamps for s in group])
    width = max((len(s.ts) for s in group), default=0)
    for row in range(width):
        live = [i for i, s in enumerate(group) if row < len(s.ts)]
        slots = np.array(live, dtype=np.intp)
        batch = ReadingBatch(
            slots,
            np.zeros(len(live), dtype=np.intp),
            np.array([group[i].ts[row] for i in live]),
            np.array([group[i].values[row] for i in live]),
        )
        log.take(rule.process(batch))
    return log.finish()


class EpisodeLog:
    """Alert changes of devices "0", "1", ... as episodes, each time written as the
    input's first row at or after it (its text: `texts`, at the times `times`)."""

    def __init__(self, times: list[FloatArray], texts: list[list[str]]) -> None:
        self.order = [np.argsort(t, kind="stable") for t in times]
        self.times = [t[o] for t, o in zip(times, self.order, strict=True)]
        self.texts = texts
        self.episodes: list[list[Episode]] = [[] for _ in times]
        self.open_at: list[str | None] = [None] * len(times)

    def _text(self, i: int, ts: float) -> str:
        at = min(int(np.searchsorted(self.times[i], ts, side="left")), len(self.times[i]) - 1)
        return self.texts[i][int(self.order[i][at])]

    def take(self, changes: list[AlertChange]) -> None:
        for change in changes:
            i = int(change.device)
            if change.kind == "fire":
                self.open_at[i] = self._text(i, change.ts)
            elif change.kind == "resolve" and self.open_at[i] is not None:
                self.episodes[i].append((self.open_at[i] or "", self._text(i, change.ts)))
                self.open_at[i] = None

    def finish(self) -> list[list[Episode]]:
        """The episodes, one still firing at the end left open (resolved_at empty)."""
        for i, started in enumerate(self.open_at):
            if started is not None:
                self.episodes[i].append((started, ""))
                self.open_at[i] = None
        return self.episodes


def write_episodes(path: Path, episodes: list[Episode]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["started_at", "resolved_at"])
        out.writerows(episodes)


def run_alert_replay(
    in_dir: Path, out_dir: Path, detector: str | None, fixed_level: float | None = None
) -> int:
    if fixed_level is not None and not 0.0 < fixed_level <= 1.0:
        print(f"--fixed-level {fixed_level}: must be in (0, 1]", file=sys.stderr)
        return 2
    files = input_files(in_dir, detector)
    if files is None:
        return 2
    spec = replay_spec(detector, fixed_level)
    done = alerts = 0
    try:
        for group in load_groups(in_dir, files):
            for series, episodes in zip(group, replay_group(spec, group), strict=True):
                write_episodes(out_dir / series.rel, episodes)
                done += 1
                alerts += len(episodes)
                late = out_of_order(series)
                note = f" ({late} rows not after the one before: dropped, as live)" if late else ""
                print(f"alert-replay: {done}/{len(files)} files: {series.rel}: "
                      f"{len(episodes)} alerts{note}", file=sys.stderr)
    except InputError as exc:
        print(f"alert-replay: {exc}", file=sys.stderr)
        return 2
    print(f"alert-replay: {done} series, {alerts} alert episodes -> {out_dir}")
    return 0


def out_of_order(series: Series) -> int:
    """Rows not after the latest time before them: a repeated reading or one from the
    past, which the rule drops as the backend drops it from a live device (NAB's
    machine temperature series goes back an hour once; several repeat a time)."""
    latest = np.maximum.accumulate(series.ts)
    return int((series.ts[1:] <= latest[:-1]).sum())
