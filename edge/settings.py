"""What `gridwatch edge --adapters FILE` reads: which device adapters the agent runs and
how its store-and-forward is bounded. YAML, strict (unknown keys are errors)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReplaySpec(Strict):
    csv: Path | None = Field(default=None, description="Readings: device,metric,ts,value.")
    events_csv: Path | None = Field(default=None, description="Events: device,type,ts,state,id.")
    speed: float | None = Field(default=1.0, gt=0, description="1 = recorded pace; null = at once.")
    retime: bool = Field(default=False, description="Move the recording so it starts now.")


class Zigbee2MqttSpec(Strict):
    mqtt: str = Field(default="mqtt://127.0.0.1:1883", description="Zigbee2MQTT's broker.")
    base_topic: str = "zigbee2mqtt"
    devices: dict[str, str] = Field(description="Zigbee2MQTT friendly name -> gridwatch id.")


class FrigateSpec(Strict):
    mqtt: str = Field(default="mqtt://127.0.0.1:1883", description="Frigate's broker.")
    topic: str = "frigate/events"
    cameras: dict[str, str] = Field(description="Frigate camera name -> gridwatch id.")


class OutboxSpec(Strict):
    on_disk: bool = Field(default=True, description="false: memory only (lost on restart).")
    max_bytes: int = Field(default=256 << 20, ge=1, description="Telemetry dropped past this.")
    max_age_s: float = Field(default=7 * 86_400.0, gt=0, description="Older telemetry dropped.")
    max_rate: float | None = Field(default=200.0, gt=0, description="Messages/s to the broker.")


class EdgeSettings(Strict):
    simulators: bool = Field(default=True, description="Run the simulated devices.")
    replay: list[ReplaySpec] = Field(default_factory=list)
    zigbee2mqtt: Zigbee2MqttSpec | None = None
    frigate: FrigateSpec | None = None
    outbox: OutboxSpec = Field(default_factory=OutboxSpec)


def load_settings(path: Path | None) -> EdgeSettings:
    """The defaults without a file; relative CSV paths are relative to the file."""
    if path is None:
        return EdgeSettings()
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    settings = EdgeSettings.model_validate(raw)
    replay = [
        r.model_copy(update={
            "csv": path.parent / r.csv if r.csv else None,
            "events_csv": path.parent / r.events_csv if r.events_csv else None,
        })
        for r in settings.replay
    ]
    return settings.model_copy(update={"replay": replay})
