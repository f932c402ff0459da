"""`gridwatch alert-replay IN_DIR OUT_DIR --rig`: each folder's CSVs as one rig.

Every folder of `timestamp,value` CSVs under IN_DIR is one device whose metrics are the
files (named by their stems), as `skab-to-nab` lays out one SKAB run or, joined, one
experiment: a rig's sensors. Its rows go through the backend's rig rule
(detectors.rig_rule, `rules.rig_anomalies`) with the rule's defaults, in batches of
rows as a backlog would arrive; each distinct time is one row, a file without a value
at that time leaves its metric to carry.

A rig's alert is one device's alert, so its episodes are written at the path of its
folder's first file (in name order) and every other file of the folder gets an empty
episodes file: `alert-report` then counts a rig alert once, as one series of the folder
(its events, one per window of the folder, are the rig's windows alerted). Device-days
stay the files' (eight SKAB sensors make eight devices' time), so the figure compares
with the per-sensor rule's.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path

import numpy as np

from config.models_rules import RigAnomalySpec
from detectors.rig_rule import RigAnomalyRule
from detectors.slots import DeviceIndex, ReadingBatch
from evaluation.alert_replay import Episode, EpisodeLog, interval_of, write_episodes
from evaluation.nab_runner import InputError, Series, input_files, load_series

BATCH_ROWS = 600  # rows per batch: a backlog's size; decisions do not depend on it


def rig_spec(metrics: list[str]) -> RigAnomalySpec:
    """The backend's rig rule with its defaults (the device type only names it)."""
    return RigAnomalySpec.model_validate({
        "id": "rig-replay", "device_type": "fire_pump", "metrics": metrics,
        "alert_type": "device.rig_anomaly", "summary": "{device} {value}",
    })


def replay_rig(series: list[Series]) -> list[Episode]:
    """The rig's alert episodes, its metrics the series (in order)."""
    metrics = [s.rel.stem for s in series]
    spec = rig_spec(metrics)
    ts = np.concatenate([s.ts for s in series])
    values = np.concatenate([s.values for s in series])
    index = DeviceIndex.bare(["0"], [spec.device_type], [interval_of(np.unique(ts))], metrics)
    ids = [index.metric_id[m] for m in metrics]
    metric = np.concatenate([np.full(len(s.ts), ids[i], np.intp) for i, s in enumerate(series)])
    rule = RigAnomalyRule(spec, index)
    log = EpisodeLog([ts], [[text for s in series for text in s.timestamps]])
    order = np.argsort(ts, kind="stable")
    in_order = ts[order]
    times = np.unique(ts[np.isfinite(ts)])
    for lo in range(0, len(times), BATCH_ROWS):
        chunk = times[lo : lo + BATCH_ROWS]
        start = np.searchsorted(in_order, chunk[0], side="left")
        stop = np.searchsorted(in_order, chunk[-1], side="right")
        rows = order[start:stop]
        batch = ReadingBatch(
            np.zeros(len(rows), dtype=np.intp), metric[rows], ts[rows], values[rows]
        )
        log.take(rule.process(batch))
    return log.finish()[0]


def rig_folders(in_dir: Path, files: list[Path]) -> Iterator[list[Series]]:
    """Each folder's series, loaded when reached (InputError then)."""
    in_order = sorted(files, key=lambda p: (p.parent, p.name))
    for _, paths in groupby(in_order, key=lambda p: p.parent):
        folder = list(paths)
        if len(folder) < 2:
            raise InputError(f"{folder[0].parent}: a rig needs at least two series (files)")
        yield [load_series(p, p.relative_to(in_dir)) for p in folder]


def run_rig_replay(in_dir: Path, out_dir: Path) -> int:
    files = input_files(in_dir, None)
    if files is None:
        return 2
    rigs = alerts = 0
    try:
        for series in rig_folders(in_dir, files):
            episodes = replay_rig(series)
            write_episodes(out_dir / series[0].rel, episodes)
            for other in series[1:]:
                write_episodes(out_dir / other.rel, [])
            rigs += 1
            alerts += len(episodes)
            print(f"alert-replay --rig: {series[0].rel.parent}: {len(series)} metrics, "
                  f"{len(episodes)} alerts (at {series[0].rel.name})", file=sys.stderr)
    except (InputError, ValueError) as exc:
        print(f"alert-replay --rig: {exc}", file=sys.stderr)
        return 2
    print(f"alert-replay --rig: {rigs} rigs, {alerts} alert episodes -> {out_dir}")
    return 0
