"""The scripted incidents: each steers simulated devices and emits the events the real
equipment would send.

The readings are what the backend's threshold rules catch (a smoke detector past
4 %/m, a heat detector rising 10 °C a minute); the events are what the fire panel, the
elevator monitor and the camera analysis report themselves. `update` and `end` events
carry the id of their `start` in `attrs.start_id`, since every event has its own id.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeVar

from edge.devices import (
    CameraSim,
    DeviceSim,
    ElevatorSim,
    Fleet,
    GasSim,
    HeatSim,
    PanelSim,
    Ramp,
    SmokeSim,
)
from gridwatch.records import DeviceEvent

SMOKE_RISE_PCT_M_S = 0.25  # from clean air past the 4 %/m alarm level in about 16 s
HEAT_RISE_C_S = 10.0 / 60.0
CO_RISE_PPM_S = 2.0
SMOKE_ALARM_PCT_M = 4.0  # where a point-type detector (GB 4715) goes into alarm
TRAPPED_AFTER_S = 10.0  # the monitor waits this long before calling it an entrapment
DWELL_REPORTED_AT_S = 180.0  # the camera reports a vehicle once it has stood this long
DWELL_UPDATE_S = 30.0
PARKING_ZONE = "red-line-1"

State = Literal["start", "update", "end", "instant"]
T = TypeVar("T", bound=DeviceSim)


class EventMaker:
    """Builds an agent's events with ids unique across restarts: the time in ms when the
    agent made its first event, and a counter."""

    def __init__(self, agent: str, now: float) -> None:
        self.agent = agent
        self._prefix = f"{agent}-{int(now * 1000)}"
        self._count = 0

    def __call__(
        self,
        device: str,
        type_: str,
        state: State,
        now: float,
        *,
        zone: str | None = None,
        score: float | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> DeviceEvent:
        self._count += 1
        return DeviceEvent(
            agent=self.agent,
            id=f"{self._prefix}-{self._count}",
            device=device,
            ts=round(now, 3),
            type=type_,
            state=state,
            zone=zone,
            score=score,
            attrs=attrs or {},
        )


class Incident:
    """One running incident. `key` is the building or device it occupies."""

    name: ClassVar[str]
    description: str

    def __init__(self, key: str, emit: EventMaker) -> None:
        self.key = key
        self.emit = emit

    def step(self, now: float) -> list[DeviceEvent]:
        return []

    def end(self, fleet: Fleet, now: float) -> list[DeviceEvent]:
        raise NotImplementedError


class Fire(Incident):
    name = "fire"

    def __init__(
        self, fleet: Fleet, smoke: SmokeSim, heat: HeatSim, now: float, emit: EventMaker
    ) -> None:
        building = smoke.spec.building
        super().__init__(building, emit)
        in_building = [s for s in fleet.sims if s.spec.building == building]
        panels = fleet.of_class(PanelSim)
        self.smoke = smoke
        self.panel = _first(in_building, PanelSim) or (panels[0] if panels else None)
        self.alarm_id: str | None = None
        self.point: dict[str, int] = {}
        self.steered: list[DeviceSim] = [smoke, heat]
        smoke.ramps["smoke_obscuration_pct_m"] = Ramp(
            now, _current(smoke, "smoke_obscuration_pct_m", now), SMOKE_RISE_PCT_M_S, 20.0
        )
        heat.ramps["temperature_c"] = Ramp(
            now, _current(heat, "temperature_c", now), HEAT_RISE_C_S, 90.0
        )
        gas = _first(in_building, GasSim)
        if gas is not None:  # a fire gives off CO too; a detector nearby would see it
            gas.ramps["co_ppm"] = Ramp(now, _current(gas, "co_ppm", now), CO_RISE_PPM_S, 400.0)
            self.steered.append(gas)
        for sim in self.steered:
            fleet.wake(sim.spec.id, now)
        panel = self.panel.spec.id if self.panel else "no fire panel"
        self.description = f"fire in building {building} (smoke {smoke.spec.id}, {panel})"

    def step(self, now: float) -> list[DeviceEvent]:
        ramp = self.smoke.ramps["smoke_obscuration_pct_m"]
        if self.alarm_id or self.panel is None or ramp.at(now) < SMOKE_ALARM_PCT_M:
            return []
        smoke = self.smoke.spec
        attrs: dict[str, Any] = {"building": self.key, "detector": smoke.id, "floor": smoke.floor}
        # A real panel reports the loop and address of the detector, not its id.
        self.point = next(
            ({"loop": p.loop, "point": p.point} for p in self.panel.spec.points
             if p.device == smoke.id), {},
        )
        attrs.update(self.point)
        event = self.emit(self.panel.spec.id, "fire.alarm", "start", now, attrs=attrs)
        self.alarm_id = event.id
        return [event]

    def end(self, fleet: Fleet, now: float) -> list[DeviceEvent]:
        for sim in self.steered:
            sim.ramps.clear()
            fleet.wake(sim.spec.id, now)
        if self.panel is None or self.alarm_id is None:
            return []
        device = self.panel.spec.id
        return [
            self.emit(device, "fire.reset", "instant", now, attrs={"building": self.key}),
            self.emit(device, "fire.alarm", "end", now,
                      attrs={"start_id": self.alarm_id, **self.point}),
        ]


class Entrapment(Incident):
    name = "entrapment"

    def __init__(self, sim: ElevatorSim, fleet: Fleet, now: float, emit: EventMaker) -> None:
        super().__init__(sim.spec.id, emit)
        self.sim = sim
        self.since = now
        self.start_id: str | None = None
        sim.car.trap(now)
        sim.alarming = True
        fleet.wake(sim.spec.id, now)
        self.description = f"entrapment in elevator {sim.spec.id} (building {sim.spec.building})"

    def step(self, now: float) -> list[DeviceEvent]:
        if self.start_id or now - self.since < TRAPPED_AFTER_S:
            return []
        attrs = {"floor": int(self.sim.car.pos), "building": self.sim.spec.building}
        event = self.emit(self.key, "elevator.trapped", "start", now, attrs=attrs)
        self.start_id = event.id
        return [event]

    def end(self, fleet: Fleet, now: float) -> list[DeviceEvent]:
        self.sim.car.release(now)
        self.sim.alarming = False
        fleet.wake(self.key, now)
        if self.start_id is None:
            return []
        return [
            self.emit(self.key, "elevator.trapped", "end", now, attrs={"start_id": self.start_id})
        ]


class IllegalParking(Incident):
    name = "illegal_parking"

    def __init__(self, sim: CameraSim, now: float, emit: EventMaker, score: float) -> None:
        super().__init__(sim.spec.id, emit)
        self.sim = sim
        self.since = now - DWELL_REPORTED_AT_S
        self.score = score
        self.start_id: str | None = None
        self.last_report = now
        sim.parked += 1
        self.description = f"illegal parking in {PARKING_ZONE} of camera {sim.spec.id}"

    def _event(self, state: State, now: float) -> DeviceEvent:
        attrs: dict[str, Any] = {"dwell_s": round(now - self.since, 1)}
        if self.start_id:
            attrs["start_id"] = self.start_id
        self.last_report = now
        return self.emit(
            self.key,
            "camera.vehicle_dwell",
            state,
            now,
            zone=PARKING_ZONE,
            score=self.score,
            attrs=attrs,
        )

    def step(self, now: float) -> list[DeviceEvent]:
        if self.start_id is None:
            event = self._event("start", now)
            self.start_id = event.id
            return [event]
        if now - self.last_report >= DWELL_UPDATE_S:
            return [self._event("update", now)]
        return []

    def end(self, fleet: Fleet, now: float) -> list[DeviceEvent]:
        self.sim.parked -= 1
        return [self._event("end", now)] if self.start_id else []


class DeviceSilent(Incident):
    name = "device_silent"

    def __init__(self, sim: DeviceSim, emit: EventMaker) -> None:
        super().__init__(sim.spec.id, emit)
        self.sim = sim
        sim.silent = True
        self.description = f"device {sim.spec.id} ({sim.spec.type}) silent"

    def end(self, fleet: Fleet, now: float) -> list[DeviceEvent]:
        self.sim.silent = False
        fleet.wake(self.key, now)
        return []


def _first(sims: list[DeviceSim], cls: type[T]) -> T | None:
    return next((s for s in sims if isinstance(s, cls)), None)


def _current(sim: DeviceSim, metric: str, now: float) -> float:
    """Where a ramp starts: the last value reported, or a fresh reading before the first."""
    last = sim.last.get(metric)
    return last if last is not None else sim.read(now)[metric]
