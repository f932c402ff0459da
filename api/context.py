"""What the API needs from the rest of the backend, passed in whole so that tests can
build an app from a tiny registry and a temporary store without starting anything."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from api.stream_quota import StreamLimits
from config.registry import Registry
from gridwatch.clock import Clock, wall_clock
from gridwatch.notify import LogNotifier
from gridwatch.records import Alert, AnomalyLevel
from store.interfaces import OpStore, TimeSeriesStore
from store.opstate_incidents import IncidentStore

# (alert id, acknowledged by, note) -> the acknowledged alert, or None when no such alert.
AckFn = Callable[[int, str, str], Alert | None]
# (incident id, by, reason) -> the alerts it resolved; KeyError when no such incident.
FalseAlarmFn = Callable[[int, str, str], list[Alert]]


@dataclass(kw_only=True)
class ApiContext:
    registry: Registry
    ops: OpStore
    timeseries: TimeSeriesStore
    notifier: LogNotifier
    ack_alert: AckFn
    # None: straight to the store (tests); the backend wires dispatch, which also stops
    # the resolved alerts' escalation timers and publishes them.
    close_false_alarm: FalseAlarmFn | None = None
    clock: Clock = wall_clock
    bootstrap_token: str | None = None
    # Each open stream holds a connection and wakes on every alert; the limits keep a
    # reconnect storm from exhausting the process, per token and per pool, with pools
    # reserved for guard rooms and the operations centre (api.stream_quota).
    stream_limits: StreamLimits = field(default_factory=StreamLimits)
    # Where ingest saves camera snapshots (<dir>/<agent>/<id>.jpg); None: none served.
    snapshot_dir: Path | None = None
    # What keeps the backend from being ready (a storage outage: ingest is holding
    # messages unacknowledged; ingest not connected), for /healthz, which also pings the
    # op store; None while all is well. A load balancer sends traffic only to a replica
    # that is ready.
    readiness: Callable[[], dict[str, object] | None] = lambda: None
    # Per device, each anomaly rule's fire level and learning state (the detector
    # stage's); None: no detectors in this process, the health report leaves them out.
    anomaly_levels: Callable[[], Mapping[str, Sequence[AnomalyLevel]]] | None = None


def store_ack(ops: OpStore, notifier: LogNotifier, clock: Clock = wall_clock) -> AckFn:
    """An `AckFn` that writes straight to the store and wakes the streams. The backend
    wires dispatch instead (it also publishes the change); this is for tests and tools."""

    def ack(alert_id: int, by: str, note: str) -> Alert | None:
        result = ops.ack(alert_id, by, note, clock())
        if result is None:
            return None
        alert, seq = result
        notifier.notify(seq)
        if alert.incident_id is not None:
            IncidentStore(ops).add_timeline(alert.incident_id, clock(), "alert_acked", by, note,
                                            alert.id)
        return alert

    return ack


def store_false_alarm(
    ops: OpStore, notifier: LogNotifier, clock: Clock = wall_clock
) -> FalseAlarmFn:
    """A `FalseAlarmFn` on the store alone."""

    def close(incident_id: int, by: str, reason: str) -> list[Alert]:
        resolved = IncidentStore(ops).close_false_alarm(incident_id, by, reason, clock())
        for _, seq in resolved:
            notifier.notify(seq)
        return [a for a, _ in resolved]

    return close
