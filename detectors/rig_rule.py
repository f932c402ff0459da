"""Several metrics of one device as one anomaly rule (detectors.rig_model), in the shared
alert lifecycle.

A batch's readings of the rule's metrics become rows per (device, device time): the
metrics a device reports together in one message make one row; a metric that is not in
it carries its last value (the model decides for how long). Rows go through in rounds,
one row per device, in device-time order, so a backlog is learnt in order. As for the
single-metric anomaly rule, a row closer than a quarter of the reporting interval to the
last one scored is refused (a resend burst must not flush the model's memory), and so is
a second row at a time already scored: a metric that comes in a later message for the
same time is not scored again, its value carries into the next row instead.

A row is scored only when every metric has a value, so a listed metric the device never
sends keeps the rig learning (the health report says so). The rule does not page while
learning; its state is kept on disk with the anomaly
rules' (detectors.anomaly_state) and its level is in the health report.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from config.models_rules import RigAnomalySpec
from detectors.anomaly_rule import MIN_GAP_OF_INTERVAL, AnomalyState, gap_accepted
from detectors.lifecycle import AlertTemplate, Lifecycle
from detectors.reading_rule import per_device
from detectors.rig_model import RigModel, RigParams, RigScores
from detectors.slots import (
    DeviceIndex,
    FloatArray,
    IntArray,
    ReadingBatch,
    Subset,
    render_summary,
)
from detectors.slots import rounds as device_time_rounds
from gridwatch.records import AlertChange, AnomalyLevel

NEWEST = "__newest__"
# The learning rows whose residuals the model's S is learnt on: the last four fifths of
# them (the first fifth lets the baseline settle; 100 of the default 500).
LEARN_FROM_SHARE = 0.2
RigRows = tuple[IntArray, FloatArray, FloatArray]  # local slot, device time, values (row, metric)


class RigAnomalyRule:
    def __init__(self, spec: RigAnomalySpec, index: DeviceIndex) -> None:
        self.spec = spec
        self.devices = Subset(index, index.members(spec.device_type))
        self.column = np.full(max(index.metric_id.values(), default=-1) + 2, -1, np.intp)
        for column, metric in enumerate(spec.metrics):
            self.column[index.metric_id[metric]] = column
        names = ("min_duration_s", "hold_s")
        p = per_device(
            self.devices,
            spec.id,
            {n: float(getattr(spec, n)) for n in names},
            spec.overrides,
            spec.OVERRIDABLE,
        )
        label = "+".join(spec.metrics)
        template = AlertTemplate(spec.id, spec.alert_type, spec.severity, spec.summary, label)
        self.life = Lifecycle(self.devices, template, p["min_duration_s"], p["hold_s"])
        self.params = RigParams(
            learn_from=int(spec.learning_rows * LEARN_FROM_SHARE),
            learn_rows=spec.learning_rows,
            level_factor=spec.level_factor,
            baseline_rows=spec.baseline_rows,
            carry_rows=spec.carry_rows,
        )
        self.model = RigModel(len(self.devices), len(spec.metrics), self.params)
        self.newest = self.devices.floats(-np.inf)
        self._min_gap = MIN_GAP_OF_INTERVAL * index.interval_s[self.devices.members]

    def rows(self, batch: ReadingBatch) -> RigRows:
        """The batch's rows of this rule: one per (device, device time), in that order;
        NaN for a metric the row lacks (for a metric given twice, the later reading)."""
        local = self.devices.local_of[batch.slot]
        column = self.column[batch.metric]  # metric -1 indexes the spare last entry
        mine = np.flatnonzero((local >= 0) & (column >= 0))
        s, t, col, v = local[mine], batch.ts[mine], column[mine], batch.value[mine]
        order = np.lexsort((t, s))
        s, t, col, v = s[order], t[order], col[order], v[order]
        new_row = np.ones(len(s), dtype=np.bool_)
        new_row[1:] = (s[1:] != s[:-1]) | (t[1:] != t[:-1])
        row = np.cumsum(new_row) - 1
        width = len(self.spec.metrics)
        # A metric given twice for one row: the later reading (numpy does not promise
        # which of repeated indices an assignment keeps, so pick it here).
        cell = row * width + col
        first_from_end = np.unique(cell[::-1], return_index=True)[1]
        last = len(cell) - 1 - first_from_end
        values = np.full((int(new_row.sum()), width), np.nan)
        values[row[last], col[last]] = v[last]
        return s[new_row], t[new_row], values

    def process(self, batch: ReadingBatch) -> list[AlertChange]:
        changes: list[AlertChange] = []
        for s, t, scores in self._judged(self.model, self.newest, self.rows(batch)):
            starts = (scores.score >= scores.level) & ~scores.learning
            clears = ~starts
            round_changes = self.life.step(s, t, starts, clears, np.round(scores.score, 3))
            changes += self._name_the_lead(round_changes, s, scores.lead) if round_changes else []
        return changes

    def _name_the_lead(
        self, changes: list[AlertChange], s: IntArray, lead: IntArray
    ) -> list[AlertChange]:
        """A fire or update names, as its {metric}, the metric that moved most from the
        rig's normal in that row: where a maintainer looks first."""
        lead_of = dict(zip(s.tolist(), lead.tolist(), strict=True))
        named = []
        for change in changes:
            slot = self.devices.local.get(change.device)
            if change.kind != "resolve" and slot in lead_of:
                metric = self.spec.metrics[lead_of[slot]]
                summary = render_summary(self.spec.summary, change.device, change.value, metric)
                change = replace(change, summary=summary)
            named.append(change)
        return named

    def _judged(
        self, model: RigModel, newest: FloatArray, rows: RigRows
    ) -> list[tuple[IntArray, FloatArray, RigScores]]:
        """Each round's scored rows (device, time) and their scores; `model` and
        `newest` learn the rows."""
        s, t, x = rows
        some = np.where(np.isfinite(x).any(axis=1), 0.0, np.nan)
        keep = gap_accepted(newest, self._min_gap, s, t, some)
        s, t, x = s[keep], t[keep], x[keep]
        out = []
        for part in device_time_rounds(s, t):
            ps, pt = s[part], t[part]
            newest[ps] = pt
            scores = model.step(ps, x[part])
            ok = scores.scored
            out.append((ps[ok], pt[ok], scores))
        return out

    def tick(self, now: float) -> list[AlertChange]:
        return self.life.tick(now)

    def status(self) -> dict[str, AnomalyLevel]:
        learning = self.model.learning()
        return {
            device: AnomalyLevel(
                rule=self.spec.id,
                level=round(float(self.model.level[i]), 4) if not learning[i] else 0.0,
                learning=bool(learning[i]),
                budget=None,
            )
            for i, device in enumerate(self.devices.ids)
        }

    def learn(self, state: AnomalyState, batch: ReadingBatch) -> AnomalyState:
        """A copy of `state` that has also learnt the rows of `batch` it had not seen;
        touches nothing of this rule (a restart runs it outside the engine's lock)."""
        model, newest = self._unpack(state)
        self._judged(model, newest, self.rows(batch))
        return {NEWEST: newest, **model.state_dict()}

    def state(self) -> AnomalyState:
        return {NEWEST: self.newest.copy(), **self.model.state_dict()}

    def load(self, state: AnomalyState) -> None:
        self.model, self.newest = self._unpack(state)

    def _unpack(self, state: AnomalyState) -> tuple[RigModel, FloatArray]:
        newest = np.array(state[NEWEST], dtype=np.float64)
        if newest.shape != self.newest.shape:
            raise ValueError(f"{NEWEST}: shape {newest.shape}, expected {self.newest.shape}")
        model = RigModel(len(self.devices), len(self.spec.metrics), self.params)
        model.load_state({k: v for k, v in state.items() if k != NEWEST})
        return model, newest
