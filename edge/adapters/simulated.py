"""The backbone's simulators (`edge.devices`) and scripted incidents (`edge.scenarios`)
behind the adapter interface."""

from __future__ import annotations

import numpy as np

from config.models import DeviceSpec
from edge.adapters.base import DeviceHealth, Polled
from edge.devices import Fleet
from edge.scenarios import Scenarios


class SimulatorAdapter:
    name = "simulators"

    def __init__(
        self, agent: str, specs: list[DeviceSpec], rng: np.random.Generator, now: float
    ) -> None:
        self.fleet = Fleet(agent, specs, rng, now)
        self.scenarios = Scenarios(agent, self.fleet, rng, now)

    def start(self) -> None:
        pass  # nothing to open: the devices live in memory

    def stop(self) -> None:
        pass

    def trigger(self, scenario: str, target: str | None, now: float) -> str:
        return self.scenarios.trigger(scenario, target, now)

    def poll(self, now: float) -> Polled:
        # Scenario events first: they are what the readings of the same tick explain.
        events = self.scenarios.step(now)
        return Polled(self.fleet.due(now), events)

    def health(self, now: float) -> list[DeviceHealth]:
        return self.fleet.health()
