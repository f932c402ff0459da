"""Who gets an alert when a config has no `routes:`: the built-in routing tree, by grid,
kind, maintainer and duty hours (UTC+8). Written first against the backbone's own routing
(removed); the cases still hold for the tree, where each receiver kind is taken from the
nearest grid level that has one on duty."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from config.models import DeviceSpec, ReceiverSpec
from config.registry import Registry
from dispatch.dispatcher import labels_of
from dispatch.routes import build_routes
from dispatch.selection import ReceiverSelector, on_duty
from tests.support.tiny_street import lc_street

SHANGHAI = timezone(timedelta(hours=8))
BASE = lc_street()
SMOKE = BASE.devices["a1-smoke-1"]  # lc/d1/a1/m1, maintainer fire1
ELEVATOR = BASE.devices["a1-elev-1"]  # lc/d1/a1/m2, maintainer elev1
WY1_ELEVATOR = BASE.devices["wy1-elev-1"]  # lc/d2/wy1/mg07, maintainer elev1


def sh(hour: int, minute: int = 0, day: int = 26) -> float:
    """Unix time of hour:minute on 2025-11-<day> in Shanghai."""
    return datetime(2025, 11, day, hour, minute, tzinfo=SHANGHAI).timestamp()


def receiver(id: str, kind: str, grid: str, on_duty: str = "always", **more: Any) -> ReceiverSpec:
    return ReceiverSpec.model_validate(
        {"id": id, "name": id, "kind": kind, "grid": grid, "on_duty": on_duty, **more}
    )


class DefaultRouting:
    """The routing a Dispatcher does for a registry without `routes:`."""

    def __init__(self, registry: Registry) -> None:
        assert registry.config.routes is None
        self.registry = registry
        self.root = build_routes(None)
        self.selector = ReceiverSelector(registry)

    def receivers_for(self, device: DeviceSpec, severity: str, ts: float) -> list[str]:
        labels = labels_of("fire.alarm", severity, "r", device, self.registry)
        chosen = [r for route in self.root.match(labels)
                  for r in self.selector.select(route.receivers, device, ts)]
        return list(dict.fromkeys(chosen))


def index(*receivers: ReceiverSpec) -> DefaultRouting:
    config = BASE.config.model_copy(update={"receivers": list(receivers)})
    return DefaultRouting(Registry.from_config(config))


CONSOLE_DAY = receiver("console-a1", "console", "lc/d1/a1", "08:00-20:00")
GUARD_ALWAYS = receiver("guard-a1", "guard_room", "lc/d1/a1")
OPS = receiver("ops", "operations", "lc")


def test_the_sh_helper_is_utc_plus_8() -> None:
    assert sh(10) == datetime(2025, 11, 26, 2, 0, tzinfo=UTC).timestamp()


# --- duty hours ------------------------------------------------------------------------


def test_day_console_gets_it_at_ten_and_the_guard_room_always() -> None:
    idx = index(CONSOLE_DAY, GUARD_ALWAYS, OPS)
    assert idx.receivers_for(SMOKE, "major", sh(10)) == ["guard-a1", "console-a1"]
    assert idx.receivers_for(SMOKE, "major", sh(21)) == ["guard-a1"]


@pytest.mark.parametrize(
    ("hour", "minute", "expected"),
    [
        (7, 59, False),
        (8, 0, True),
        (10, 0, True),
        (19, 59, True),
        (20, 0, False),
        (21, 0, False),
        (0, 0, False),
    ],
)
def test_day_window_edges(hour: int, minute: int, expected: bool) -> None:
    assert on_duty(CONSOLE_DAY, sh(hour, minute)) is expected


def test_duty_hours_are_shanghai_time_not_utc() -> None:
    idx = index(CONSOLE_DAY, OPS)
    # 10:00 in Shanghai is 02:00 UTC; 21:00 in Shanghai is 13:00 UTC.
    assert idx.receivers_for(SMOKE, "major", sh(10)) == ["console-a1"]
    assert idx.receivers_for(SMOKE, "major", sh(21)) == ["ops"]


NIGHT = receiver("vol-m1", "volunteers", "lc/d1/a1/m1", "20:00-08:00")


@pytest.mark.parametrize(
    ("hour", "minute", "expected"),
    [
        (20, 0, True),
        (23, 30, True),
        (0, 0, True),
        (3, 0, True),
        (7, 59, True),
        (8, 0, False),
        (12, 0, False),
        (19, 59, False),
    ],
)
def test_night_window_runs_over_midnight(hour: int, minute: int, expected: bool) -> None:
    assert on_duty(NIGHT, sh(hour, minute)) is expected


def test_night_volunteers_take_alerts_at_night_and_the_day_console_by_day() -> None:
    idx = index(NIGHT, CONSOLE_DAY, OPS)
    # Nearest level first: the micro-grid's volunteers at night, the area's console by day.
    assert idx.receivers_for(SMOKE, "major", sh(3)) == ["vol-m1"]
    assert idx.receivers_for(SMOKE, "major", sh(23)) == ["vol-m1"]
    assert idx.receivers_for(SMOKE, "major", sh(10)) == ["console-a1"]


def test_until_midnight_and_always() -> None:
    late = receiver("late", "console", "lc/d1/a1", "18:00-24:00")
    assert on_duty(late, sh(23, 59)) and on_duty(late, sh(18))
    assert not on_duty(late, sh(0)) and not on_duty(late, sh(17, 59))
    assert all(on_duty(GUARD_ALWAYS, sh(h)) for h in range(24))


# --- which level, which kind -----------------------------------------------------------


def test_each_kind_comes_from_the_nearest_level_that_has_one() -> None:
    micro = receiver("vol-m1", "volunteers", "lc/d1/a1/m1")
    other_micro = receiver("vol-m2", "volunteers", "lc/d1/a1/m2")
    area_volunteers = receiver("vol-a1", "volunteers", "lc/d1/a1")
    idx = index(micro, other_micro, area_volunteers, GUARD_ALWAYS, OPS)
    # The micro-grid's own volunteers, not the area's; the area's guard room (none below).
    assert idx.receivers_for(SMOKE, "major", sh(10)) == ["guard-a1", "vol-m1"]
    assert idx.receivers_for(ELEVATOR, "major", sh(10)) == ["guard-a1", "vol-m2"]
    assert idx.receivers_for(WY1_ELEVATOR, "major", sh(10)) == ["ops"]  # nobody in lc/d2


def test_a_front_line_receiver_only_gets_its_device_types() -> None:
    lift_guard = receiver("lift-guard", "guard_room", "lc/d1/a1/m1", device_types=["elevator"])
    idx = index(lift_guard, GUARD_ALWAYS, OPS)
    assert idx.receivers_for(SMOKE, "major", sh(10)) == ["guard-a1"]


def test_critical_adds_district_and_operations() -> None:
    d1 = receiver("district-d1", "district", "lc/d1")
    d2 = receiver("district-d2", "district", "lc/d2")
    idx = index(GUARD_ALWAYS, d1, d2, OPS)
    assert idx.receivers_for(SMOKE, "major", sh(10)) == ["guard-a1"]
    assert idx.receivers_for(SMOKE, "minor", sh(10)) == ["guard-a1"]
    assert idx.receivers_for(SMOKE, "critical", sh(10)) == ["guard-a1", "district-d1", "ops"]
    assert idx.receivers_for(SMOKE, "critical", sh(3)) == ["guard-a1", "district-d1", "ops"]
    assert idx.receivers_for(WY1_ELEVATOR, "critical", sh(10)) == ["district-d2", "ops"]


def test_the_maintenance_receiver_of_the_devices_maintainer_only() -> None:
    fire = receiver("mnt-fire1", "maintenance", "lc", maintainer="fire1")
    elev = receiver("mnt-elev1", "maintenance", "lc", maintainer="elev1")
    day_elev = receiver(
        "mnt-elev1-a1", "maintenance", "lc/d1/a1", "08:00-18:00", maintainer="elev1"
    )
    idx = index(GUARD_ALWAYS, fire, elev, day_elev, OPS)
    assert idx.receivers_for(SMOKE, "major", sh(10)) == ["guard-a1", "mnt-fire1"]
    # The area's own unit while it is on duty, the street's after hours.
    assert idx.receivers_for(ELEVATOR, "major", sh(10)) == ["guard-a1", "mnt-elev1-a1"]
    assert idx.receivers_for(ELEVATOR, "major", sh(21)) == ["guard-a1", "mnt-elev1"]
    # The area's elevator unit does not cover another area's lift.
    assert idx.receivers_for(WY1_ELEVATOR, "major", sh(10)) == ["mnt-elev1"]


def test_a_maintenance_receiver_without_a_unit_takes_every_device_of_its_grid() -> None:
    unowned = receiver("mnt-any", "maintenance", "lc/d1")
    idx = index(GUARD_ALWAYS, unowned, OPS)
    assert idx.receivers_for(SMOKE, "major", sh(10)) == ["guard-a1", "mnt-any"]
    assert idx.receivers_for(WY1_ELEVATOR, "major", sh(10)) == ["ops"]  # lc/d2: not its grid


def test_maintenance_receiver_respects_its_device_types() -> None:
    fire_panels_only = receiver(
        "mnt-panels", "maintenance", "lc", maintainer="fire1", device_types=["fire_panel"]
    )
    idx = index(GUARD_ALWAYS, fire_panels_only, OPS)
    assert idx.receivers_for(SMOKE, "major", sh(10)) == ["guard-a1"]


# --- never nobody ----------------------------------------------------------------------


def test_an_alert_never_goes_to_nobody() -> None:
    night_mnt = receiver("mnt-fire1", "maintenance", "lc", "20:00-08:00", maintainer="fire1")
    idx = index(CONSOLE_DAY, night_mnt, OPS)
    assert idx.receivers_for(SMOKE, "major", sh(21)) == ["mnt-fire1"]  # someone is on duty
    idx = index(CONSOLE_DAY, OPS)
    for hour in range(24):
        assert idx.receivers_for(SMOKE, "warning", sh(hour)), hour
    assert idx.receivers_for(SMOKE, "warning", sh(21)) == ["ops"]
    # Operations attached to the district, not the street root, is found too.
    idx = index(CONSOLE_DAY, receiver("ops-d1", "operations", "lc/d1"))
    assert idx.receivers_for(SMOKE, "info", sh(22)) == ["ops-d1"]


def test_receivers_are_listed_once() -> None:
    idx = index(GUARD_ALWAYS, OPS, receiver("mnt", "maintenance", "lc/d1/a1", maintainer="fire1"))
    chosen = idx.receivers_for(SMOKE, "critical", sh(10))
    assert chosen == ["guard-a1", "mnt", "ops"]
    assert len(chosen) == len(set(chosen))


def _device(grid: str, maintainer: str = "fire1") -> DeviceSpec:
    return SMOKE.model_copy(update={"grid": grid, "maintainer": maintainer})


def test_a_device_directly_under_the_area_still_finds_the_area() -> None:
    idx = index(GUARD_ALWAYS, OPS)
    assert idx.receivers_for(_device("lc/d1/a1"), "major", sh(10)) == ["guard-a1"]
