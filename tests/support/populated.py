"""The tiny street with something of everything in it, for access and fuzz tests: an
alert per device, an incident, two silences (one by grid, one by device only), a
camera snapshot and a dead letter in each of two areas; one street-wide silence and one
dead letter of no agent."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gridwatch.records import DeviceEvent, Reading
from store.opstate_dispatch import DispatchState
from store.opstate_incidents import IncidentStore
from tests.support.api_harness import ApiHarness
from tests.support.tiny_street import AREA_A1, AREA_WY1, LC_DEVICES

JPEG = b"\xff\xd8\xff\xe0" + b"gridwatch-test-snapshot" + b"\xff\xd9"
# Which snapshot belongs to which area's camera: (agent, snapshot id, device).
SNAPSHOTS = {
    AREA_A1: ("ag-a1", "snap-a1", "a1-cam-1"),
    AREA_WY1: ("ag-wy1", "snap-wy1", "wy1-cam-1"),
}
# The maintenance unit used as "the" maintenance caller: it owns a1-smoke-1.
UNIT = "fire1"


@dataclass
class World:
    alerts: dict[str, int] = field(default_factory=dict)  # device -> alert id
    incidents: dict[str, int] = field(default_factory=dict)  # area -> incident id
    silences: dict[str, int] = field(default_factory=dict)  # area -> its grid's silence id
    # area -> every silence reaching only that area (by grid, and by device alone)
    area_silences: dict[str, set[int]] = field(default_factory=dict)
    street_silence: int = 0  # by alert type only: it reaches every area
    dead_letters: dict[str | None, int] = field(default_factory=dict)  # agent -> id
    tokens: dict[str, str] = field(default_factory=dict)  # role -> token


def _agent(device: str) -> str:
    return "ag-" + LC_DEVICES[device][1].split("/")[2]


def populate(h: ApiHarness, snapshot_dir: Path) -> World:
    world = World()
    h.ctx.snapshot_dir = snapshot_dir
    for device in LC_DEVICES:
        h.clock.advance(1)
        world.alerts[device] = h.fire(device)[0].id
        h.timeseries.write_readings([Reading(_agent(device), device, "battery_pct", h.clock(), 80)])
    for area, (agent, snap, device) in SNAPSHOTS.items():
        folder = snapshot_dir / agent
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{snap}.jpg").write_bytes(JPEG)
        event = DeviceEvent(agent, f"ev-{snap}", device, h.clock(), "camera.intrusion", "start",
                            snapshot=snap)
        h.timeseries.write_events([event])
        grid = LC_DEVICES[device][1]
        incidents = IncidentStore(h.ops)
        world.incidents[area] = incidents.open_or_join(
            f"test:{area}", grid, world.alerts[device], h.clock(), "opened by the test"
        )[0]
        state, until = DispatchState(h.ops), h.clock() + 3600
        world.silences[area] = state.add_silence(
            {"grid": area}, "test", "maintenance window", h.clock(), until, h.clock()
        ).id
        by_device = state.add_silence(
            {"device": [device]}, "test", f"{area} camera repair", h.clock(), until, h.clock()
        ).id
        world.area_silences[area] = {world.silences[area], by_device}
        world.dead_letters[agent] = h.ops.add_dead_letter(
            f"gw/v1/{agent}/readings", agent, "bad_json: test", b"{", h.clock()
        )
    world.street_silence = DispatchState(h.ops).add_silence(
        {"type": ["camera.*"]}, "test", "street drill", h.clock(), h.clock() + 3600, h.clock()
    ).id
    world.dead_letters[None] = h.ops.add_dead_letter(
        "gw/v1/nobody/readings", None, "unknown_agent: test", b"{}", h.clock()
    )
    world.tokens = {
        "ops": h.token("ops"),
        "admin": h.token("admin"),
        "guard": h.token("guard", AREA_A1),
        "maintenance": h.token("maintenance", maintainer=UNIT),
    }
    return world
