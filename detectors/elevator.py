"""Elevator composites from the GB/T 24476 status readings, one evaluator for all cars.

The latest value of each status metric sits in a (metric, car) table. A batch is
scattered into it (newest per car and metric wins; older ones are dropped as late) and
every condition is then evaluated once per car the batch touched, at that car's newest
device time. A batch with several reports of one car (a replay, a backlog) is applied
report by report in device-time order, so a confirm time counts from the right report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from config.models_rules import ELEVATOR_CONDITION_EVENTS, ELEVATOR_METRICS, ElevatorRulesSpec
from detectors.lifecycle import AlertTemplate, Lifecycle
from detectors.reading_rule import per_device
from detectors.slots import DeviceIndex, FloatArray, IntArray, ReadingBatch, Subset, rounds
from gridwatch.records import AlertChange, DeviceEvent

METRICS = ELEVATOR_METRICS
OCC, RUN, DOOR, ZONE, SPEED, FLOOR = range(len(METRICS))
DOOR_FAULT = "elevator.door_fault"
# rule id -> alert type, severity, summary
CONDITIONS: dict[str, tuple[str, str, str]] = {
    "elevator-trapped": ("elevator.trapped", "critical", "{device} 疑似困人"),
    "elevator-door-open-moving": ("elevator.door_open_moving", "critical", "{device} 开门走梯"),
    "elevator-overspeed": ("elevator.overspeed", "critical", "{device} 超速 {value} m/s"),
    "elevator-overtravel": ("elevator.overtravel", "critical", "{device} 越层 {value}"),
    "elevator-door-faults": ("elevator.door_fault_repeated", "major", "{device} 门故障 {value} 次"),
}


class ElevatorRules:
    def __init__(self, spec: ElevatorRulesSpec, index: DeviceIndex) -> None:
        self.spec = spec
        self.devices = devices = Subset(index, index.members("elevator"))
        self.metric_row = np.full(max(index.metric_id.values(), default=-1) + 2, -1, np.intp)
        for row, metric in enumerate(METRICS):
            self.metric_row[index.metric_id[metric]] = row
        # Row per car, column per metric, addressed flat as car * len(METRICS) + metric,
        # so a batch scatters with one 1-D fancy index.
        self.value = np.full(len(devices) * len(METRICS), np.nan)
        self.ts = np.full(len(devices) * len(METRICS), -np.inf)
        self.p = per_device(
            devices,
            "elevator",
            {k: float(getattr(spec, k)) for k in spec.OVERRIDABLE},
            spec.overrides,
            spec.OVERRIDABLE,
        )
        hold = devices.floats(spec.hold_s)
        confirm = {
            "elevator-trapped": self.p["trapped_confirm_s"],
            "elevator-door-open-moving": devices.floats(spec.moving_confirm_s),
        }
        self.life = {
            rule: Lifecycle(
                devices,
                AlertTemplate(rule, kind, severity, summary, "elevator"),
                confirm.get(rule, devices.floats(0.0)),
                hold,
            )
            for rule, (kind, severity, summary) in CONDITIONS.items()
        }
        self.faults = np.full((len(devices), spec.door_faults), -np.inf)  # ring of fault times
        # Conditions a controller event has started and not yet ended: they stay active
        # whatever the status readings say, since the controller sees the car directly.
        self.held = {rule: devices.flags() for rule in self.life}
        self.held_ts = {rule: devices.floats(-np.inf) for rule in self.life}  # last said

    def process(self, batch: ReadingBatch) -> list[AlertChange]:
        local = self.devices.local_of[batch.slot]
        row = self.metric_row[batch.metric]  # metric -1 indexes the spare last entry
        mine = (local >= 0) & (row >= 0)
        car = local[mine]
        key = car * len(METRICS) + row[mine]
        t, v = batch.ts[mine], batch.value[mine]
        if len(key) == 0:
            return []
        if np.bincount(key).max() == 1:
            return self._apply(key, t, v)  # the live case: one report per car
        # Several reports of one car (a replay after a restart, a backlog): apply them
        # in device-time order, or a confirm time would count from the last report only.
        changes: list[AlertChange] = []
        for part in report_rounds(car, t):
            changes += self._apply(key[part], t[part], v[part])
        return changes

    def _apply(self, key: IntArray, t: FloatArray, v: FloatArray) -> list[AlertChange]:
        """Scatter one report per car (at most one value per car and metric)."""
        newer = (t > self.ts[key]) & np.isfinite(v)
        key, t, v = key[newer], t[newer], v[newer]
        self.ts[key] = t
        self.value[key] = v
        touched = self.devices.flags()  # a mask, not np.unique: no sort on the hot path
        touched[key // len(METRICS)] = True
        cars = np.flatnonzero(touched)
        table = self.ts.reshape(len(self.devices), len(METRICS))
        return self._evaluate(cars, table[cars].max(axis=1))

    def _evaluate(self, s: IntArray, t: FloatArray) -> list[AlertChange]:
        x = self.value.reshape(len(self.devices), len(METRICS))[s].T
        known = np.isfinite(x)
        occupied, running, door = x[OCC] == 1, x[RUN] == 1, x[DOOR] == 1
        stopped = x[RUN] == 0
        trapped = occupied & stopped & ((x[DOOR] == 0) | (x[ZONE] == 0))
        free = known[OCC] & known[RUN] & ~trapped
        moving_open = running & door
        rated = self.p["rated_speed_mps"][s]
        speed, floor = x[SPEED], x[FLOOR]
        top, bottom = self.p["top_floor"][s], self.p["bottom_floor"][s]
        outside = (floor > top) | (floor < bottom)
        door_known = known[RUN] & known[DOOR]
        factor = self.spec.overspeed_factor
        decisions = {
            "elevator-trapped": (trapped, free, floor),
            "elevator-door-open-moving": (moving_open, door_known & ~moving_open, speed),
            "elevator-overspeed": (speed > rated * factor, speed <= rated, speed),
            "elevator-overtravel": (outside, (floor <= top) & (floor >= bottom), floor),
        }
        changes: list[AlertChange] = []
        for rule, (starts, clears, value) in decisions.items():
            held = self.held[rule][s]
            changes += self.life[rule].step(s, t, starts | held, clears & ~held, value)
        return changes

    def claims(self, event: DeviceEvent) -> bool:
        """Is this a controller event of a composite's own condition, for one of our cars?"""
        return event.type in ELEVATOR_CONDITION_EVENTS and event.device in self.devices.local

    def condition_event(self, event: DeviceEvent) -> list[AlertChange]:
        """A controller's event raises the composite's alert at once (the controller has
        confirmed it; no confirm time) or updates it if the readings raised it first; its
        end is a clear decision, resolved after the hold like any other."""
        rule = ELEVATOR_CONDITION_EVENTS[event.type]
        slot = self.devices.local[event.device]
        life = self.life[rule]
        s = np.array([slot], dtype=np.intp)
        t = np.array([event.ts])
        v = np.array([np.nan if event.score is None else event.score])
        yes = np.ones(1, dtype=np.bool_)
        self.held[rule][slot] = event.state in ("start", "update")
        self.held_ts[rule][slot] = max(self.held_ts[rule][slot], event.ts)
        if event.state == "end":
            return life.step(s, t, ~yes, yes, v)
        changes = life.force(s, t, v)
        if event.state == "instant":  # no end will come: clear unless readings say otherwise
            changes += life.step(s, t, ~yes, yes, v)
        return changes

    def on_event(self, event: DeviceEvent) -> list[AlertChange]:
        """Count door faults; N of them within the window raise one alert."""
        slot = self.devices.local.get(event.device)
        if event.type != DOOR_FAULT or event.state not in ("start", "instant") or slot is None:
            return []
        if not self._note_fault(slot, event.ts):
            return []
        return self._door_faults(np.array([slot], dtype=np.intp), event.ts)

    def _note_fault(self, slot: int, ts: float) -> bool:
        """Keep a fault time in the car's ring; False if it cannot change the count."""
        ring = self.faults[slot]
        oldest = int(np.argmin(ring))
        if ts <= ring[oldest] or ts in ring:  # older than all kept, or seen (a replay)
            return False
        ring[oldest] = ts
        return True

    @property
    def replayed_event_types(self) -> tuple[str, ...]:
        return (DOOR_FAULT, *ELEVATOR_CONDITION_EVENTS)

    def warm_events(self, events: Sequence[DeviceEvent]) -> None:
        """After a restart, from stored events oldest first: the door-fault rings and the
        conditions a controller holds open. Decides nothing (the alert store has what
        fired); a condition's state already newer from live traffic is kept."""
        for event in sorted(events, key=lambda e: e.ts):
            slot = self.devices.local.get(event.device)
            if slot is None:
                continue
            if event.type == DOOR_FAULT and event.state in ("start", "instant"):
                self._note_fault(slot, event.ts)
            rule = ELEVATOR_CONDITION_EVENTS.get(event.type)
            if rule is not None and event.ts > self.held_ts[rule][slot]:
                self.held[rule][slot] = event.state in ("start", "update")
                self.held_ts[rule][slot] = event.ts

    def _door_faults(self, s: IntArray, now: float) -> list[AlertChange]:
        window = self.spec.door_fault_window_s
        recent = (self.faults[s] >= now - window).sum(axis=1)
        many = recent >= self.spec.door_faults
        # The ring holds exactly `door_faults` times, so the condition ended when its
        # oldest left the window: decide the clear at that moment, not at this tick.
        oldest = self.faults[s].min(axis=1)  # -inf while the ring is not yet full
        t = np.where(many | np.isinf(oldest), now, np.minimum(oldest + window, now))
        return self.life["elevator-door-faults"].step(s, t, many, ~many, recent.astype(float))

    def tick(self, now: float) -> list[AlertChange]:
        # Door-fault alerts clear with time, not with a reading: re-decide the firing ones
        # first, so the hold below counts from when the faults left the window.
        firing = np.flatnonzero(self.life["elevator-door-faults"].firing)
        changes = self._door_faults(firing, now)
        for life in self.life.values():
            changes += life.tick(now)
        return changes


def report_rounds(car: IntArray, t: FloatArray) -> list[IntArray]:
    """Positions of the readings split into rounds of at most one report (car, time)
    per car, in device-time order: `slots.rounds` over reports instead of readings, so
    the metrics of one report stay together."""
    reports, inverse = np.unique(np.stack([car.astype(np.float64), t]), axis=1, return_inverse=True)
    report_round = np.empty(reports.shape[1], dtype=np.intp)
    for k, pos in enumerate(rounds(reports[0].astype(np.intp), reports[1])):
        report_round[pos] = k
    reading_round = report_round[inverse.ravel()]
    order = np.argsort(reading_round, kind="stable")
    cuts = np.cumsum(np.bincount(reading_round))[:-1]
    return np.split(order, cuts)
