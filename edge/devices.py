"""Simulated field devices of one edge agent: what each type reads, and when it is due.

Every value comes from one seeded numpy Generator per agent, so the same seed and the
same clock give the same run. Per-device state is a handful of floats, and which devices
are due is one vectorised comparison per tick, so a 55-device agent costs next to nothing.
Scenarios (`edge.scenarios`) steer devices through `ramps`, `alarming` and `silent`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

from config.models import DeviceSpec
from edge.elevator import ElevatorCar
from gridwatch.local_hours import local_hour
from gridwatch.records import Reading

FAST_INTERVAL_S = 2.0  # detectors in alarm report on change; this stands in for that
FIRST_REPORT_SPREAD_S = 5.0  # a new agent's devices all show up within this, not in one burst
BATTERY_DRAIN_PCT = 0.002  # per report: noticeable over weeks, not within a demo


def daylight(ts: float) -> float:
    """0 at night, rising to 1 in the early afternoon, local time."""
    hour = local_hour(ts)
    return max(0.0, math.sin(math.pi * (hour - 6.0) / 15.0)) if 6.0 <= hour <= 21.0 else 0.0


@dataclass(slots=True)
class Ramp:
    """A scripted value: `start` at `t0`, changing by `rate` per second, held at `limit`."""

    t0: float
    start: float
    rate: float
    limit: float

    def at(self, now: float) -> float:
        value = self.start + self.rate * max(0.0, now - self.t0)
        return min(value, self.limit) if self.rate >= 0 else max(value, self.limit)


class DeviceSim:
    """What every simulated device shares: battery, radio, and the scenario hooks."""

    battery_range: ClassVar[tuple[float, float] | None] = (15.0, 100.0)
    battery_drain: ClassVar[float] = BATTERY_DRAIN_PCT
    radio: ClassVar[bool] = True  # NB-IoT / LoRa sensors have an rssi; wired devices do not

    def __init__(self, spec: DeviceSpec, rng: np.random.Generator, now: float) -> None:
        self.spec = spec
        self.rng = rng
        self.silent = False
        self.alarming = False
        self.ramps: dict[str, Ramp] = {}
        self.last: dict[str, float] = {}
        lo_hi = self.battery_range
        self.battery = float(rng.uniform(*lo_hi)) if lo_hi else None
        self.rssi = float(rng.uniform(-90.0, -50.0)) if self.radio else None

    @property
    def interval_s(self) -> float:
        if self.ramps or self.alarming:
            return min(self.spec.interval_s, FAST_INTERVAL_S)
        return self.spec.interval_s

    def read(self, now: float) -> dict[str, float]:
        """The device's own metrics at `now`, before scenario ramps."""
        raise NotImplementedError

    def sample(self, now: float) -> dict[str, float]:
        values = self.read(now)
        for metric, ramp in self.ramps.items():
            values[metric] = ramp.at(now)
        if self.battery is not None:
            self.battery = max(0.0, self.battery - self.battery_drain)
            values["battery_pct"] = self.battery
        self.last = {m: round(v, 3) for m, v in values.items()}
        return self.last

    def health(self) -> dict[str, Any]:
        rssi = None if self.rssi is None else round(self.rssi + float(self.rng.normal(0, 2)))
        battery = None if self.battery is None else round(self.battery)
        return {"device": self.spec.id, "battery": battery, "rssi": rssi, "fault": None}


class SmokeSim(DeviceSim):
    def read(self, now: float) -> dict[str, float]:
        return {"smoke_obscuration_pct_m": float(self.rng.uniform(0.1, 0.4))}


class HeatSim(DeviceSim):
    def __init__(self, spec: DeviceSpec, rng: np.random.Generator, now: float) -> None:
        super().__init__(spec, rng, now)
        self.mean_c = float(rng.uniform(22.0, 24.0))

    def read(self, now: float) -> dict[str, float]:
        hour = local_hour(now)  # the daily rhythm of heat
        diurnal = 3.0 * math.sin(2.0 * math.pi * (hour - 9.0) / 24.0)  # warmest mid-afternoon
        return {"temperature_c": self.mean_c + diurnal + float(self.rng.normal(0, 0.15))}


