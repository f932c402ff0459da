"""Scenarios by name, for the demo and the tests: `fire`, `entrapment`, `illegal_parking`,
`device_silent`, and `clear` to end them.

A scenario may name its target: a device id, or a building (for a fire, any device in
the building will do). Without one it picks deterministically: the first candidate by
device id that no running incident occupies. The incidents themselves live in
`edge.incidents`; this is where names are resolved and incidents run and end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from edge.devices import CameraSim, DeviceSim, ElevatorSim, Fleet, HeatSim, SmokeSim
from edge.incidents import (
    DeviceSilent,
    Entrapment,
    EventMaker,
    Fire,
    IllegalParking,
    Incident,
)
from gridwatch.records import DeviceEvent

SCENARIOS = ("fire", "entrapment", "illegal_parking", "device_silent", "clear")

T = TypeVar("T", bound=DeviceSim)


class Scenarios:
    """The incidents running on one agent. Not thread-safe: the agent holds its lock."""

    def __init__(self, agent: str, fleet: Fleet, rng: np.random.Generator, now: float) -> None:
        self.agent = agent
        self.fleet = fleet
        self.rng = rng
        self.emit = EventMaker(agent, now)
        self.active: list[Incident] = []
        self._ended: list[DeviceEvent] = []  # from `clear`, sent with the next step
        self._starters: dict[str, Callable[[str | None, float], Incident]] = {
            "fire": self._fire,
            "entrapment": self._entrapment,
            "illegal_parking": self._parking,
            "device_silent": self._silent,
        }

    def trigger(self, name: str, target: str | None, now: float) -> str:
        """Start (or with `clear`, end) a scenario; returns what it did, in words."""
        if name == "clear":
            return self._clear(target, now)
        start = self._starters.get(name)
        if start is None:
            raise ValueError(f"unknown scenario {name!r}; valid: {', '.join(SCENARIOS)}")
        incident = start(target, now)
        self.active.append(incident)
        return incident.description

    def step(self, now: float) -> list[DeviceEvent]:
        events, self._ended = self._ended, []
        for incident in self.active:
            events.extend(incident.step(now))
        return events

    def _clear(self, target: str | None, now: float) -> str:
        chosen = [i for i in self.active if target is None or target in (i.name, i.key)]
        if target is not None and not chosen:
            raise ValueError(f"clear: no running scenario is {target!r} or affects it")
        for incident in chosen:
            self._ended.extend(incident.end(self.fleet, now))
            self.active.remove(incident)
        if not chosen:
            return "nothing to clear"
        return "cleared " + "; ".join(i.description for i in chosen)

    def _fire(self, target: str | None, now: float) -> Incident:
        heat_of: dict[str, HeatSim] = {}
        for heat in self.fleet.of_class(HeatSim):
            heat_of.setdefault(heat.spec.building, heat)
        smokes = [s for s in self.fleet.of_class(SmokeSim) if s.spec.building in heat_of]
        if target is not None:
            named = self.fleet.get(target)
            building = named.spec.building if named is not None else target
            smokes = [s for s in smokes if s.spec.building == building]
        busy = self._busy()
        free = [s for s in smokes if s.spec.building not in busy]
        if not free:
            raise ValueError(
                self._none_left(
                    "fire", "building with a smoke and a heat detector", target, found=bool(smokes)
                )
            )
        smoke = free[0]
        return Fire(self.fleet, smoke, heat_of[smoke.spec.building], now, self.emit)

    def _entrapment(self, target: str | None, now: float) -> Incident:
        car = self._pick(ElevatorSim, target, "entrapment", "elevator")
        return Entrapment(car, self.fleet, now, self.emit)

    def _parking(self, target: str | None, now: float) -> Incident:
        camera = self._pick(CameraSim, target, "illegal_parking", "camera")
        return IllegalParking(camera, now, self.emit, round(float(self.rng.uniform(0.86, 0.95)), 2))

    def _silent(self, target: str | None, now: float) -> Incident:
        return DeviceSilent(self._pick(DeviceSim, target, "device_silent", "device"), self.emit)

    def _pick(self, cls: type[T], target: str | None, scenario: str, what: str) -> T:
        sims = self.fleet.of_class(cls)
        if target is not None:
            sims = [s for s in sims if target in (s.spec.id, s.spec.building)]
        busy = self._busy()
        free = [s for s in sims if s.spec.id not in busy]
        if not free:
            raise ValueError(self._none_left(scenario, what, target, found=bool(sims)))
        return free[0]

    def _busy(self) -> set[str]:
        return {i.key for i in self.active}

    def _none_left(self, scenario: str, what: str, target: str | None, *, found: bool) -> str:
        where = f"agent {self.agent}" + (f" matching {target!r}" if target else "")
        if found:
            return f"{scenario}: every {what} of {where} is already in a running scenario"
        return f"{scenario}: no {what} on {where}"
