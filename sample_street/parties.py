"""Who works on the sample street: edge agents, maintenance units and alert receivers."""

from __future__ import annotations

from config.models import DEVICE_TYPES
from sample_street.devices import Maintainers
from sample_street.grid import DISTRICTS, STREET, AreaPlan

PROPERTY_COMPANIES = {
    "lc": ("pm-liangcheng", "上海凉城物业管理有限公司"),
    "hf": ("pm-hongfang", "上海虹房物业有限公司"),
    "wy": ("pm-wenyuan", "上海文苑物业服务有限公司"),
    "fx": ("pm-fuxin", "上海复馨物业管理有限公司"),
}
ELEVATOR_UNITS = (
    ("elv-hongchang", "上海虹昌电梯工程有限公司"),
    ("elv-shenling", "上海申菱电梯维修保养有限公司"),
    ("elv-jiangwan", "上海江湾电梯服务有限公司"),
)
FIRE_UNIT = ("fire-anxin", "上海安信消防设施维护保养有限公司")
CAMERA_VENDOR = ("cam-haishi", "上海海视安防科技有限公司")
# Every fire-safety type: all device types but the cameras and elevators.
FIRE_TYPES = tuple(t for t in DEVICE_TYPES if t not in ("camera", "elevator"))
CONSOLE_HOURS = "08:00-20:00"  # the residents' committee office
VOLUNTEER_HOURS = "08:00-18:00"

# Wenyuan No.1 is the large showcase area: (id suffix, name, micro-grid index or None for
# the area as a whole).
WY1_GUARD_ROOMS = (
    ("gate-main", "文苑一村正门岗", None),
    ("cctv", "文苑一村监控值班室", None),
    ("patrol", "文苑一村巡逻岗", None),
    ("gate-north", "文苑一村北门岗", 0),
    ("gate-west", "文苑一村西门岗", 0),
    ("gate-east", "文苑一村东门岗", 1),
    ("gate-south", "文苑一村南门岗", 2),
)
OUTSIDE_UNITS = (
    ("city-squad", "凉城新村街道城管中队"),
    ("police-liangcheng", "凉城新村派出所"),
    ("fire-brigade", "虹口区消防救援支队凉城站"),
)


def maintainers_for(area: AreaPlan) -> Maintainers:
    elevator = ELEVATOR_UNITS[area.index % len(ELEVATOR_UNITS)][0]
    return Maintainers(elevator=elevator, fire=FIRE_UNIT[0], camera=CAMERA_VENDOR[0])


def maintainers() -> list[dict[str, object]]:
    units = [(mid, name, "property") for mid, name in PROPERTY_COMPANIES.values()]
    units += [(mid, name, "elevator") for mid, name in ELEVATOR_UNITS]
    units += [(FIRE_UNIT[0], FIRE_UNIT[1], "fire"), (CAMERA_VENDOR[0], CAMERA_VENDOR[1], "camera")]
    return [{"id": mid, "name": name, "kind": kind} for mid, name, kind in units]


def agents(areas: list[AreaPlan]) -> list[dict[str, object]]:
    return [{"id": a.agent, "area": a.path, "name": f"{a.name}居委会监控室工控机"} for a in areas]


def _receiver(rid: str, name: str, kind: str, grid: str, **extra: object) -> dict[str, object]:
    return {"id": rid, "name": name, "kind": kind, "grid": grid, "on_duty": "always", **extra}


def receivers(areas: list[AreaPlan]) -> list[dict[str, object]]:
    street = STREET[0]
    out = [_receiver("ops-centre", "凉城新村街道城市运行管理中心", "operations", street)]
    out += [
        _receiver(f"{d}-station", f"{name}工作站", "district", f"{street}/{d}")
        for d, name, _en, _areas in DISTRICTS
    ]
    for area in areas:
        out += _area_receivers(area)
    out += _maintenance_receivers(street)
    out += [_receiver(rid, name, "outside", street) for rid, name in OUTSIDE_UNITS]
    return out


def _area_receivers(area: AreaPlan) -> list[dict[str, object]]:
    if area.id == "wy1":
        guards = [
            _receiver(
                f"wy1-{suffix}",
                name,
                "guard_room",
                area.path if micro is None else area.micro_path(area.micro[micro]),
            )
            for suffix, name, micro in WY1_GUARD_ROOMS
        ]
    else:
        guards = [_receiver(f"{area.id}-guard", f"{area.name}门岗", "guard_room", area.path)]
    company = PROPERTY_COMPANIES[area.property_key][1]
    out = [
        *guards,
        _receiver(
            f"{area.id}-console",
            f"{area.name}居委会监控台",
            "console",
            area.path,
            on_duty=CONSOLE_HOURS,
        ),
        _receiver(f"{area.id}-property", f"{company}{area.name}项目部", "property", area.path),
    ]
    # Volunteer teams exist where a micro-grid has organised one: all of Wenyuan No.1 and
    # every fifth micro-grid elsewhere.
    for micro in area.micro:
        if area.id == "wy1" or int(micro[2:]) % 5 == 0:
            out.append(
                _receiver(
                    f"{micro}-volunteers",
                    f"第{int(micro[2:])}微网格志愿者队",
                    "volunteers",
                    area.micro_path(micro),
                    on_duty=VOLUNTEER_HOURS,
                )
            )
    return out


def _maintenance_receivers(street: str) -> list[dict[str, object]]:
    units = [(mid, name, ["elevator"]) for mid, name in ELEVATOR_UNITS]
    units += [(FIRE_UNIT[0], FIRE_UNIT[1], list(FIRE_TYPES))]
    units += [(CAMERA_VENDOR[0], CAMERA_VENDOR[1], ["camera"])]
    return [
        _receiver(
            f"{mid}-duty",
            f"{name}维保值班",
            "maintenance",
            street,
            maintainer=mid,
            device_types=types,
        )
        for mid, name, types in units
    ]
