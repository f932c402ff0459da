"""Escalation up the grid: unacknowledged alerts reach one grid level further per timeout.

Level 0 is the route's own receivers; level n adds the on-duty receivers attached to
the n-th grid node up from the device (1 micro-grid, 2 area, 3 district, 4 the
operations centre). A level that would add nobody new is passed over, so no timeout
is spent on an empty step. An acknowledged but unresolved alert is notified again
every `renotify_after_s`. Timers live in the store (see store.opstate_dispatch), so a
restart fires each pending step once, at its due time or at once if that has passed.

A silence or an inhibition holds a timer, whether it began before or after the alert
fired: while it lasts nobody more is paged, and the timer looks again every
`HELD_RECHECK_S`; once it is over, an alert still firing and unacknowledged goes on up
the grid (someone still has to take it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from config.registry import Registry
from dispatch.selection import DISTRICT_LEVEL, LEVEL_NAMES, MAX_LEVEL, ReceiverSelector
from gridwatch.records import Alert
from store.interfaces import OpStore
from store.opstate_dispatch import DispatchState, Timer

log = logging.getLogger(__name__)

Emit = Callable[[Alert, int], None]
Suppressed = Callable[[Alert, float], str | None]  # why the alert must not notify now
HELD_RECHECK_S = 30.0


class Escalator:
    def __init__(
        self,
        registry: Registry,
        ops: OpStore,
        state: DispatchState,
        selector: ReceiverSelector,
        emit: Emit,
        on_district: Callable[[Alert, float], object],
        suppressed: Suppressed,
        on_step: Callable[[Alert, float, str, list[str]], None] | None = None,
    ) -> None:
        self.registry = registry
        self.ops = ops
        self.state = state
        self.selector = selector
        self.emit = emit
        self.on_district = on_district
        self.suppressed = suppressed
        self.on_step = on_step

    def tick(self, now: float) -> int:
        """Fire every due timer; returns how many steps were recorded."""
        steps = 0
        for timer in self.state.due_timers(now):
            alert = self.ops.get_alert(timer.alert_id)
            if alert is None or alert.status != "firing":
                self.state.set_timer(timer.alert_id, "done", None)
            elif (reason := self.suppressed(alert, now)) is not None:
                log.info("alert %s: %s held (%s)", alert.id, timer.mode, reason)
                self.state.set_timer(timer.alert_id, timer.mode, now + HELD_RECHECK_S)
            elif timer.mode == "renotify":
                steps += self._renotify(timer, alert, now)
            elif alert.acked_at is not None:
                # Acked between the timer being read and now: the ack armed renotify.
                continue
            else:
                steps += self._escalate(timer, alert, now)
        return steps

    def _escalate(self, timer: Timer, alert: Alert, now: float) -> int:
        device = self.registry.devices.get(alert.device)
        step = None if device is None else self._next_level(alert, now)
        if step is None:
            self.state.set_timer(timer.alert_id, "done", None)
            return 0
        level, added = step
        last = level >= MAX_LEVEL
        result = self.state.fire_timer(
            timer, now, level, [*alert.receivers, *added],
            "done" if last else "escalate", None if last else now + timer.escalate_after_s,
        )
        if result is None:
            return 0
        escalated, seq = result
        log.info("alert %s escalated to the %s: %s", alert.id, LEVEL_NAMES[level - 1], added)
        self.emit(escalated, seq)
        if self.on_step is not None:
            self.on_step(escalated, now, LEVEL_NAMES[level - 1], added)
        if level >= DISTRICT_LEVEL:
            self.on_district(escalated, now)
        return 1

    def _next_level(self, alert: Alert, now: float) -> tuple[int, list[str]] | None:
        device = self.registry.devices[alert.device]
        for level in range(alert.escalation_level + 1, MAX_LEVEL + 1):
            added = [
                r for r in self.selector.at_level(device, level, now) if r not in alert.receivers
            ]
            if added:
                return level, added
        return None

    def _renotify(self, timer: Timer, alert: Alert, now: float) -> int:
        result = self.state.fire_timer(
            timer, now, alert.escalation_level, alert.receivers, "renotify",
            now + timer.renotify_after_s,
        )
        if result is None:
            return 0
        self.emit(*result)
        return 1

    def acknowledged(self, alert_id: int, now: float) -> None:
        """Stop escalating; notify again later if the alert is still firing then."""
        timer = self.state.timer(alert_id)
        if timer is not None:
            self.state.set_timer(alert_id, "renotify", now + timer.renotify_after_s)
