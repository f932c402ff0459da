"""Builds the agent `gridwatch edge` runs from its settings: the on-disk outbox under the
data dir, and the adapters the settings ask for."""

from __future__ import annotations

from pathlib import Path

from config.registry import Registry
from edge.adapters.base import Adapter
from edge.adapters.frigate import FrigateMapper
from edge.adapters.mqtt_bridge import MqttBridge
from edge.adapters.replay import ReplayAdapter
from edge.adapters.zigbee2mqtt import Zigbee2MqttMapper
from edge.agent import EdgeAgent
from edge.outbox import MemoryOutbox, Outbox
from edge.outbox_sqlite import SqliteOutbox
from edge.settings import EdgeSettings, load_settings
from gridwatch.clock import Clock, wall_clock


def outbox_path(data_dir: Path, agent_id: str) -> Path:
    return data_dir / "edge" / agent_id / "outbox.sqlite3"


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
    return adapters


def build_agent(agent_id: str, registry: Registry, mqtt_url: str, data_dir: Path,
                settings_path: Path | None) -> EdgeAgent:
    settings = load_settings(settings_path)
    o = settings.outbox
    outbox: Outbox = (
        SqliteOutbox(outbox_path(data_dir, agent_id), max_bytes=o.max_bytes,
                     max_age_s=o.max_age_s)
        if o.on_disk else MemoryOutbox()
    )
    return EdgeAgent(
        agent_id, registry, mqtt_url, outbox=outbox, simulators=settings.simulators,
        adapters=build_adapters(agent_id, registry, settings), max_rate=o.max_rate,
    )
