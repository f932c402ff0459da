"""Builds the agent `gridwatch edge` runs from its settings: the on-disk outbox under the
data dir, and the adapters the settings ask for."""

from __future__ import annotations

from pathlib import Path

from config.registry import Registry
from config.yaml_source import parse_file
from edge.adapters.base import Adapter
from edge.adapters.camera import CameraAdapter, CameraConfig
from edge.adapters.frigate import FrigateMapper
from edge.adapters.mqtt_bridge import MqttBridge
from edge.adapters.replay import ReplayAdapter
from edge.adapters.zigbee2mqtt import Zigbee2MqttMapper
from edge.agent import EdgeAgent
from edge.camera.analyzer import AnalyzerSettings
from edge.camera.people import PeopleSettings
from edge.camera.source import SourceSettings
from edge.camera.zones import Zone
from edge.outbox import MemoryOutbox, Outbox
from edge.outbox_sqlite import SqliteOutbox
from edge.settings import CameraSpec, EdgeSettings, load_settings
from gridwatch.clock import Clock, wall_clock


def outbox_path(data_dir: Path, agent_id: str) -> Path:
    return data_dir / "edge" / agent_id / "outbox.sqlite3"


def camera_config(agent_id: str, registry: Registry, spec: CameraSpec) -> CameraConfig:
    """Raises ValueError naming the camera when it is not a camera of this agent or a
    zone does not hold together."""
    device = registry.devices.get(spec.device)
    if device is None or device.type != "camera" or device.agent != agent_id:
        found = "not in the registry" if device is None else f"a {device.type} of {device.agent}"
        raise ValueError(f"camera {spec.device!r}: must be a camera device of agent "
                         f"{agent_id}, but is {found}")
    try:
        zones = [Zone(z.name, z.kind, tuple(z.points), z.schedule, z.dwell_s, z.direction,
                      z.min_fill) for z in spec.zones]
    except ValueError as exc:
        raise ValueError(f"camera {spec.device!r}: {exc}") from None
    return CameraConfig(
        spec.device, SourceSettings(spec.source, fps=spec.fps, width=spec.width), zones,
        AnalyzerSettings(width=spec.width, fps=spec.fps, confirm_people=spec.confirm_people,
                         people=PeopleSettings(interval_s=spec.people_interval_s)),
        spec.readings_interval_s,
    )


def build_adapters(agent_id: str, registry: Registry, settings: EdgeSettings,
                   clock: Clock = wall_clock) -> list[Adapter]:
    own = {d.id for d in registry.devices_of_agent(agent_id)}
    adapters: list[Adapter] = [
        ReplayAdapter(agent_id, r.csv, events_csv=r.events_csv, speed=r.speed,
                      retime=r.retime, devices=own)
        for r in settings.replay
    ]
    if settings.zigbee2mqtt is not None:
        z = settings.zigbee2mqtt
        mapper = Zigbee2MqttMapper(agent_id, z.devices, z.base_topic)
        adapters.append(MqttBridge("zigbee2mqtt", mapper, z.mqtt, f"gw-z2m-{agent_id}",
                                   clock=clock))
    if settings.frigate is not None:
        f = settings.frigate
        fmap = FrigateMapper(agent_id, f.cameras, f.topic)
        adapters.append(MqttBridge("frigate", fmap, f.mqtt, f"gw-frigate-{agent_id}",
                                   clock=clock))
    if settings.cameras:
        configs = [camera_config(agent_id, registry, c) for c in settings.cameras]
        adapters.append(CameraAdapter(agent_id, configs, clock=clock))
    return adapters


def _where(path: Path | None, loc: tuple[str | int, ...]) -> str:
    """`file:line: ` of a YAML node, for errors that pydantic could not place."""
    if path is None:
        return ""
    line = parse_file(path).lines.get(loc)
    return f"{path}:{line}: " if line else f"{path}: "


def build_agent(agent_id: str, registry: Registry, mqtt_url: str, data_dir: Path,
                settings_path: Path | None) -> EdgeAgent:
    settings = load_settings(settings_path)
    for i, spec in enumerate(settings.cameras):
        try:
            camera_config(agent_id, registry, spec)
        except ValueError as exc:
            raise ValueError(f"{_where(settings_path, ('cameras', i))}{exc}") from None
    o = settings.outbox
    outbox: Outbox = (
        SqliteOutbox(outbox_path(data_dir, agent_id), max_bytes=o.max_bytes,
                     max_age_s=o.max_age_s, snapshot_max_bytes=o.snapshot_max_bytes)
        if o.on_disk else MemoryOutbox(snapshot_max_bytes=o.snapshot_max_bytes)
    )
    agent = EdgeAgent(
        agent_id, registry, mqtt_url, outbox=outbox, simulators=settings.simulators,
        adapters=build_adapters(agent_id, registry, settings), max_rate=o.max_rate,
    )
    for adapter in agent.adapters:
        if isinstance(adapter, CameraAdapter):
            adapter.snapshot_sink = agent.publisher.publish_snapshot
            agent.health.extras.append(adapter.health_extra)
    return agent
