"""Turn one raw MQTT message into validated records and reasoned rejects.

Pure: no I/O, so every malformed case is unit-testable. The registry is the truth:
a device must exist and belong to the agent whose topic carried it; nothing about
a device's grid is ever read from the message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from config.registry import Registry
from gridwatch.mqtt import MAX_ITEMS, MAX_PAYLOAD_BYTES, TOPIC_ROOT
from gridwatch.records import DeviceEvent, Reading
from gridwatch.snapshot_ref import id_problem
from ingest.columns import ReadingColumns, Vocabulary, decode_columns
from ingest.payloads import (
    DeviceHealthItem,
    EventItem,
    EventsEnvelope,
    HealthPayload,
    ReadingItem,
    ReadingsEnvelope,
    StatusPayload,
)

MAX_SNAPSHOT_BYTES = MAX_PAYLOAD_BYTES
_READINGS = TypeAdapter(list[ReadingItem])
_EVENTS = TypeAdapter(list[EventItem])
# Device clocks drift and agents replay after outages, but a reading from years ago or
# far in the future is a broken clock, and would poison windows and retention.
MAX_AGE_S = 30 * 86400
MAX_FUTURE_S = 300


@dataclass(frozen=True, slots=True)
class RawMessage:
    topic: str
    payload: bytes
    received_at: float


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str  # a fixed set, used as a metric label: see REASONS
    detail: str
    payload: bytes


REASONS = (
    "oversized",
    "bad_topic",
    "unknown_agent",
    "bad_json",
    "bad_envelope",
    "agent_mismatch",
    "too_many_items",
    "bad_item",
    "unknown_device",
    "foreign_device",
    "bad_timestamp",
    "bad_snapshot_ref",
    "undecodable",
    "internal",
)


@dataclass(slots=True)
class Decoded:
    agent: str | None
    kind: str
    readings: list[Reading] = field(default_factory=list)
    events: list[DeviceEvent] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    status: StatusPayload | None = None
    snapshot: tuple[str, bytes] | None = None  # (snapshot id, JPEG bytes)
    seq: int | None = None  # the message's `seq` on its topic, for receipts
    # A wholly good readings message, as columns (ingest.columns); `readings` then
    # stays empty, and the pipeline hands the columns to the store as they are.
    columns: ReadingColumns | None = None

    def records(self) -> list[Reading]:
        """Every reading the message carried, as records (for tests and tools)."""
        return self.columns.records() if self.columns is not None else list(self.readings)

    def has_readings(self) -> bool:
        return bool(self.readings) or (self.columns is not None and len(self.columns.ts) > 0)


def _errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _ts_problem(ts: float, now: float) -> str | None:
    if not math.isfinite(ts) or not (now - MAX_AGE_S <= ts <= now + MAX_FUTURE_S):
        return f"ts {ts} is more than 30 days old or 5 min ahead of the backend's clock"
    return None


def _item_bytes(item: Any) -> bytes:
    return json.dumps(item, ensure_ascii=False, default=str).encode()


def _agent_of(topic: str, registry: Registry) -> str | None:
    parts = topic.split("/")
    return parts[2] if len(parts) > 2 and parts[2] in registry.agents else None


class Decoder:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.vocabulary = Vocabulary.of(registry)  # the readings column path's codes

    def decode(self, msg: RawMessage) -> Decoded:
        """Never raises: whatever a payload makes the parsers do (a RecursionError on
        absurd nesting, a MemoryError) is that message's reject, decided once."""
        try:
            return self._decode(msg)
        except Exception as exc:  # RecursionError and MemoryError are Exceptions too
            detail = f"{type(exc).__name__} while decoding: {str(exc)[:200]}"
            return self._whole(_agent_of(msg.topic, self.registry), "?", "undecodable",
                               detail, msg)

    def _decode(self, msg: RawMessage) -> Decoded:
        parts = msg.topic.split("/")
        root = TOPIC_ROOT.split("/")
        if len(parts) < 4 or parts[:2] != root:
            return self._whole(None, "?", "bad_topic", f"topic {msg.topic!r} is not gw/v1/...", msg)
        agent, kind = parts[2], parts[3]
        if agent not in self.registry.agents:
            detail = f"agent {agent!r} is not in the registry"
            return self._whole(None, kind, "unknown_agent", detail, msg)
        if kind == "snapshots" and len(parts) == 5:
            return self._snapshot(agent, parts[4], msg)
        if len(parts) != 4 or kind not in ("readings", "events", "status", "health"):
            return self._whole(agent, kind, "bad_topic", f"unknown topic {msg.topic!r}", msg)
        if len(msg.payload) > MAX_PAYLOAD_BYTES:
            detail = f"{len(msg.payload)} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit"
            return self._whole(agent, kind, "oversized", detail, msg)
        if kind == "readings":
            cols = decode_columns(msg.payload, agent, self.vocabulary, msg.received_at,
                                  MAX_AGE_S, MAX_FUTURE_S)
            if cols is not None:
                return Decoded(agent, kind, seq=cols.seq, columns=cols)
        try:
            body = json.loads(msg.payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self._whole(agent, kind, "bad_json", f"not JSON: {exc}", msg)
        if kind == "status":
            return self._status(agent, body, msg)
        if kind == "health":
            return self._health(agent, body, msg)
        return self._batch(agent, kind, body, msg)

    def _whole(
        self, agent: str | None, kind: str, reason: str, detail: str, msg: RawMessage
    ) -> Decoded:
        return Decoded(agent, kind, rejects=[Reject(reason, detail, msg.payload)])

    def _parse(self, model: type[BaseModel], body: Any) -> tuple[Any, str | None]:
        try:
            return model.model_validate(body), None
        except ValidationError as exc:
            return None, _errors(exc)

    def _snapshot(self, agent: str, snap_id: str, msg: RawMessage) -> Decoded:
        if len(msg.payload) > MAX_SNAPSHOT_BYTES:
            return self._whole(agent, "snapshots", "oversized", "snapshot over 1 MiB", msg)
        if not msg.payload.startswith(b"\xff\xd8"):
            return self._whole(agent, "snapshots", "bad_envelope", "snapshot is not a JPEG", msg)
        if (why := id_problem(snap_id)) is not None:
            return self._whole(agent, "snapshots", "bad_topic", why, msg)
        return Decoded(agent, "snapshots", snapshot=(snap_id, msg.payload))

    def _status(self, agent: str, body: Any, msg: RawMessage) -> Decoded:
        status, err = self._parse(StatusPayload, body)
        if err:
            return self._whole(agent, "status", "bad_envelope", err, msg)
        if (why := _ts_problem(status.ts, msg.received_at)) is not None:
            return self._whole(agent, "status", "bad_timestamp", why, msg)
        return Decoded(agent, "status", status=status)

    def _health(self, agent: str, body: Any, msg: RawMessage) -> Decoded:
        health, err = self._parse(HealthPayload, body)
        if err:
            return self._whole(agent, "health", "bad_envelope", err, msg)
        if (why := _ts_problem(health.ts, msg.received_at)) is not None:
            return self._whole(agent, "health", "bad_timestamp", why, msg)
        if len(health.devices) > MAX_ITEMS:
            detail = f"{len(health.devices)} devices is over the {MAX_ITEMS}-item limit"
            return self._whole(agent, "health", "too_many_items", detail, msg)
        out = Decoded(agent, "health", seq=health.seq)
        for raw in health.devices:
            item, err = self._parse(DeviceHealthItem, raw)
            if err:
                out.rejects.append(Reject("bad_item", err, _item_bytes(raw)))
                continue
            if (problem := self._device_problem(agent, item.device)) is not None:
                out.rejects.append(Reject(problem[0], problem[1], _item_bytes(raw)))
                continue
            # Health figures become ordinary readings, so reports and rules see them.
            for metric, value in (("battery_pct", item.battery), ("rssi_dbm", item.rssi)):
                if value is not None:
                    out.readings.append(Reading(agent, item.device, metric, health.ts, value))
        return out

    def _batch(self, agent: str, kind: str, body: Any, msg: RawMessage) -> Decoded:
        model = ReadingsEnvelope if kind == "readings" else EventsEnvelope
        env, err = self._parse(model, body)
        if err:
            return self._whole(agent, kind, "bad_envelope", err, msg)
        if env.agent != agent:
            detail = f"payload agent {env.agent!r} differs from topic agent {agent!r}"
            return self._whole(agent, kind, "agent_mismatch", detail, msg)
        items: list[Any] = env.readings if kind == "readings" else env.events
        if len(items) > MAX_ITEMS:
            detail = f"{len(items)} items is over the {MAX_ITEMS}-item limit"
            return self._whole(agent, kind, "too_many_items", detail, msg)
        out = Decoded(agent, kind, seq=env.seq)
        adapter = _READINGS if kind == "readings" else _EVENTS
        try:
            # One validation call for the whole list is several times faster than one per
            # item; only a list with a bad item pays for the item-by-item pass.
            valid: Sequence[ReadingItem | EventItem] = adapter.validate_python(items)
        except ValidationError:
            for raw in items:
                item, err = self._parse(ReadingItem if kind == "readings" else EventItem, raw)
                if err:
                    out.rejects.append(Reject("bad_item", err, _item_bytes(raw)))
                else:
                    self._item(agent, item, raw, msg.received_at, out)
            return out
        for item, raw in zip(valid, items, strict=True):
            self._item(agent, item, raw, msg.received_at, out)
        return out

    def _item(
        self, agent: str, item: ReadingItem | EventItem, raw: Any, now: float, out: Decoded
    ) -> None:
        why = self._device_problem(agent, item.device)
        if why is None and (ts_why := _ts_problem(item.ts, now)) is not None:
            why = ("bad_timestamp", ts_why)
        if why is not None:
            out.rejects.append(Reject(why[0], why[1], _item_bytes(raw)))
        elif isinstance(item, ReadingItem):
            out.readings.append(
                Reading(agent, item.device, item.metric, float(item.ts), float(item.value))
            )
        else:
            out.events.append(
                DeviceEvent(
                    agent, item.id, item.device, float(item.ts), item.type, item.state,
                    item.zone, item.score, dict(item.attrs), self._snapshot_ref(item, raw, out),
                )
            )

    def _snapshot_ref(self, item: EventItem, raw: Any, out: Decoded) -> str | None:
        """The event's snapshot id, or None with a dead letter when it is not an id: the
        event (an alarm, perhaps) is kept, only its picture reference is dropped."""
        if item.snapshot is None or (why := id_problem(item.snapshot)) is None:
            return item.snapshot  # type: ignore[no-any-return]
        detail = f"event {item.id!r} stored without its snapshot: {why}"
        out.rejects.append(Reject("bad_snapshot_ref", detail, _item_bytes(raw)))
        return None

    def _device_problem(self, agent: str, device: str) -> tuple[str, str] | None:
        spec = self.registry.devices.get(device)
        if spec is None:
            return "unknown_device", f"device {device!r} is not in the registry"
        if spec.agent != agent:
            owner = spec.agent
            return "foreign_device", f"device {device!r} belongs to agent {owner!r}, not {agent!r}"
        return None