class GasSim(DeviceSim):
    def read(self, now: float) -> dict[str, float]:
        return {"co_ppm": abs(float(self.rng.normal(1.0, 0.6)))}


class PressureSim(DeviceSim):
    NOMINAL_MPA: ClassVar[dict[str, float]] = {"hydrant_pressure": 0.30, "sprinkler_pressure": 0.15}

    def __init__(self, spec: DeviceSpec, rng: np.random.Generator, now: float) -> None:
        super().__init__(spec, rng, now)
        self.nominal = self.NOMINAL_MPA[spec.type] * float(rng.uniform(0.93, 1.07))

    def read(self, now: float) -> dict[str, float]:
        noise = float(self.rng.normal(0, 0.013 * self.nominal))
        return {"water_pressure_mpa": max(0.0, self.nominal + noise)}


class TankSim(DeviceSim):
    def __init__(self, spec: DeviceSpec, rng: np.random.Generator, now: float) -> None:
        super().__init__(spec, rng, now)
        self.full_m = float(rng.uniform(2.8, 3.6))

    def read(self, now: float) -> dict[str, float]:
        draw = 0.6 * daylight(now)  # drawn down by day, refilled at night
        return {"water_level_m": self.full_m - draw + float(self.rng.normal(0, 0.01))}


class PumpSim(DeviceSim):
    """A fire pump set on standby: the main pumps rest while a jockey pump (稳压泵) keeps
    the pipes' pressure in a band. Leaks let it fall; at the band's floor the jockey
    starts (current, vibration and motor heat up; inlet pressure dips as it draws) and
    runs until the band's top. The metrics move together, which the rig rule learns."""

    battery_range = None
    radio = False
    LEAK_MPA_S = 3.5e-5  # about 0.02 MPa in ten minutes
    FILL_MPA_S = 8e-4  # the jockey refills the band in about a minute and a half
    BAND_MPA = (0.60, 0.68)

    def __init__(self, spec: DeviceSpec, rng: np.random.Generator, now: float) -> None:
        super().__init__(spec, rng, now)
        low, high = self.BAND_MPA
        self.pressure = float(rng.uniform(low, high))
        self.running = False
        self.heat_c = 0.0  # the motor above ambient
        self.at = now

    def read(self, now: float) -> dict[str, float]:
        dt = max(0.0, now - self.at)
        self.at = now
        low, high = self.BAND_MPA
        self.pressure += (self.FILL_MPA_S if self.running else -self.LEAK_MPA_S) * dt
        if self.pressure <= low:
            self.running = True
        elif self.pressure >= high:
            self.running = False
        # The motor warms toward 8 °C over ambient while it runs, cools while it rests.
        target = 8.0 if self.running else 0.0
        self.heat_c += (target - self.heat_c) * (1.0 - math.exp(-dt / 300.0))
        ambient = 18.0 + 3.0 * daylight(now)
        noise = self.rng.normal(0.0, 1.0, 5)
        return {
            "outlet_pressure_mpa": self.pressure + 0.003 * float(noise[0]),
            "inlet_pressure_mpa": 0.12 - (0.01 if self.running else 0.0) + 0.002 * float(noise[1]),
            "motor_current_a": (4.0 if self.running else 0.3) + 0.05 * float(noise[2]),
            "motor_temp_c": ambient + self.heat_c + 0.1 * float(noise[3]),
            "vibration_mm_s": (1.2 if self.running else 0.1) + 0.03 * float(noise[4]),
        }


class PanelSim(DeviceSim):
    """The fire alarm controller: its heartbeat is the state of its backup battery."""

    battery_range = (92.0, 100.0)
    battery_drain = 0.0  # float-charged from the mains
    radio = False

    def read(self, now: float) -> dict[str, float]:
        return {}


