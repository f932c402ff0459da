"""The two stores every stage talks to, as small interfaces.

`TimeSeriesStore` holds readings and device events (embedded DuckDB by default,
InfluxDB in production). `OpStore` holds operational state where transactions are
natural (SQLite): alerts and their change log, acknowledgements, dead letters and
API tokens. Unit tests pass fakes; integration tests use the real ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from gridwatch.records import Alert, AlertChange, DeviceEvent, Reading


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    ts: float
    value: float


@dataclass(frozen=True, slots=True)
class DeviceActivity:
    """Per-device message figures over a time range, for health reports."""

    device: str
    last_seen: float | None
    messages: int


class TimeSeriesStore(Protocol):
    def write_readings(self, readings: Sequence[Reading]) -> list[Reading]:
        """Durably write readings; duplicates of (device, metric, ts) are ignored.
        Returns the readings that were new (so a replay raises nothing downstream).
        Returns only after the data is committed."""
        ...

    def write_events(self, events: Sequence[DeviceEvent]) -> list[DeviceEvent]:
        """Durably write events, keyed by (agent, id, state, ts); duplicates ignored.
        Returns the events that were new."""
        ...

    def series(
        self, device: str, metric: str, start: float, end: float, step: float | None
    ) -> list[SeriesPoint]:
        """Readings of one device and metric in [start, end); averaged per `step` bucket
        (bucket start time) when step is given."""
        ...

    def reading_count(self) -> int: ...

    def activity(self, start: float, end: float) -> list[DeviceActivity]: ...

    def close(self) -> None: ...


@runtime_checkable
class EventHistory(Protocol):
    """Stored device events by type and time, for a restart's replay. The embedded store
    has it; a store without it leaves the event-fed detector state to re-learn."""

    def events_of_types(
        self, types: Sequence[str], start: float, end: float
    ) -> list[DeviceEvent]: ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    received_at: float
    topic: str
    agent: str | None
    reason: str
    payload: bytes  # at most the first 64 KiB


@dataclass(frozen=True, slots=True)
class AlertContext:
    """What the registry says about an alert's device, resolved by dispatch."""

    device_type: str
    grid: str
    building: str
    receivers: list[str]


@dataclass(frozen=True, slots=True)
class StoredToken:
    id: str
    name: str
    role: str
    grid: str | None
    maintainer: str | None
    sha256: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None


class OpStore(Protocol):
    # dead letters
    def add_dead_letter(
        self, topic: str, agent: str | None, reason: str, payload: bytes, received_at: float
    ) -> int: ...

    def dead_letters(
        self, limit: int = 100, agents: Sequence[str] | None = None
    ) -> list[DeadLetter]:
        """Newest first; `agents` None is every dead letter, else only those agents'."""
        ...

    def dead_letter_count(self) -> int: ...

    # alerts
    def apply_change(
        self, change: AlertChange, ctx: AlertContext, now: float
    ) -> tuple[Alert, int] | None:
        """Apply a detector's change in one transaction and append it to the alert log.
        fire: opens a firing alert, or updates the firing one of that fingerprint;
        update: updates value/summary/updated_at of the firing one (None if none);
        resolve: resolves the firing one (None if none).
        Returns the alert as it now is and the log sequence number of this change."""
        ...

    def ack(self, alert_id: int, by: str, note: str, now: float) -> tuple[Alert, int] | None:
        """Acknowledge; logs the change. None when no such alert."""
        ...

    def get_alert(self, alert_id: int) -> Alert | None: ...

    def firing_alerts(self) -> list[Alert]: ...

    def list_alerts(
        self,
        scopes: Sequence[str] | None,
        status: str = "all",
        severity: str | None = None,
        since: float | None = None,
        limit: int = 100,
        devices: Sequence[str] | None = None,
    ) -> list[Alert]:
        """Newest first. `scopes`: grid paths, an alert is kept when its grid is one of
        them or below one (None: everything). `devices`: keep only these devices."""
        ...

    def alert_log_after(
        self, seq: int, scopes: Sequence[str] | None, limit: int = 500
    ) -> list[tuple[int, Alert]]:
        """Log entries with sequence > seq, oldest first, each with the alert as it was
        right after that change, filtered by scope like list_alerts."""
        ...

    def last_log_seq(self) -> int: ...

    # tokens
    def add_token(self, token: StoredToken) -> None: ...

    def get_token(self, token_id: str) -> StoredToken | None: ...

    def list_tokens(self) -> list[StoredToken]: ...

    def revoke_token(self, token_id: str, now: float) -> bool: ...

    def close(self) -> None: ...
