"""The reference for `gridwatch bench detectors`: the same rules as the engine, written
the obvious way, one Python object per device and a loop over readings. Kept honest
with deques and running sums (no rescans), and checked against the engine by a test."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence

from config.models import ThresholdRuleSpec
from config.models_rules import ElevatorRulesSpec, ReadingRuleSpec
from config.registry import Registry

Change = tuple[str, str]  # fingerprint, kind


class _Life:
    __slots__ = ("calm", "firing", "pending")

    def __init__(self) -> None:
        self.firing = False
        self.pending: float | None = None
        self.calm: float | None = None

    def step(self, t: float, starts: bool, clears: bool, min_d: float, hold: float) -> str | None:
        active = starts or (not clears and (self.firing or self.pending is not None))
        if not self.firing:
            if not active:
                self.pending = None
                return None
            since = t if self.pending is None else self.pending
            if t - since >= min_d:
                self.firing, self.pending = True, None
                return "fire"
            self.pending = since
            return None
        if active:
            self.calm = None
            return None
        calm = t if self.calm is None else self.calm
        if t - calm >= hold:
            self.firing, self.calm = False, None
            return "resolve"
        self.calm = calm
        return None


class _Device:
    def __init__(self) -> None:
        self.life: dict[str, _Life] = {}
        self.window: dict[str, deque[tuple[float, float]]] = {}
        self.flat: dict[str, list[float]] = {}  # ref, changed_at, same
        self.noise: dict[str, tuple[deque[int], list[float]]] = {}  # flags, [sum, prev, dir]
        self.latest: dict[str, float] = {}


class LoopRules:
    def __init__(self, registry: Registry) -> None:
        self.types = {d.id: d.type for d in registry.devices.values()}
        self.devices = {d: _Device() for d in self.types}
        rules = registry.rules
        self.rules: list[ReadingRuleSpec | ThresholdRuleSpec] = [
            *rules.thresholds,
            *rules.rates,
            *rules.ranges,
            *rules.flatlines,
            *rules.noisy,
        ]
        self.elevator: ElevatorRulesSpec | None = rules.elevator
        # Looked up once, not per reading, so the reference is plain Python at its best.
        self.params = {r.id: r.model_dump() for r in self.rules}
        self.by_key: dict[tuple[str, str], list[ReadingRuleSpec | ThresholdRuleSpec]] = {}
        for r in self.rules:
            self.by_key.setdefault((r.device_type, r.metric), []).append(r)

    def step(self, readings: Iterable[tuple[str, str, float, float]]) -> list[Change]:
        out: list[Change] = []
        touched: dict[str, float] = {}
        for device, metric, t, v in readings:
            state = self.devices[device]
            kind = self.types[device]
            if kind == "elevator":
                state.latest[metric] = v
                touched[device] = t
                continue
            for rule in self.by_key.get((kind, metric), ()):
                decision = self._decide(rule, state, t, v)
                if decision is not None:
                    out += self._life(state, rule.id, device, t, decision, rule)
        if self.elevator is not None:
            for device, t in touched.items():
                out += self._elevator(self.elevator, device, t)
        return out

    def _life(
        self,
        state: _Device,
        rule_id: str,
        device: str,
        t: float,
        decision: tuple[bool, bool],
        rule: ReadingRuleSpec | ThresholdRuleSpec,
    ) -> list[Change]:
        life = state.life.setdefault(rule_id, _Life())
        hold = getattr(rule, "hold_s", 0.0)
        kind = life.step(t, decision[0], decision[1], rule.min_duration_s, hold)
        return [(f"{rule_id}:{device}", kind)] if kind else []

    def _decide(
        self, rule: ReadingRuleSpec | ThresholdRuleSpec, st: _Device, t: float, v: float
    ) -> tuple[bool, bool] | None:
        if isinstance(rule, ThresholdRuleSpec):
            sign = 1.0 if rule.direction == "above" else -1.0
            return sign * v >= sign * rule.fire_at, sign * v < sign * rule.clear_at
        p = self.params[rule.id]
        if "window_s" in p:
            win = st.window.setdefault(rule.id, deque())
            win.append((t, v))
            while win[0][0] < t - p["window_s"]:
                win.popleft()
            t0, v0 = win[0]
            if t - t0 < p["window_s"] / 2:
                return None
            rate = (1.0 if p["direction"] == "rise" else -1.0) * (v - v0) * 60 / (t - t0)
            return rate >= p["fire_per_min"], rate < p["clear_per_min"]
        if "low" in p:
            ok = p["low"] <= v <= p["high"]
            return not ok, ok
        if "stuck_s" in p:
            f = st.flat.setdefault(rule.id, [math.nan, t, 0.0])
            if not abs(v - f[0]) <= p["tolerance"]:
                f[0], f[1], f[2] = v, t, 1.0
            else:
                f[2] += 1
            stuck = f[2] >= p["samples"] and t - f[1] >= p["stuck_s"]
            return stuck, not stuck
        flags, acc = st.noise.setdefault(rule.id, (deque(maxlen=p["samples"]), [0, math.nan, 0]))
        step = v - acc[1]
        big = abs(step) >= max(p["min_step"], 1e-12)
        direction = (1 if step > 0 else -1) if big else 0
        flag = int(direction != 0 and acc[2] != 0 and direction != acc[2])
        if len(flags) == flags.maxlen:
            acc[0] -= flags[0]
        flags.append(flag)
        acc[0] += flag
        acc[1] = v
        acc[2] = direction if big else acc[2]
        return acc[0] >= p["fire_reversals"], acc[0] < p["clear_reversals"]

    def _elevator(self, spec: ElevatorRulesSpec, device: str, t: float) -> list[Change]:
        state = self.devices[device]
        x = state.latest
        occ, run = x.get("car_occupied"), x.get("running")
        door, zone = x.get("door_open"), x.get("in_door_zone")
        speed, floor = x.get("speed_mps", math.nan), x.get("floor", math.nan)
        rated = spec.rated_speed_mps
        trapped = occ == 1 and run == 0 and (door == 0 or zone == 0)
        moving_open = run == 1 and door == 1
        decisions: Sequence[tuple[str, bool, bool, float]] = (
            ("elevator-trapped", trapped, occ is not None and run is not None and not trapped,
             spec.trapped_confirm_s),
            ("elevator-door-open-moving", moving_open,
             run is not None and door is not None and not moving_open, spec.moving_confirm_s),
            ("elevator-overspeed", speed > rated * spec.overspeed_factor, speed <= rated, 0.0),
            ("elevator-overtravel", floor > spec.top_floor or floor < spec.bottom_floor,
             spec.bottom_floor <= floor <= spec.top_floor, 0.0),
        )
        out: list[Change] = []
        for rule_id, starts, clears, min_d in decisions:
            life = state.life.setdefault(rule_id, _Life())
            kind = life.step(t, starts, clears, min_d, spec.hold_s)
            if kind:
                out.append((f"{rule_id}:{device}", kind))
        return out
