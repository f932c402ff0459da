"""Where a person has to go: a device's location, and a fire panel's points, as words.

The registry holds the facts (area, building, unit, floor, place); this module turns them
into the `location` object of contract section 4, with the text a guard would say:
"文苑一村 4号楼 2单元 11层 电梯前室". A fire panel sits in the control room, but the
detector that went off is somewhere else: its point table (loop, point) says where.
A point missing from the table still has to reach someone, so it resolves to the
panel's own location, flagged `mapped: false`, with the raw loop and point in the text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from config.models import DeviceSpec, GridNodeSpec, PanelPointSpec

# The places the sample street uses, in English for the page's language switch. A place
# not listed here is shown as written in both languages (it is a name, like a street's).
PLACES_EN: dict[str, str] = {
    "电梯前室": "elevator lobby",
    "楼梯间": "stairwell",
    "走道": "corridor",
    "配电间": "switch room",
    "弱电间": "telecom room",
    "消防控制室": "fire control room",
    "电瓶车充电棚": "e-bike charging shed",
    "燃气表房": "gas meter room",
    "一楼厨房": "ground-floor kitchen",
    "地下车库B区": "basement car park, zone B",
    "屋顶水箱间": "roof tank room",
    "消防泵房": "fire pump room",
    "屋顶试验消火栓": "roof test hydrant",
    "末端试水装置": "sprinkler test valve",
    "小区正门": "main gate",
    "楼栋出入口": "building entrance",
    "非机动车棚": "bicycle shed",
    "消防通道": "fire lane",
    "电梯轿厢": "elevator car",
    "一楼大堂": "ground-floor lobby",
}

PointKey = tuple[int, int]


def building_name(building: str) -> str:
    """'4' -> '4号楼'; a named building ('综合楼') stays as written."""
    return f"{building}号楼" if building.isdigit() else building


def unit_name(unit: str | None) -> str | None:
    return None if unit is None else (f"{unit}单元" if unit.isdigit() else unit)


def floor_name(floor: int) -> str:
    return f"地下{-floor}层" if floor < 0 else f"{floor}层"


def _floor_en(floor: int) -> str:
    return f"B{-floor}" if floor < 0 else f"{floor}F"


@dataclass(frozen=True, slots=True)
class Place:
    """The facts of one location, before they are put into words."""

    area: str
    area_en: str | None
    building: str
    unit: str | None
    floor: int
    place: str | None

    def as_json(self, mapped: bool = True, note: str = "", note_en: str = "") -> dict[str, Any]:
        unit = unit_name(self.unit)
        words = [self.area, building_name(self.building), unit, floor_name(self.floor), self.place]
        building_en = f"Bldg {self.building}" if self.building.isdigit() else self.building
        unit_en = None if self.unit is None else (
            f"Unit {self.unit}" if self.unit.isdigit() else self.unit
        )
        place_en = None if self.place is None else PLACES_EN.get(self.place, self.place)
        words_en = [self.area_en or self.area, building_en, unit_en, _floor_en(self.floor),
                    place_en]
        return {
            "area": self.area,
            "building": building_name(self.building),
            "unit": unit,
            "floor": self.floor,
            "place": self.place,
            "text": " ".join(w for w in words if w) + note,
            "text_en": " ".join(w for w in words_en if w) + note_en,
            "mapped": mapped,
        }


def unmapped_note(loop: object, point: object) -> tuple[str, str]:
    """The raw loop and point of an unknown panel point, in both languages."""
    zh = f"（未登记点位：回路 {loop} 点 {point}）"
    return zh, f" (unmapped point: loop {loop} point {point})"


def point_key(loop: object, point: object) -> PointKey | None:
    """A panel's (loop, point) as integers, or None when either is not a whole number
    ('2', 2 and 2.0 are the same point; '2a' is no point of any table)."""
    out: list[int] = []
    for value in (loop, point):
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            out.append(value)
        elif isinstance(value, float) and value.is_integer():
            out.append(int(value))
        elif isinstance(value, str) and value.strip().isdigit():
            out.append(int(value.strip()))
        else:
            return None
    return out[0], out[1]


class Locator:
    """Device id -> its location; a panel's (loop, point) -> the point's location."""

    def __init__(self, street: GridNodeSpec, devices: Mapping[str, DeviceSpec]) -> None:
        self._areas: dict[str, tuple[str, str | None]] = {}
        for district in street.children:
            for area in district.children:
                path = f"{street.id}/{district.id}/{area.id}"
                self._areas[path] = (area.name, area.name_en)
        self._devices = devices
        self.places: dict[str, Place] = {d.id: self._place_of(d) for d in devices.values()}
        self.points: dict[str, dict[PointKey, tuple[Place, str | None]]] = {
            d.id: {(p.loop, p.point): self._point_place(d, p) for p in d.points}
            for d in devices.values()
            if d.points
        }

    def _area(self, grid: str) -> tuple[str, str | None]:
        area = "/".join(grid.split("/")[:3])
        return self._areas.get(area, (area, None))

    def _place_of(self, d: DeviceSpec) -> Place:
        name, name_en = self._area(d.grid)
        return Place(name, name_en, d.building, d.unit, d.floor, d.place)

    def _point_place(self, panel: DeviceSpec, p: PanelPointSpec) -> tuple[Place, str | None]:
        detector = None if p.device is None else self._devices.get(p.device)
        base = self._place_of(detector or panel)
        # A point without a detector of its own gives building and floor (checked at load).
        return (
            Place(
                base.area, base.area_en,
                p.building or (detector.building if detector else panel.building),
                p.unit if p.unit is not None else (detector.unit if detector else None),
                p.floor if p.floor is not None else (detector.floor if detector else panel.floor),
                p.place if p.place is not None else (detector.place if detector else None),
            ),
            p.device,
        )

    def device(self, device_id: str) -> dict[str, Any] | None:
        place = self.places.get(device_id)
        return None if place is None else place.as_json()

    def point(self, panel_id: str, loop: object, point: object) -> dict[str, Any] | None:
        found = self.where(panel_id, (loop, point))
        return None if found is None else found[0]

    def where(
        self, device_id: str, raw_point: tuple[object, object] | None
    ) -> tuple[dict[str, Any], str] | None:
        """(location, building id) of a device, or of the point `raw_point` (loop, point)
        of a panel: the panel's own location, flagged unmapped, when its table does not
        know the point. None for an unknown device."""
        own = self.places.get(device_id)
        if own is None:
            return None
        if raw_point is None:
            return own.as_json(), own.building
        key = point_key(*raw_point)
        found = None if key is None else self.points.get(device_id, {}).get(key)
        if found is None:
            return own.as_json(False, *unmapped_note(*raw_point)), own.building
        return found[0].as_json(), found[0].building

    def point_table(self, panel_id: str) -> list[dict[str, Any]]:
        """The panel's points as `GET /api/v1/devices` shows them."""
        table = self.points.get(panel_id, {})
        return [
            {"loop": loop, "point": point, "location": place.as_json(), "device": device}
            for (loop, point), (place, device) in table.items()
        ]
