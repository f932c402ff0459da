"""The anomaly rules' learned state on disk, so a restart does not forget it.

The other rules rebuild from an hour of stored readings (`DetectorEngine.warm`); the
anomaly detector's long-run statistics take days of rows to learn, far more than a
replay reads back. So the backend saves each anomaly rule's state (`AnomalyRule.state`)
now and then and at shutdown, and loads it at start before the replay, which then adds
only the rows the file has not seen (a rule drops rows not newer than its state).

One `.npz` file, written to a temporary name and renamed, so a crash mid-write leaves
the previous file. A rule whose devices or detector changed since the file was written
starts fresh (and says so): its slots would no longer line up.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt

from detectors.anomaly_rule import AnomalyState
from detectors.slots import ReadingBatch, Subset
from gridwatch.records import AnomalyLevel

log = logging.getLogger(__name__)
SEP = "::"  # between a rule id and an array's name in the file
DEVICES = "__devices__"
DETECTOR = "__detector__"
# numpy's stub types **kwds of savez as its `allow_pickle` flag; the call is the documented one.
savez = cast(Callable[..., None], np.savez)


class LearntSpec(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def detector(self) -> str: ...


class LearntRule(Protocol):
    """A rule whose learnt state is kept here: the single-metric anomaly rules
    (detectors.anomaly_rule) and the rig rules (detectors.rig_rule)."""

    @property
    def spec(self) -> LearntSpec: ...
    @property
    def devices(self) -> Subset: ...
    def state(self) -> AnomalyState: ...
    def load(self, state: AnomalyState) -> None: ...
    def learn(self, state: AnomalyState, batch: ReadingBatch) -> AnomalyState: ...
    def status(self) -> dict[str, AnomalyLevel]: ...


def save_anomaly_state(rules: Sequence[LearntRule], path: Path) -> int:
    """Write every rule's state; returns how many rules were saved."""
    arrays: dict[str, npt.NDArray[Any]] = {}
    for rule in rules:
        prefix = rule.spec.id + SEP
        arrays[prefix + DEVICES] = np.array(rule.devices.ids, dtype=np.str_)
        arrays[prefix + DETECTOR] = np.array(rule.spec.detector, dtype=np.str_)
        arrays.update({prefix + name: value for name, value in rule.state().items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as f:
        savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)
    return len(rules)


def load_anomaly_state(rules: Sequence[LearntRule], path: Path) -> list[str]:
    """Load each rule's saved state; returns the ids of the rules that were loaded.
    A missing or unreadable file, or a rule that no longer fits its saved state, is
    logged and left fresh: the replay of stored history still warms it."""
    if not path.exists():
        return []
    try:
        with np.load(path, allow_pickle=False) as data:
            saved = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        log.warning("anomaly state %s unreadable (%s); the detectors re-learn", path, exc)
        return []
    loaded: list[str] = []
    for rule in rules:
        prefix = rule.spec.id + SEP
        mine = {k[len(prefix) :]: v for k, v in saved.items() if k.startswith(prefix)}
        reason = _mismatch(rule, mine)
        if reason is None:
            try:
                rule.load({k: v for k, v in mine.items() if k not in (DEVICES, DETECTOR)})
            except (KeyError, ValueError) as exc:
                reason = f"state does not fit ({exc})"
        if reason is None:
            loaded.append(rule.spec.id)
        else:
            log.warning("anomaly rule %s starts fresh: %s", rule.spec.id, reason)
    return loaded


def _mismatch(rule: LearntRule, mine: dict[str, npt.NDArray[Any]]) -> str | None:
    if not mine:
        return "not in the saved state"
    if str(mine.get(DETECTOR, "")) != rule.spec.detector:
        return f"its detector is now {rule.spec.detector!r}"
    if mine.get(DEVICES, np.array([])).tolist() != list(rule.devices.ids):
        return "its devices changed"
    return None
