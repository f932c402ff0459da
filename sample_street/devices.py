"""The devices of the sample street: about 55 per residential area, placed like real ones.

Liangcheng Xincun is mostly six-storey walk-ups from the 1980s, many with an elevator
added later, plus a few high-rises per area. Each area draws its buildings and device
counts from its own seeded generator, so one area's numbers never shift another's.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from sample_street.grid import AreaPlan

SEED = "gridwatch-sample-street-1"

# type -> (id abbreviation, expected reporting interval in seconds, (min, max) per area)
DEVICE_KINDS: dict[str, tuple[str, float, tuple[int, int]]] = {
    "camera": ("cam", 30.0, (7, 11)),
    "elevator": ("elv", 5.0, (4, 8)),
    "smoke_detector": ("smk", 60.0, (20, 28)),
    "heat_detector": ("het", 60.0, (5, 8)),
    "gas_detector": ("gas", 60.0, (2, 4)),
    "hydrant_pressure": ("hyd", 30.0, (3, 3)),
    "sprinkler_pressure": ("spr", 30.0, (2, 2)),
    "water_tank": ("tnk", 60.0, (1, 1)),
    "fire_panel": ("fap", 30.0, (1, 1)),
    "fire_pump": ("pmp", 10.0, (1, 1)),
}
# Kinds added after the street was first drawn: one per area, drawn from no generator,
# so every device drawn before keeps its id and place.
FIXED_KINDS = ("fire_pump",)


@dataclass(frozen=True, slots=True)
class Building:
    number: int
    floors: int
    micro: str  # micro-grid path


@dataclass(frozen=True, slots=True)
class Maintainers:
    elevator: str
    fire: str
    camera: str

    def of(self, device_type: str) -> str:
        if device_type == "elevator":
            return self.elevator
        return self.camera if device_type == "camera" else self.fire


def area_devices(area: AreaPlan, maintainers: Maintainers) -> list[dict[str, object]]:
    rng = random.Random(f"{SEED}/{area.id}")
    buildings = _buildings(area, rng)
    tall = sorted((b for b in buildings if b.floors > 7), key=lambda b: -b.floors)
    counts = {t: rng.randint(*spec[2]) for t, spec in DEVICE_KINDS.items() if t not in FIXED_KINDS}
    placed: list[tuple[str, Building, int]] = []  # (type, building, floor)
    placed += [("elevator", b, 1) for b in _elevator_buildings(buildings, tall, counts, rng)]
    placed += [("camera", buildings[i % len(buildings)], 1) for i in range(counts["camera"])]
    for _ in range(counts["smoke_detector"]):
        b = rng.choice(buildings)
        placed.append(("smoke_detector", b, rng.randint(1, b.floors)))
    # Heat detectors guard the e-bike charging sheds and ground-floor kitchens; gas
    # detectors the gas meter rooms: all on the ground floor.
    placed += [("heat_detector", rng.choice(buildings), 1) for _ in range(counts["heat_detector"])]
    placed += [("gas_detector", rng.choice(buildings), 1) for _ in range(counts["gas_detector"])]
    # Pressure is watched at the least favourable point: the top floor of the tall blocks.
    for kind in ("hydrant_pressure", "sprinkler_pressure"):
        placed += [(kind, b, b.floors) for b in _cycle(tall, counts[kind])]
    placed += [("water_tank", tall[0], tall[0].floors + 1)]  # on the roof
    placed += [("fire_panel", tall[0], 1)]  # in the control room
    # The fire pump set (消防泵组: pressures, motor current and temperature, vibration in
    # one monitor) in the pump room at the foot of the tallest block, which it feeds.
    placed += [("fire_pump", tall[0], 1)]
    devices = _with_ids(area, placed, maintainers)
    _place(devices, {b.number: b for b in buildings}, random.Random(f"{SEED}/{area.id}/places"))
    return devices


# Where each kind of device is found; a random one of the list (own generator, so the
# places never shift the device set drawn above).
PLACES: dict[str, tuple[str, ...]] = {
    "smoke_detector": ("电梯前室", "楼梯间", "走道", "配电间", "弱电间"),
    "heat_detector": ("电瓶车充电棚", "一楼厨房"),
    "gas_detector": ("燃气表房",),
    "hydrant_pressure": ("屋顶试验消火栓",),
    "sprinkler_pressure": ("末端试水装置",),
    "water_tank": ("屋顶水箱间",),
    "fire_panel": ("消防控制室",),
    "fire_pump": ("消防泵房",),
    "camera": ("小区正门", "楼栋出入口", "非机动车棚", "消防通道", "地下车库B区"),
    "elevator": ("电梯轿厢",),
}
DETECTORS = ("smoke_detector", "heat_detector", "gas_detector")
WALK_UP_UNITS = (1, 3)  # a six-storey walk-up has one to three stairwells (单元)


def _place(devices: list[dict[str, object]], buildings: dict[int, Building],
           rng: random.Random) -> None:
    """Units, places and the fire panel's point table: loop n is the n-th building with
    detectors, points numbered up it; each such building's manual call point on the
    ground floor is point 1 of the loop, with no device of its own in the registry."""
    units = {n: rng.randint(*WALK_UP_UNITS) for n, b in buildings.items() if b.floors <= 7}
    for d in devices:
        if d["type"] in FIXED_KINDS:  # drawing for it would move every later place
            d["place"] = PLACES[str(d["type"])][0]
            continue
        d["place"] = rng.choice(PLACES[str(d["type"])])
        count = units.get(int(str(d["building"])), 1)
        if count > 1 and d["type"] in DETECTORS and d["floor"] != 1:
            d["unit"] = str(rng.randint(1, count))
    panel = next(d for d in devices if d["type"] == "fire_panel")
    by_building: dict[str, list[dict[str, object]]] = {}
    for d in devices:
        if d["type"] in DETECTORS:
            by_building.setdefault(str(d["building"]), []).append(d)
    points: list[dict[str, object]] = []
    ordered = sorted(by_building.items(), key=lambda kv: int(kv[0]))
    for loop, (building, found) in enumerate(ordered, 1):
        # The manual call point (手动报警按钮) by the ground-floor entrance.
        points.append({"loop": loop, "point": 1, "building": building, "floor": 1,
                       "place": "一楼大堂"})
        points += [{"loop": loop, "point": i, "device": d["id"]} for i, d in enumerate(found, 2)]
    panel["points"] = points


def _buildings(area: AreaPlan, rng: random.Random) -> list[Building]:
    count = rng.randint(10, 22)
    tall = set(rng.sample(range(1, count + 1), rng.randint(1, 3)))
    return [
        Building(
            number=n,
            floors=rng.choice((11, 12, 14, 18)) if n in tall else rng.choice((5, 6, 6, 6, 7)),
            micro=area.micro_path(area.micro[(n - 1) * len(area.micro) // count]),
        )
        for n in range(1, count + 1)
    ]


def _elevator_buildings(
    buildings: list[Building], tall: list[Building], counts: dict[str, int], rng: random.Random
) -> list[Building]:
    """High-rises have two cars; walk-ups with a retro-fitted elevator have one."""
    chosen = [b for b in tall for _ in range(2)][: counts["elevator"]]
    walk_ups = [b for b in buildings if b not in tall]
    extra = counts["elevator"] - len(chosen)
    return chosen + rng.sample(walk_ups, min(extra, len(walk_ups)))


def _cycle(items: list[Building], count: int) -> list[Building]:
    return [items[i % len(items)] for i in range(count)]


def _with_ids(
    area: AreaPlan, placed: list[tuple[str, Building, int]], maintainers: Maintainers
) -> list[dict[str, object]]:
    """Ids read `<area>-b<building>-<type>-<floor><index>`, e.g. `wy1-b03-smk-0201`."""
    seen: Counter[tuple[int, str, int]] = Counter()
    devices: list[dict[str, object]] = []
    for device_type, building, floor in sorted(placed, key=lambda p: (p[1].number, p[0], p[2])):
        abbr, interval, _range = DEVICE_KINDS[device_type]
        seen[(building.number, abbr, floor)] += 1
        index = seen[(building.number, abbr, floor)]
        devices.append(
            {
                "id": f"{area.id}-b{building.number:02d}-{abbr}-{floor:02d}{index:02d}",
                "type": device_type,
                "agent": area.agent,
                "grid": building.micro,
                "building": str(building.number),
                "floor": floor,
                "maintainer": maintainers.of(device_type),
                "interval_s": interval,
            }
        )
    return devices
