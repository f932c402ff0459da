"""Wire models of the edge-to-backend MQTT payloads (contract section 3, version 1).

The envelope and each item are validated separately, so one bad reading in a batch of
a thousand costs that reading (dead-lettered with its reason), not the other 999.
Values are strict: a number sent as a string is a wrong-type item, not coerced.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator

ID = Annotated[str, Field(min_length=1, max_length=128)]
Number = StrictFloat | StrictInt  # JSON has one number type; bools and strings are refused
Seconds = Number  # Unix seconds; 1764090000 is a fine time


class Wire(BaseModel):
    # Unknown keys are tolerated on the wire so a newer agent can add fields compatibly.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ReadingItem(Wire):
    device: ID
    metric: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
    ts: Seconds
    value: StrictFloat | StrictInt

    @field_validator("ts", "value")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class EventItem(Wire):
    id: ID
    device: ID
    ts: Seconds
    type: Annotated[str, Field(pattern=r"^[a-z]+\.[a-z_]+$", max_length=64)]
    state: Literal["start", "update", "end", "instant"]
    zone: Annotated[str, Field(max_length=64)] | None = None
    score: Annotated[Number, Field(ge=0, le=1)] | None = None
    attrs: dict[str, Any] = Field(default_factory=dict)
    # Checked by the decoder against the one snapshot-id rule (gridwatch.snapshot_ref),
    # not here: a bad reference must cost the reference, never the alarm carrying it.
    snapshot: Any = None


class BatchEnvelope(Wire):
    """`readings` and `events` messages: the items stay raw until validated one by one."""

    agent: ID
    seq: Annotated[StrictInt, Field(ge=0)]


class ReadingsEnvelope(BatchEnvelope):
    readings: list[Any]


class EventsEnvelope(BatchEnvelope):
    events: list[Any]


class StatusPayload(Wire):
    state: Literal["online", "offline"]
    ts: Seconds
    version: str | None = None


class DeviceHealthItem(Wire):
    device: ID
    battery: Annotated[Number, Field(ge=0, le=100)] | None = None
    rssi: Annotated[Number, Field(ge=-150, le=0)] | None = None
    fault: Annotated[str, Field(max_length=256)] | None = None


class BufferHealth(Wire):
    depth: Annotated[int, Field(ge=0)] = 0
    dropped: Annotated[int, Field(ge=0)] = 0
    oldest_ts: Seconds | None = None


class HealthPayload(Wire):
    ts: Seconds
    # Not in version 1's table, but every message of an agent and topic is numbered so
    # that receipts can cover health too; an agent that sends none gets no receipt for it.
    seq: Annotated[StrictInt, Field(ge=0)] | None = None
    devices: list[Any] = Field(default_factory=list)
    buffer: BufferHealth = Field(default_factory=BufferHealth)
