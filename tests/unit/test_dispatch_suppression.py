"""Silences and inhibition: stored and shown, but not published, escalated or turned
into incidents; with a ManualClock so windows open and close without sleeping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config.registry import Registry
from gridwatch.clock import ManualClock
from gridwatch.records import Reading
from store.opstate_dispatch import DispatchState
from store.opstate_incidents import IncidentStore
from tests.unit.test_dispatch_escalation import World, change
from tests.unit.test_dispatch_escalation import registry as registry
from tests.unit.test_dispatch_routes import NIGHT


@pytest.fixture
def world(registry: Registry, tmp_path: Path) -> Iterator[World]:
    w = World(registry, tmp_path / "ops.sqlite3", ManualClock(NIGHT))
    yield w
    w.ops.close()


def published(world: World) -> list[str]:
    return [f"{a.device}:{a.type}" for a in world.sink.published]


def test_a_silence_holds_back_matching_alerts_until_it_ends(world: World) -> None:
    DispatchState(world.ops).add_silence(
        {"grid": "lc/d1/a1", "type": ["elevator.*"]}, "ops", "lift overhaul",
        NIGHT, NIGHT + 3600, NIGHT,
    )
    quiet = world.raise_(change("lift-1", "elevator.trapped"))
    loud = world.raise_(change("smoke-3", "device.offline", rule="offline"))
    assert published(world) == ["smoke-3:device.offline"]
    assert world.ops.get_alert(quiet.id) is not None  # stored all the same
    assert world.advance_and_tick(3000) == 1  # only the unsilenced one escalates
    assert world.levels(quiet.id) == [0]
    assert loud.id != quiet.id
    world.clock.advance(3600)  # the window has closed
    world.raise_(change("lift-1", "elevator.door_fault"))
    assert published(world)[-1] == "lift-1:elevator.door_fault"


def level(world: World, alert_id: int) -> int:
    alert = world.ops.get_alert(alert_id)
    assert alert is not None
    return alert.escalation_level


def test_a_silence_set_after_firing_holds_the_escalation_until_it_ends(world: World) -> None:
    alert = world.raise_(change("lift-1", "elevator.trapped"))
    assert world.advance_and_tick(60) == 1  # up to the area before anyone silences it
    assert level(world, alert.id) == 2
    DispatchState(world.ops).add_silence(
        {"device": ["lift-1"]}, "ops", "engineer on site", NIGHT + 61, NIGHT + 600, NIGHT + 61
    )
    for _ in range(10):  # its next step was due at +120: held for the silence's length
        assert world.advance_and_tick(50) == 0
    assert level(world, alert.id) == 2
    world.clock.advance(100)  # the silence ended at +600 and it still fires, unacked
    assert world.advance_and_tick(30) == 1
    assert level(world, alert.id) == 3


def test_an_alert_silenced_when_raised_goes_up_the_grid_if_it_outlasts_the_silence(
    world: World,
) -> None:
    DispatchState(world.ops).add_silence(
        {"device": ["lift-1"]}, "ops", "overhaul", NIGHT, NIGHT + 300, NIGHT
    )
    alert = world.raise_(change("lift-1", "elevator.trapped"))
    assert published(world) == []
    assert world.advance_and_tick(240) == 0  # held: still inside the silence
    assert world.advance_and_tick(90) == 1  # the silence is over; nobody took it
    assert level(world, alert.id) == 2
    assert published(world) == ["lift-1:elevator.trapped"]


def test_a_deleted_silence_no_longer_applies(world: World) -> None:
    state = DispatchState(world.ops)
    s = state.add_silence({"device": ["lift-1"]}, "ops", "x", NIGHT, NIGHT + 3600, NIGHT)
    assert state.delete_silence(s.id, NIGHT + 1)
    world.clock.advance(2)
    world.raise_(change("lift-1", "elevator.trapped"))
    assert published(world) == ["lift-1:elevator.trapped"]


def test_a_confirmed_fire_inhibits_its_buildings_sensor_faults(world: World) -> None:
    world.raise_(change("smoke-1", "fire.alarm", "critical"))  # building 3 of a1
    world.raise_(change("smoke-1", "fire.fault", rule="fault"))  # same building
    world.raise_(change("smoke-2", "fire.fault", rule="fault"))  # building 7
    assert [p for p in published(world) if "fault" in p] == ["smoke-2:fire.fault"]
    assert len(IncidentStore(world.ops).list(None)) == 1  # the fire's, not the fault's
    world.raise_(change("smoke-1", "fire.alarm", "critical", kind="resolve"))
    world.raise_(change("smoke-1", "device.offline", rule="offline"))
    assert published(world)[-1] == "smoke-1:device.offline"  # fire out: faults count again


def test_inhibition_survives_a_restart(world: World) -> None:
    world.raise_(change("smoke-1", "fire.alarm", "critical"))
    world.restart()
    world.raise_(change("smoke-1", "fire.fault", rule="fault"))
    assert [p for p in published(world) if "fault" in p] == []


def test_an_elevator_in_inspection_mode_reports_faults_quietly(world: World) -> None:
    world.dispatcher.note_readings([Reading("ag1", "lift-1", "mode", NIGHT, 1.0)])
    world.raise_(change("lift-1", "elevator.door_fault"))
    world.raise_(change("lift-1", "elevator.trapped"))  # people are never inhibited
    assert published(world) == ["lift-1:elevator.trapped"]
    world.dispatcher.note_readings([Reading("ag1", "lift-1", "mode", NIGHT + 1, 0.0)])
    world.raise_(change("lift-1", "elevator.overspeed"))
    assert published(world)[-1] == "lift-1:elevator.overspeed"
