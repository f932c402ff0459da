"""Dispatch: route each detector change, store it, then fan it out (SSE wake-up, MQTT);
escalate what nobody acknowledges and turn serious alerts into incidents.

The store is written first and is the source of truth; MQTT and SSE are views of its
alert log, so a subscriber that misses a message can always catch up from the log.

Each `apply` is one batch (issue 16): one store transaction for all its changes, most
severe first (`dispatch.batch`), with the SSE wake-up and the sinks after the commit.
Routing is looked up once per (device, type, severity, rule) and receivers once per
device and clock minute (`dispatch.selection`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

from config.models import DeviceSpec
from config.registry import Registry
from dispatch.alert_publisher import AlertSink
from dispatch.batch import Delivery, DispatchBatch, severity_first
from dispatch.escalation import Escalator
from dispatch.handoff import PriorityHandoff, Ticket
from dispatch.incidents import Grouping, IncidentGrouper
from dispatch.routes import Route, build_routes
from dispatch.selection import ReceiverSelector
from dispatch.suppression import Inhibitor, silence_matches
from dispatch.webhooks import WebhookSender
from gridwatch import metrics
from gridwatch.alert_json import alert_json
from gridwatch.clock import Clock, wall_clock
from gridwatch.notify import LogNotifier
from gridwatch.reading_table import ReadingTable
from gridwatch.records import Alert, AlertChange, Reading
from store.interfaces import AlertContext, IncidentOps, OpStore
from store.opstate_dispatch import DispatchState
from store.opstate_incidents import IncidentStore

log = logging.getLogger(__name__)
ELEVATOR_MODE = "mode"
URGENT = "critical"  # the severity whose batches overtake queued ones
# Changes per dispatch transaction. A batch in progress is never interrupted, so a
# critical change waits for at most one of these, where it waited for a readings
# chunk's whole batch (2,000 and more changes of the 6,000-detector storm: hundreds of
# ms). In the real serve a storm's change costs up to about 1 ms (its device's routing
# and receivers not yet cached): chunks of 100 still held the alarm 110 ms; chunks of
# 20 hold it a few ms, and the storm bench's 6,000 warnings were no slower to stream.
CHUNK = 20


def labels_of(
    type_: str, severity: str, rule: str, device: DeviceSpec, registry: Registry,
    building: str | None = None,
) -> dict[str, str]:
    """Routing labels; `building` is the alert's (a fire panel's point may lie in another
    building than the panel)."""
    return {
        "type": type_, "severity": severity, "device_type": device.type,
        "grid": device.grid, "building": building or device.building, "device": device.id,
        "rule": rule, "agent": device.agent, "area": registry.area_of(device.grid),
    }


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
        self.routes: Route = build_routes(registry.config.routes)
        self.selector = ReceiverSelector(registry)
        # (device, type, severity, rule) -> its labels and routes: time-independent.
        self._routing: dict[tuple[str, ...], tuple[dict[str, str], list[Route]]] = {}
        # What the tree matches on -> the routes: shared by the devices alike in it.
        self._matched: dict[tuple[str, str, str, str, str], list[Route]] = {}
        # The batch being applied; None outside `apply` (escalation, acks, recovery).
        self._batch: DispatchBatch | None = None
        self.inhibitor = Inhibitor()
        # Group key -> the alert that notified for the group while it fires.
        self._groups: dict[tuple[str, ...], int] = {}
        self.state = DispatchState(ops)
        self.incidents: IncidentOps | None = IncidentStore(ops)
        self.grouper = IncidentGrouper(registry)
        # Alerts below critical that may open an incident once their group has gathered:
        # alert id -> when (group_wait). Rebuilt from the store after a restart.
        self._pending: dict[int, float] = {}
        self.webhooks = WebhookSender(registry, ops, clock)
        self.escalator = Escalator(
            registry, ops, self.state, self.selector, self._fan_out, self.open_incident,
            self._suppressed_now, self._escalated,
        )
        self._load_firing()
        # Ingest and the tickers all dispatch; one at a time keeps the log order equal
        # to the order changes were decided in.
        self._lock = threading.Lock()
        self._handoff: PriorityHandoff[tuple[AlertChange, ...], list[Alert]] = PriorityHandoff(
            self.apply, lambda batch: any(c.severity == URGENT for c in batch),
            lambda batch: {c.fingerprint for c in batch},
        )
        # Firing alerts whose timer row exists; after _recover, every firing alert.
        self._armed: set[int] = set()
        self._recover()
        firing = ops.firing_alerts()
        self._armed.update(a.id for a in firing)
        now = clock()
        for alert in firing:
            grouping = self.grouper.group_of(alert)
            if alert.incident_id is None and grouping.opens:
                self._pending[alert.id] = now + grouping.wait_s

    def _load_firing(self) -> None:
        """The in-memory view of the store's firing alerts: inhibiting fires, group
        leaders and which alerts are armed."""
        self.inhibitor.clear_fires()
        self._groups.clear()
        for alert in sorted(self.ops.firing_alerts(), key=lambda a: a.id):
            self.inhibitor.observe(alert, self.registry.area_of(alert.grid))
            self._regroup(alert)

    def _recover(self) -> None:
        """Arm what a crash left unarmed: alerts stored but given no timer (and no
        incident) because the process died between the two commits."""
        self._run_batch(self._recover_in_batch)

    def _recover_in_batch(self, batch: DispatchBatch) -> None:
        for alert_id, raised_at in self.state.unarmed():
            alert = self.ops.get_alert(alert_id)
            device = None if alert is None else self.registry.devices.get(alert.device)
            if alert is None or device is None:
                continue
            labels = labels_of(
                alert.type, alert.severity, alert.rule, device, self.registry, alert.building
            )
            notify, _ = self._arm(alert, labels, self.routes.match(labels), raised_at)
            self._place(alert, notify, batch.now)
            log.warning("alert %s armed after a restart", alert_id)

    def enqueue(
        self, changes: Sequence[AlertChange]
    ) -> Ticket[tuple[AlertChange, ...], list[Alert]]:
        """Queue one batch of changes in the order batches were decided (call it under
        the lock that decided them, so two threads' changes to one alert cannot swap);
        `finish` it outside that lock. The batch is applied in transactions of `CHUNK`
        changes, most severe first: a chunk with a critical change overtakes queued
        chunks without one (not one sharing an alert with it), so a fire alarm decided
        during a storm waits for the one chunk in progress, not for the storm."""
        ordered = severity_first(changes)
        return self._handoff.submit(
            [tuple(ordered[i:i + CHUNK]) for i in range(0, len(ordered), CHUNK)]
        )

    def finish(self, ticket: Ticket[tuple[AlertChange, ...], list[Alert]]) -> list[Alert]:
        return [a for alerts in self._handoff.finish(ticket) if alerts for a in alerts]

    def apply(self, changes: Sequence[AlertChange]) -> list[Alert]:
        """Store and fan out `changes` as one batch, most severe first; the alerts in
        the order applied. When the store fails, nothing of the batch is kept (and the
        error is raised, for the caller to retry the batch)."""
        out: list[Alert] = []

        def run(batch: DispatchBatch) -> None:
            for change in severity_first(changes):
                alert = self._apply_one(change, batch)
                if alert is not None:
                    out.append(alert)

        with self._lock:
            self._run_batch(run)
        return out

    def _run_batch(self, body: Callable[[DispatchBatch], None]) -> None:
        """`body` in one store transaction; what it fans out is delivered after the
        commit. A failed batch is rolled back whole, and the in-memory view reloaded
        from the store, which no longer has any of it."""
        batch = DispatchBatch(self.clock())
        self._batch = batch
        try:
            with self.ops.batch():
                body(batch)
                batch.write_timers(self.state)
        except BaseException:
            self._load_firing()
            self._armed = {a.id for a in self.ops.firing_alerts()}
            raise
        finally:
            self._batch = None
        self._deliver(batch.deliveries)

    def _route(
        self, change: AlertChange, device: DeviceSpec, building: str
    ) -> tuple[dict[str, str], list[Route]]:
        """Labels and routes of a change: they depend on nothing that changes while the
        configuration stays loaded. The labels are shared: never change them. `building`
        is the alert's (a fire panel's point may lie in another building)."""
        key = (device.id, change.type, change.severity, change.rule, building)
        found = self._routing.get(key)
        if found is None:
            labels = labels_of(
                change.type, change.severity, change.rule, device, self.registry, building
            )
            # Route matchers read only these labels (dispatch.routes.Matcher).
            match_key = (change.type, change.severity, device.type, device.grid, building)
            routes = self._matched.get(match_key)
            if routes is None:
                routes = self._matched[match_key] = self.routes.match(labels)
            found = self._routing[key] = (labels, routes)
        return found

    def _receivers(self, routes: list[Route], device: DeviceSpec, now: float) -> list[str]:
        if len(routes) == 1:
            return self.selector.select_cached(routes[0].receivers, device, now)
        chosen = [
            r for route in routes for r in self.selector.select_cached(route.receivers, device, now)
        ]
        return list(dict.fromkeys(chosen))

    def _apply_one(self, change: AlertChange, batch: DispatchBatch) -> Alert | None:
        device = self.registry.devices.get(change.device)
        if device is None:
            log.error("dispatch: change for unknown device %s dropped", change.device)
            return None
        now = batch.now
        location, building = self.registry.where(device.id, change.point) or (None, device.building)
        labels, routes = self._route(change, device, building)
        ctx = AlertContext(
            device_type=device.type, grid=device.grid, building=building,
            receivers=self._receivers(routes, device, now), location=location,
        )
        result = self.ops.apply_change(change, ctx, now)
        if result is None:
            return None
        alert, seq = result
        metrics.ALERT_CHANGES.labels(kind=change.kind, severity=alert.severity).inc()
        self.inhibitor.observe(alert, labels["area"])
        if alert.status == "resolved":
            group = self._group_of(routes[0], labels)
            notify = self._groups.get(group) in (None, alert.id)
            if self._groups.get(group) == alert.id:
                del self._groups[group]
            self._fan_out(alert, seq, publish=notify and not self._suppressed(alert, labels, now))
            batch.timer_moves.append(("done", None, alert.id))
            self._armed.discard(alert.id)
            self._pending.pop(alert.id, None)
            self._note(alert, now, "alert_resolved", None, alert.summary)
            return alert
        notify, _ = self._arm(alert, labels, routes, now)
        self._fan_out(alert, seq, publish=notify)
        self._place(alert, notify, now)
        return alert

    def _regroup(self, alert: Alert) -> None:
        """After a restart: the oldest firing alert of each group leads it again, so a
        new member does not notify a second time for the group."""
        device = self.registry.devices.get(alert.device)
        if device is None:
            return
        labels = labels_of(
            alert.type, alert.severity, alert.rule, device, self.registry, alert.building
        )
        group = self._group_of(self.routes.match(labels)[0], labels)
        if group:
            self._groups.setdefault(group, alert.id)

    @staticmethod
    def _group_of(route: Route, labels: dict[str, str]) -> tuple[str, ...]:
        return (route.name, *(labels.get(k, "") for k in route.group_by)) if route.group_by else ()

    def _arm(
        self, alert: Alert, labels: dict[str, str], routes: list[Route], raised_at: float
    ) -> tuple[bool, bool]:
        """Decide whether a firing alert notifies; arm its escalation timer (a row in
        every case, so a restart can tell an unarmed alert). (notify, open incident)."""
        route = routes[0]
        group = self._group_of(route, labels)
        if group:
            self._groups.setdefault(group, alert.id)
        grouped = bool(group) and self._groups[group] != alert.id
        notify = not grouped and self._suppressed(alert, labels, raised_at) is None
        # A repeat of a firing alert is already armed: no write (and no fsync) for it.
        # A suppressed alert is armed too: the escalator holds it while the silence or
        # inhibition lasts and takes it up the grid if it outlasts them.
        if alert.id not in self._armed:
            assert self._batch is not None, "alerts are armed inside a batch"
            due = None if grouped else raised_at + route.escalate_after_s
            self._batch.timer_starts.append((
                alert.id, "done" if due is None else "escalate", due,
                route.escalate_after_s, route.renotify_after_s,
            ))
            self._armed.add(alert.id)
        return notify, notify and alert.severity == "critical" and alert.incident_id is None

    def _suppressed(self, alert: Alert, labels: dict[str, str], now: float) -> str | None:
        reason = self.inhibitor.reason(alert, labels["area"])
        if reason is None:
            batch = self._batch
            if batch is None:
                silences = self.state.silences(now, active_only=True)
            else:
                if batch.silences is None:
                    batch.silences = self.state.silences(now, active_only=True)
                silences = batch.silences
            for silence in silences:
                if silence_matches(silence.matchers, labels):
                    reason = f"silenced by #{silence.id}: {silence.comment}"
                    break
        if reason is not None:
            log.info("alert %s not notified: %s", alert.id, reason)
        return reason

    def _suppressed_now(self, alert: Alert, now: float) -> str | None:
        """For the escalator: is a firing alert silenced or inhibited at `now`?"""
        device = self.registry.devices.get(alert.device)
        if device is None:
            return None
        labels = labels_of(
            alert.type, alert.severity, alert.rule, device, self.registry, alert.building
        )
        return self._suppressed(alert, labels, now)

    def _place(self, alert: Alert, notify: bool, now: float) -> None:
        """A firing alert with no incident yet: join its group's open incident, open one
        (a critical alert at once, a lesser one after its group_wait), or wait."""
        if self.incidents is None or alert.incident_id is not None or alert.id in self._pending:
            return
        grouping = self.grouper.group_of(alert)
        if grouping.opens and notify and grouping.wait_s <= 0:
            self.open_incident(alert, now)
        elif self.incidents.incident_of_group(grouping.key) is not None:
            self._join(alert, now, grouping, may_open=False)
        elif grouping.opens and notify:
            self._pending[alert.id] = now + grouping.wait_s

    def open_incident(self, alert: Alert, now: float) -> int | None:
        """Open the incident of `alert`'s group (or join the open one)."""
        if self.incidents is None:
            return None
        self._pending.pop(alert.id, None)
        return self._join(alert, now, self.grouper.group_of(alert), may_open=True)

    def _join(self, alert: Alert, now: float, grouping: Grouping, may_open: bool) -> int | None:
        assert self.incidents is not None
        facts = replace(grouping.facts, may_open=may_open)
        incident_id, opened, logged = self.incidents.open_or_join(
            grouping.key, alert.grid, alert.id, now, alert.summary, facts
        )
        if logged is not None:
            self._fan_out(*logged)
        if opened:
            log.warning("incident %s opened for alert %s", incident_id, alert.id)
        return incident_id or None

    def _note(self, alert: Alert, now: float, kind: str, by: str | None, note: str) -> None:
        """A line in the timeline of the alert's incident, if it has one."""
        if self.incidents is not None and alert.incident_id is not None:
            self.incidents.add_timeline(alert.incident_id, now, kind, by, note, alert.id)

    def _escalated(self, alert: Alert, now: float, level_name: str, added: list[str]) -> None:
        names = [self.registry.receivers[r].name if r in self.registry.receivers else r
                 for r in added]
        self._note(alert, now, "escalated", "dispatch", f"{level_name}: {'、'.join(names)}")

    def _open_due(self, now: float) -> None:
        """Open the incidents whose group_wait is over, for alerts still firing alone."""
        for alert_id in [a for a, due in self._pending.items() if due <= now]:
            del self._pending[alert_id]
            alert = self.ops.get_alert(alert_id)
            if alert is not None and alert.status == "firing" and alert.incident_id is None:
                self.open_incident(alert, now)

    def close_false_alarm(self, incident_id: int, who: str, reason: str) -> list[Alert]:
        """Close an incident as a false alarm: its firing alerts are resolved (and their
        timers stopped), each logged for the live pages. KeyError: no such incident."""
        if self.incidents is None:
            raise KeyError(incident_id)
        with self._lock:
            now = self.clock()
            resolved = self.incidents.close_false_alarm(incident_id, who, reason, now)
            for alert, seq in resolved:
                if self.state is not None:
                    self.state.set_timer(alert.id, "done", None)
                self._armed.discard(alert.id)
                self._pending.pop(alert.id, None)
                self._fan_out(alert, seq)
            return [a for a, _ in resolved]

    def note_readings(self, readings: Sequence[Reading]) -> None:
        """Elevator modes, for inhibition (a car in inspection reports expected faults)."""
        for r in ReadingTable.of(readings).of_metric(ELEVATOR_MODE):
            self.inhibitor.set_mode(r.device, int(r.value))

    def tick(self) -> int:
        """Fire due escalation and re-notification timers; the steps recorded."""
        with self._lock:
            now = self.clock()
            self._open_due(now)
            return 0 if self.escalator is None else self.escalator.tick(now)

    def ack(self, alert_id: int, by: str, note: str) -> Alert | None:
        with self._lock:
            now = self.clock()
            result = self.ops.ack(alert_id, by, note, now)
            if result is None:
                return None
            alert, seq = result
            if alert.status == "firing":
                self.escalator.acknowledged(alert_id, now)
            self._fan_out(alert, seq)
            self._note(alert, now, "alert_acked", by, note)
            return alert

    def _fan_out(self, alert: Alert, seq: int, publish: bool = True) -> None:
        """Queue the alert's webhooks (in the store, with the change) and wake the
        streams and the sinks: at once, or inside a batch after its commit."""
        if publish and self.webhooks.wanted(alert):
            self.webhooks.enqueue_alert(alert, seq, alert_json(alert))
        delivery = Delivery(alert, seq, publish)
        if self._batch is not None:
            self._batch.deliveries.append(delivery)
        else:
            self._deliver([delivery])

    def _deliver(self, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return
        # One wake-up for the batch: a stream reads every entry after its last one, and
        # sends the critical ones first when it is behind (api.sse).
        self.notifier.notify(max(d.seq for d in deliveries),
                             [d.seq for d in deliveries if d.alert.severity == URGENT])
        for d in deliveries:
            if not d.publish or not self.sinks:
                continue
            payload = alert_json(d.alert)
            for sink in self.sinks:
                try:
                    sink.publish(d.alert, payload)
                except Exception:
                    # The alert is stored and on the SSE log; a broken view must not
                    # stop dispatch of the next one.
                    log.exception("dispatch: sink %s failed for alert %s", sink, d.alert.id)