class CameraSim(DeviceSim):
    battery_range = None
    radio = False

    def __init__(self, spec: DeviceSpec, rng: np.random.Generator, now: float) -> None:
        super().__init__(spec, rng, now)
        self.parked = 0  # vehicles a scenario has left standing in view

    def read(self, now: float) -> dict[str, float]:
        day = daylight(now)
        return {
            "people_count": float(self.rng.poisson(0.5 + 8.0 * day)),
            "vehicle_count": float(self.rng.poisson(0.3 + 2.5 * day) + self.parked),
            "fps": min(25.0, float(self.rng.normal(24.9, 0.2))),
        }


class ElevatorSim(DeviceSim):
    battery_range = None
    radio = False

    def __init__(
        self, spec: DeviceSpec, rng: np.random.Generator, now: float, top_floor: int | None = None
    ) -> None:
        super().__init__(spec, rng, now)
        lowest = min(1, spec.floor)
        if top_floor is None or top_floor <= lowest:
            top_floor = lowest + int(rng.integers(4, 7))  # most blocks here are walk-ups
        self.car = ElevatorCar(rng, lowest, top_floor, now)

    def read(self, now: float) -> dict[str, float]:
        return self.car.status(now)


SIM_CLASSES: dict[str, type[DeviceSim]] = {
    "smoke_detector": SmokeSim,
    "heat_detector": HeatSim,
    "gas_detector": GasSim,
    "hydrant_pressure": PressureSim,
    "sprinkler_pressure": PressureSim,
    "water_tank": TankSim,
    "fire_panel": PanelSim,
    "fire_pump": PumpSim,
    "camera": CameraSim,
    "elevator": ElevatorSim,
}

S = TypeVar("S", bound=DeviceSim)


class Fleet:
    """The simulated devices of one agent, and the schedule of their next reports."""

    def __init__(
        self, agent: str, specs: list[DeviceSpec], rng: np.random.Generator, now: float
    ) -> None:
        self.agent = agent
        # A car serves up to the highest floor anything else is fitted on in its building.
        tops: dict[str, int] = {}
        for s in specs:
            if s.type != "water_tank":  # tanks sit on the roof, above the last landing
                tops[s.building] = max(s.floor, tops.get(s.building, s.floor))
        self.sims = [
            ElevatorSim(s, rng, now, tops.get(s.building))
            if s.type == "elevator"
            else SIM_CLASSES[s.type](s, rng, now)
            for s in sorted(specs, key=lambda s: s.id)
        ]
        self._index = {sim.spec.id: i for i, sim in enumerate(self.sims)}
        spread = np.minimum([s.spec.interval_s for s in self.sims], FIRST_REPORT_SPREAD_S)
        self._next_due = now + rng.uniform(0.0, 1.0, len(self.sims)) * spread

    def get(self, device: str) -> DeviceSim | None:
        i = self._index.get(device)
        return None if i is None else self.sims[i]

    def of_class(self, cls: type[S]) -> list[S]:
        return [s for s in self.sims if isinstance(s, cls)]

    def wake(self, device: str, now: float) -> None:
        """Report at the next tick, e.g. when a scenario changes what the device reads."""
        self._next_due[self._index[device]] = now

    def due(self, now: float) -> list[Reading]:
        readings: list[Reading] = []
        ts = round(now, 3)
        for i in np.flatnonzero(self._next_due <= now):
            sim = self.sims[i]
            following = self._next_due[i] + sim.interval_s
            # After a stall, report once and carry on, rather than once per missed slot.
            self._next_due[i] = following if following > now else now + sim.interval_s
            if sim.silent:
                continue
            device = sim.spec.id
            readings.extend(
                Reading(self.agent, device, metric, ts, value)
                for metric, value in sim.sample(now).items()
            )
        return readings

    def health(self) -> list[dict[str, Any]]:
        # A silent device is one the agent cannot hear, so it has nothing to say about it.
        return [sim.health() for sim in self.sims if not sim.silent]
