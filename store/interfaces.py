"""The two stores every stage talks to, as small interfaces.

`TimeSeriesStore` holds readings and device events (embedded DuckDB by default,
InfluxDB in production). `OpStore` holds operational state where transactions are
natural (embedded SQLite, or PostgreSQL shared by replicas): alerts and their change
log, acknowledgements, dispatch state, dead letters and API tokens. Unit tests pass
fakes; integration tests use the real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from gridwatch.reading_table import ReadingTable
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

    def write_table(self, readings: ReadingTable) -> ReadingTable:
        """write_readings for a batch already in columns (ingest's bulk path)."""
        ...

    def write_events(self, events: Sequence[DeviceEvent]) -> list[DeviceEvent]:
        """Durably write events, keyed by (agent, id, state, ts); duplicates ignored.
        Returns the events that were new."""
        ...

    def held_at_open(self, events: Sequence[DeviceEvent]) -> list[DeviceEvent]:
        """Those of `events` the store held when it was opened, as far as it can tell:
        a read that waits for no commit. Ingest asks it which events were stored
        before its decision ledger existed (store.opstate_events); everything written
        since went through that ledger."""
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


@runtime_checkable
class SpanHistory(Protocol):
    """The recent readings of many series in one read, for a restart's replay. The
    embedded store has it; a store without it is read one `series` at a time."""

    def recent_series(
        self, spans: Mapping[tuple[str, str], float], now: float
    ) -> list[tuple[str, str, float, float]]:
        """(device, metric, ts, value) of each (device, metric) in `spans` with ts in
        [now - its span, now): the keys in `spans`' order, each oldest first."""
        ...


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
    location: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """What dispatch decided about the incident an alert opens or joins."""

    title: str = ""
    title_en: str = ""
    severity: str = "info"
    location: dict[str, Any] | None = None
    # A late alert joins the open incident while any of its alerts fires or within this
    # long of its last alert (Alertmanager's group_interval); None: while it is not closed.
    window_s: float | None = None
    # False for an alert that may join its group's incident but not open one.
    may_open: bool = True


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of an incident's timeline (contract section 4)."""

    at: float
    kind: str  # opened, alert_joined, alert_acked, escalated, transition, false_alarm, ...
    by: str | None
    note: str
    alert_id: int | None


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


class Cursor(Protocol):
    """The DB-API cursor subset the op store's SQL runs on (sqlite3's, or the
    PostgreSQL adapter's). Statements are written in SQLite's dialect with `?`
    parameters; the PostgreSQL store translates them (store.pg_dialect)."""

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> int | None: ...

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, seq_of_parameters: Sequence[Sequence[Any]], /) -> Cursor: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class OpStore(Protocol):
    # dead letters
    def add_dead_letter(
        self, topic: str, agent: str | None, reason: str, payload: bytes, received_at: float
    ) -> int: ...

    def add_dead_letters(
        self, rows: Sequence[tuple[str, str | None, str, bytes, float]]
    ) -> None:
        """Many (topic, agent, reason, payload, received_at) rows in one transaction."""
        ...

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
        fire: opens a firing alert, or updates the firing one of that fingerprint (None
        if an alert of that fingerprint started at the same time and was resolved
        later: that episode was alerted already);
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

    def annotate(
        self,
        alert_id: int,
        now: float,
        *,
        escalation_level: int | None = None,
        incident_id: int | None = None,
        receivers: Sequence[str] | None = None,
    ) -> tuple[Alert, int] | None:
        """Record what dispatch decided, logged as an 'update'. None when no such alert."""
        ...

    def ack_note(self, alert_id: int) -> str | None: ...

    # transactions for the dispatch tables (store.opstate_dispatch, opstate_incidents,
    # opstate_webhooks), which write beside an alert change in the same transaction

    def tx(self) -> AbstractContextManager[Cursor]:
        """A write transaction, committed when the block ends without an exception."""
        ...

    def redoable_tx(self) -> AbstractContextManager[Cursor]:
        """A write transaction whose commit does not wait for the disk: the next durable
        commit carries it (both stores write their log in order), and only a power cut
        or an OS crash before that loses it, never a crash of this process. For writes
        that are safe to make again and that a durable commit always follows."""
        ...

    def alert_tx(self) -> AbstractContextManager[Cursor]:
        """A write transaction that may change alerts: serialized against every other
        one, across replicas too, so that two replicas deciding the same change agree
        (the second sees the first's row) and the log's sequence is its commit order."""
        ...

    def read(self) -> AbstractContextManager[Cursor]: ...

    def batch(self) -> AbstractContextManager[None]:
        """One alert transaction for every store call this thread makes inside the block
        (each `tx`, `alert_tx` and `read` joins it), committed once at its end, or rolled
        back whole when the block raises. Nested batches join the outer one."""
        ...

    @property
    def claim_clause(self) -> str:
        """Appended to a SELECT that claims rows for this process ('' where one process
        holds the store; ' FOR UPDATE SKIP LOCKED' where replicas share it)."""
        ...

    # replicas

    def ping(self) -> bool:
        """Whether the store answers now (for /healthz)."""
        ...

    def listen(self, on_seq: Callable[[int], None]) -> None:
        """Call `on_seq(seq)` when another process appends to the alert log (from a
        thread of the store's own); a store only this process writes does nothing."""
        ...

    def close(self) -> None: ...


class IncidentOps(Protocol):
    """Incidents and their timelines; the SQLite store's is `store.opstate_incidents`.
    Every method commits before it returns; an alert whose `incident_id` changes is
    logged (returned with its log seq) in the same transaction."""

    def open_or_join(
        self, dedup_key: str, grid: str, alert_id: int, now: float, note: str,
        facts: IncidentFacts | None = None,
    ) -> tuple[int, bool, tuple[Alert, int] | None]:
        """(incident id, opened now, the alert and its log seq when it was linked); id 0
        when `facts.may_open` is false and there is no joinable incident."""
        ...

    def incident_of_group(self, dedup_key: str) -> int | None:
        """The joinable (not closed) incident of a group key, if any."""
        ...

    def add_timeline(
        self, incident_id: int, at: float, kind: str, by: str | None, note: str,
        alert_id: int | None = None,
    ) -> None: ...

    def close_false_alarm(
        self, incident_id: int, who: str, reason: str, now: float
    ) -> list[tuple[Alert, int]]:
        """Close as a false alarm with its reason, resolving its firing alerts; the
        resolved alerts with their log seqs. KeyError when there is no such incident."""
        ...

    def false_alarm_counts(
        self, scopes: Sequence[str] | None, since: float
    ) -> list[tuple[str, str, int]]:
        """(device, alert type, count) of alerts in false-alarm incidents since `since`."""
        ...
