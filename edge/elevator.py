"""An elevator car as a small trip state machine, in continuous time.

The car idles, opens its doors for a call, travels, opens them at the destination and
idles again. `status(now)` first replays every phase that ended since the last call, so
whatever the reporting interval, a sample is coherent: the doors are shut while the car
moves, and a car standing at a landing is in the door zone. An entrapment freezes the car
between two landings until it is released.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

FLOOR_HEIGHT_M = 3.0
DOOR_ZONE_FLOORS = 0.05  # ±15 cm of a landing, the usual door-zone sensor span
DOOR_OPEN_S = 6.0
IDLE_MEAN_S = 40.0
RIDER_SHARE = 0.85  # the rest are empty cars answering a call from another floor

Phase = Literal["idle", "doors", "moving", "trapped"]


class ElevatorCar:
    def __init__(self, rng: np.random.Generator, lowest: int, highest: int, now: float) -> None:
        if highest <= lowest:
            raise ValueError(f"an elevator needs two landings, got {lowest}..{highest}")
        self.rng = rng
        self.lowest = lowest
        self.highest = highest
        self.speed_mps = float(rng.choice([1.0, 1.5, 1.75]))
        self.pos = float(lowest)  # in floors; fractional between landings
        self.phase: Phase = "idle"
        self.phase_start = now
        self.phase_end = now + float(rng.exponential(IDLE_MEAN_S))
        self.boarding = False  # which of the two door phases of a trip this is
        self.target = lowest
        self.direction = 0
        self.occupied = False

    @property
    def trapped(self) -> bool:
        return self.phase == "trapped"

    def status(self, now: float) -> dict[str, float]:
        """The GB/T 24476 status items at `now`."""
        self._advance(now)
        pos = self._position(now)
        moving = self.phase == "moving"
        level = math.floor(pos + 0.5)
        in_zone = abs(pos - level) <= DOOR_ZONE_FLOORS
        speed = self.speed_mps * float(self.rng.uniform(0.97, 1.02)) if moving else 0.0
        vibration = float(self.rng.gamma(4.0, 0.008 if moving else 0.0008))
        return {
            "speed_mps": speed,
            # The landing indicator shows the landing below a car stuck between two.
            "floor": float(level if in_zone or moving else math.floor(pos)),
            "door_open": float(self.phase == "doors"),
            "in_door_zone": float(in_zone),
            "car_occupied": float(self.occupied),
            "running": float(moving),
            "direction": float(self.direction if moving else 0),
            "mode": 0.0,
            "vibration_rms_g": vibration,
        }

    def trap(self, now: float) -> None:
        """Stop between two landings with a passenger inside."""
        self._advance(now)
        pos = self._position(now)
        below = min(math.floor(pos), self.highest - 1)
        self.pos = below + 0.5
        self.phase, self.phase_start, self.phase_end = "trapped", now, math.inf
        self.direction = 0
        self.occupied = True

    def release(self, now: float) -> None:
        """The rescue: level the car to the landing below and let the passenger out."""
        if not self.trapped:
            return
        self.pos = float(math.floor(self.pos))
        self.boarding = False
        self.phase, self.phase_start, self.phase_end = "doors", now, now + DOOR_OPEN_S

    def _position(self, now: float) -> float:
        if self.phase != "moving":
            return self.pos
        travelled = (now - self.phase_start) * self.speed_mps / FLOOR_HEIGHT_M
        return (
            min(self.pos + travelled, self.target)
            if self.direction > 0
            else max(self.pos - travelled, self.target)
        )

    def _advance(self, now: float) -> None:
        while now >= self.phase_end:
            self._next_phase(self.phase_end)

    def _next_phase(self, t: float) -> None:
        if self.phase == "idle":
            self.occupied = bool(self.rng.random() < RIDER_SHARE)
            self.boarding = True
            self._enter("doors", t, DOOR_OPEN_S)
        elif self.phase == "doors" and self.boarding:
            here = int(self.pos)
            choices = [f for f in range(self.lowest, self.highest + 1) if f != here]
            self.target = int(self.rng.choice(choices))
            self.direction = 1 if self.target > here else -1
            self._enter("moving", t, abs(self.target - here) * FLOOR_HEIGHT_M / self.speed_mps)
        elif self.phase == "moving":
            self.pos = float(self.target)
            self.direction = 0
            self.boarding = False
            self._enter("doors", t, DOOR_OPEN_S)
        else:
            self.occupied = False
            self._enter("idle", t, float(self.rng.exponential(IDLE_MEAN_S)))

    def _enter(self, phase: Phase, t: float, duration_s: float) -> None:
        self.phase, self.phase_start, self.phase_end = phase, t, t + duration_s
