"""The device health report: per-device figures over the last 24 hours.

Definitions (the window is [now - 24 h, now); a device's observed span is the part of
it from the latest of the window's start, its first report ever and its commissioning
date (`commissioned:` in the registry, from midnight Shanghai time), so a device put in
service today is judged over today only):

- `allowance_s`: the longest silence that still counts as online, the offline rule's
  `factor * interval_s + grace_s` (the same the offline detector uses).
- `last_seen`: the device's last reading or event, ever.
- `online`: seen within its allowance of now.
- `messages_24h`: distinct reading timestamps in the window (one MQTT message carries
  several metrics of one instant; health messages count, being battery readings).
- `expected_24h`: the observed span / `interval_s`, rounded (86,400 / `interval_s` for
  a device older than the window).
- `gaps_24h`: silences longer than the allowance overlapping the observed span,
  including one still running now and one that began before the span (never the time
  before a device's first report).
- `uptime_pct_24h`: 100 x the share of the observed span not spent past the allowance:
  a healthy new device is at 100 %. A device registered but never heard from is
  silent over its whole span: 0 % and one gap (it is missing, which is what the
  maintainer must see). Null while its commissioning date is still ahead.
- `battery`: the last `battery_pct` reading in the window (null when none).
- `faults_24h`: device fault events in the window that started (or were instant):
  see FAULT_TYPES.
- `anomaly`: each anomaly rule watching the device, with the score it fires at now
  (learnt per device for the rule's false-alert budget) and whether it is still
  learning (not paging); empty for devices no anomaly rule watches.
- `alerts_24h`: alerts of the device that were raised, changed or still firing in the
  window (from the 1,000 most recently changed alerts in scope: the store's list cap).

`gaps_24h`, `uptime_pct_24h` and `faults_24h` need a store that can group silences
(the embedded DuckDB one); on another store they are null and battery is null.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, runtime_checkable

from api.context import ApiContext
from api.schemas import AnomalyLevelOut, DeviceHealthOut
from config.models import DeviceSpec
from gridwatch.local_hours import SHANGHAI
from gridwatch.timefmt import iso
from store.health_duckdb import DeviceHealthStats

WINDOW_S = 86_400.0
ALERT_LIST_CAP = 1000
FAULT_TYPES = (
    "fire.fault",
    "fire.power_fault",
    "elevator.power_loss",
    "elevator.safety_circuit_open",
    "elevator.door_fault",
    "camera.tamper",
)


@runtime_checkable
class HealthStatsSource(Protocol):
    def device_health(
        self,
        start: float,
        end: float,
        allowances: Mapping[str, float],
        fault_types: Sequence[str],
        commissioned: Mapping[str, float] | None = None,
    ) -> list[DeviceHealthStats]: ...


@dataclass(frozen=True, slots=True)
class _Figures:
    last_seen: float | None
    messages: int
    gaps: int | None
    offline_s: float | None
    observed_s: float | None  # None: not known (the whole window is assumed)
    battery: float | None
    faults: int | None


def _figures(
    ctx: ApiContext, start: float, end: float, allowances: dict[str, float],
    commissioned: dict[str, float],
) -> dict[str, _Figures]:
    store = ctx.timeseries
    if isinstance(store, HealthStatsSource):
        rows = store.device_health(start, end, allowances, FAULT_TYPES, commissioned)
        return {
            r.device: _Figures(r.last_seen, r.messages, r.gaps, r.offline_s, r.observed_s,
                               r.battery, r.faults)
            for r in rows
        }  # fmt: skip
    # A store without the grouped query: messages and last seen only, the rest null.
    unknown = _Figures(None, 0, None, None, None, None, None)
    found = dict.fromkeys(allowances, unknown)
    for a in store.activity(start, end):
        if a.device in found:
            found[a.device] = _Figures(a.last_seen, a.messages, None, None, None, None, None)
    return found


def commissioned_at(day: date) -> float:
    """A commissioning date as Unix seconds: its first instant in Shanghai."""
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).timestamp()


def _alert_counts(ctx: ApiContext, start: float, devices: Sequence[str]) -> Counter[str]:
    recent = ctx.ops.list_alerts(None, since=start, limit=ALERT_LIST_CAP, devices=devices)
    firing = ctx.ops.list_alerts(None, status="firing", limit=ALERT_LIST_CAP, devices=devices)
    ids = {a.id: a.device for a in [*recent, *firing]}
    return Counter(ids.values())


def _uptime(offline_s: float | None, observed_s: float | None) -> float | None:
    """The share of the observed span not spent silent; null when there is none yet
    (commissioned later than now) or the store cannot tell."""
    if offline_s is None or (observed_s is not None and observed_s <= 0):
        return None
    span = WINDOW_S if observed_s is None else observed_s
    return round(min(100.0, max(0.0, 100.0 * (1.0 - offline_s / span))), 2)


def _expected(observed_s: float | None, interval_s: float) -> int:
    return round((WINDOW_S if observed_s is None else observed_s) / interval_s)


def health_report(ctx: ApiContext, devices: Sequence[DeviceSpec]) -> list[DeviceHealthOut]:
    """The figures for `devices` (already cut to what the caller may see)."""
    now = ctx.clock()
    start = now - WINDOW_S
    offline = ctx.registry.rules.offline
    allowances = {d.id: offline.factor * d.interval_s + offline.grace_s for d in devices}
    commissioned = {d.id: commissioned_at(d.commissioned) for d in devices if d.commissioned}
    figures = _figures(ctx, start, now, allowances, commissioned)
    alerts = _alert_counts(ctx, start, [d.id for d in devices])
    levels = ctx.anomaly_levels() if ctx.anomaly_levels is not None else {}
    out = []
    for d in devices:
        f = figures[d.id]
        out.append(
            DeviceHealthOut(
                device=d.id, type=d.type, grid=d.grid, building=d.building, floor=d.floor,
                maintainer=d.maintainer, interval_s=d.interval_s, allowance_s=allowances[d.id],
                last_seen=iso(f.last_seen),
                online=f.last_seen is not None and now - f.last_seen <= allowances[d.id],
                uptime_pct_24h=_uptime(f.offline_s, f.observed_s), messages_24h=f.messages,
                expected_24h=_expected(f.observed_s, d.interval_s), gaps_24h=f.gaps,
                battery=f.battery, faults_24h=f.faults, alerts_24h=alerts[d.id],
                anomaly=[AnomalyLevelOut(rule=a.rule, level=a.level, learning=a.learning,
                                         budget=a.budget) for a in levels.get(d.id, ())],
            )
        )
    return out
