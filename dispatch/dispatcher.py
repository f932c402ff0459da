"""Dispatch: store each detector change, then fan it out (SSE wake-up, MQTT).

The store is written first and is the source of truth; MQTT and SSE are views of its
alert log, so a subscriber that misses a message can always catch up from the log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from config.registry import Registry
from dispatch.alert_publisher import AlertSink
from dispatch.receivers import ReceiverIndex
from gridwatch import metrics
from gridwatch.alert_json import alert_json
from gridwatch.clock import Clock, wall_clock
from gridwatch.notify import LogNotifier
from gridwatch.records import Alert, AlertChange
from store.interfaces import AlertContext, OpStore

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        registry: Registry,
        ops: OpStore,
        notifier: LogNotifier,
        sinks: Sequence[AlertSink] = (),
        clock: Clock = wall_clock,
    ) -> None:
        self.registry = registry
        self.ops = ops
        self.notifier = notifier
        self.sinks = list(sinks)
        self.clock = clock
        self.receivers = ReceiverIndex(registry)
        # Ingest and the detector ticker both dispatch; one at a time keeps the
        # log order equal to the order changes were decided in.
        self._lock = threading.Lock()

    def apply(self, changes: Sequence[AlertChange]) -> list[Alert]:
        out: list[Alert] = []
        with self._lock:
            for change in changes:
                alert = self._apply_one(change)
                if alert is not None:
                    out.append(alert)
        return out

    def _apply_one(self, change: AlertChange) -> Alert | None:
        device = self.registry.devices.get(change.device)
        if device is None:
            log.error("dispatch: change for unknown device %s dropped", change.device)
            return None
        ctx = AlertContext(
            device_type=device.type,
            grid=device.grid,
            building=device.building,
            receivers=self.receivers.receivers_for(device, change.severity, change.ts),
        )
        result = self.ops.apply_change(change, ctx, self.clock())
        if result is None:
            return None
        alert, seq = result
        metrics.ALERT_CHANGES.labels(kind=change.kind, severity=alert.severity).inc()
        self._fan_out(alert, seq)
        return alert

    def ack(self, alert_id: int, by: str, note: str) -> Alert | None:
        with self._lock:
            result = self.ops.ack(alert_id, by, note, self.clock())
            if result is None:
                return None
            alert, seq = result
            self._fan_out(alert, seq)
            return alert

    def _fan_out(self, alert: Alert, seq: int) -> None:
        self.notifier.notify(seq)
        payload = alert_json(alert)
        for sink in self.sinks:
            try:
                sink.publish(alert, payload)
            except Exception:
                # The alert is stored and on the SSE log; a broken view must not stop
                # dispatch of the next one.
                log.exception("dispatch: sink %s failed for alert %s", sink, alert.id)
