"""Escalation up the grid, acknowledgement, re-notification and restarts, on the real
SQLite store with a ManualClock (no sleeping)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.registry import Registry
from dispatch.dispatcher import Dispatcher
from gridwatch.clock import ManualClock
from gridwatch.notify import LogNotifier
from gridwatch.records import Alert, AlertChange, ChangeKind
from store.opstate_incidents import IncidentStore
from store.opstate_sqlite import SqliteOpStore
from tests.support.dispatch_street import load_street
from tests.unit.test_dispatch_routes import DAY, NIGHT

ROUTES = """\
routes:
  receivers: [guard_room, console]
  escalate_after_s: 60
  renotify_after_s: 600
  routes:
  - name: fire
    match: {type: [fire.alarm], severity: [critical]}
    receivers: [guard_room, district, operations]
  - name: health
    match: {type: ["device.*"]}
    receivers: [maintenance]
    group_by: [agent, rule]
  - name: lifts
    match: {device_type: [elevator]}
    receivers: [guard_room, maintenance]
"""


class Sink:
    def __init__(self) -> None:
        self.published: list[Alert] = []

    def publish(self, alert: Alert, payload: dict[str, Any]) -> None:
        self.published.append(alert)


def change(device: str, type_: str, severity: str = "major", kind: ChangeKind = "fire",
           ts: float = NIGHT, rule: str | None = None) -> AlertChange:
    rule = rule or type_
    return AlertChange(kind, f"{rule}:{device}", rule, type_, severity, device, ts, None, type_)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return load_street(tmp_path_factory.mktemp("street"), ROUTES)


class World:
    def __init__(self, registry: Registry, path: Path, clock: ManualClock) -> None:
        self.registry, self.path, self.clock = registry, path, clock
        self.ops = SqliteOpStore(path)
        self.sink = Sink()
        self.dispatcher = Dispatcher(registry, self.ops, LogNotifier(), [self.sink], clock)

    def restart(self) -> None:
        self.ops.close()
        self.__init__(self.registry, self.path, self.clock)  # type: ignore[misc]

    def raise_(self, c: AlertChange) -> Alert:
        [alert] = self.dispatcher.apply([c])
        return alert

    def levels(self, alert_id: int) -> list[int]:
        """The escalation level of each logged change of the alert, oldest first."""
        log = self.ops.alert_log_after(0, None, limit=1000)
        return [a.escalation_level for _, a in log if a.id == alert_id]

    def advance_and_tick(self, seconds: float) -> int:
        self.clock.advance(seconds)
        return self.dispatcher.tick()


@pytest.fixture
def world(registry: Registry, tmp_path: Path) -> Iterator[World]:
    w = World(registry, tmp_path / "ops.sqlite3", ManualClock(NIGHT))
    yield w
    w.ops.close()


def test_unacknowledged_alert_climbs_the_grid_one_level_per_timeout(world: World) -> None:
    alert = world.raise_(change("lift-1", "elevator.trapped"))
    assert alert.receivers == ["m1-gate", "elv-duty"]
    assert world.advance_and_tick(59) == 0  # not before its due time
    assert world.advance_and_tick(1) == 1
    step1 = world.ops.get_alert(alert.id)
    assert step1 is not None
    # The micro-grid adds nobody new (volunteers are off at 21:00): straight to the area.
    assert step1.escalation_level == 2
    assert step1.receivers == ["m1-gate", "elv-duty", "a1-guard", "a1-property"]
    assert world.advance_and_tick(60) == 1
    assert world.advance_and_tick(60) == 1
    top = world.ops.get_alert(alert.id)
    assert top is not None and top.escalation_level == 4
    assert top.receivers[-2:] == ["d1-station", "ops"]
    assert world.advance_and_tick(600) == 0  # nowhere further to go
    assert world.levels(alert.id) == [0, 2, 3, 3, 4]  # 3 twice: the incident link is logged
    assert top.incident_id is not None


def test_reaching_the_district_opens_one_incident_and_repeats_join_it(world: World) -> None:
    first = world.raise_(change("lift-1", "elevator.trapped"))
    world.advance_and_tick(60)
    assert IncidentStore(world.ops).list(None) == []  # the area is not enough
    world.advance_and_tick(60)
    [incident] = IncidentStore(world.ops).list(None)
    assert incident.alerts == [first.id] and incident.status == "open"
    assert incident.history[0].to_status == "open"
    world.raise_(change("lift-1", "elevator.trapped", kind="resolve"))
    again = world.raise_(change("lift-1", "elevator.trapped"))
    assert again.id != first.id
    world.advance_and_tick(60)
    world.advance_and_tick(60)
    [joined] = IncidentStore(world.ops).list(None)
    assert joined.id == incident.id and joined.alerts == [first.id, again.id]
    stored = world.ops.get_alert(again.id)
    assert stored is not None and stored.incident_id == incident.id


def test_ack_stops_escalation_and_renotifies_while_unresolved(world: World) -> None:
    alert = world.raise_(change("lift-1", "elevator.trapped"))
    world.advance_and_tick(60)
    acked = world.dispatcher.ack(alert.id, "a1-guard", "on my way")
    assert acked is not None and acked.acked_by == "a1-guard"
    assert world.advance_and_tick(599) == 0  # no escalation after the ack
    published = len(world.sink.published)
    assert world.advance_and_tick(1) == 1  # the longer re-notification timeout
    assert len(world.sink.published) == published + 1
    after = world.ops.get_alert(alert.id)
    assert after is not None and after.escalation_level == 2
    assert world.advance_and_tick(600) == 1  # and again while it stays unresolved
    world.raise_(change("lift-1", "elevator.trapped", kind="resolve"))
    assert world.advance_and_tick(6000) == 0


def test_a_pending_escalation_fires_once_after_a_restart(world: World) -> None:
    alert = world.raise_(change("lift-1", "elevator.trapped"))
    world.clock.advance(30)
    world.restart()
    assert world.dispatcher.tick() == 0  # still not due
    world.clock.advance(3000)  # the process was down past the due time
    world.restart()
    assert world.dispatcher.tick() == 1  # fires at once ...
    assert world.dispatcher.tick() == 0  # ... and only once
    world.restart()
    assert world.dispatcher.tick() == 0
    assert world.levels(alert.id) == [0, 2]


def test_critical_alert_opens_an_incident_at_once(world: World) -> None:
    alert = world.raise_(change("smoke-1", "fire.alarm", "critical"))
    assert alert.receivers == ["m1-gate", "d1-station", "ops"]
    [incident] = IncidentStore(world.ops).list(None)
    assert incident.alerts == [alert.id] and incident.grid == "lc/d1/a1/m1"
    assert incident.dedup_key == "fire|lc/d1/a1|3"  # fire groups by area and building
    stored = world.ops.get_alert(alert.id)
    assert stored is not None and stored.incident_id == incident.id


def test_grouping_notifies_once_per_agent(world: World) -> None:
    world.clock.now = DAY
    for device in ("smoke-1", "smoke-2", "smoke-3"):
        world.raise_(change(device, "device.offline", ts=DAY, rule="offline"))
    assert [a.device for a in world.sink.published] == ["smoke-1", "smoke-3"]
    world.advance_and_tick(60)
    followers = [a for a in world.ops.firing_alerts() if a.device == "smoke-2"]
    assert followers[0].escalation_level == 0  # the group's first alert escalates for it


def test_a_restart_keeps_the_group_s_leader(world: World) -> None:
    world.clock.now = DAY
    world.raise_(change("smoke-1", "device.offline", ts=DAY, rule="offline"))
    world.restart()
    world.raise_(change("smoke-2", "device.offline", ts=DAY, rule="offline"))
    assert world.sink.published == []  # smoke-1 still leads the group: no second page
