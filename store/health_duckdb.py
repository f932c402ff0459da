"""Per-device health figures over a time window, in one grouped DuckDB query.

A health report covers the whole street (about 1,500 devices), so everything is
computed in a single statement over a registered table of (device, allowance) rather
than one query per device.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

_ALLOW = "_gw_health_allow"

# Every device's last reading or event, over both ingest writers' tables (see
# store.timeseries_duckdb: each lane's writer keeps its own).
LAST_SEEN = """(SELECT device, max(ts) AS ts FROM (
    SELECT device, ts FROM last_seen UNION ALL SELECT device, ts FROM last_seen_alarms)
    GROUP BY device)"""

def observed_from(first_ts: str, commissioned: str) -> str:
    """SQL for the start of a device's observed span: the latest of the window's start,
    its first report ever and its commissioning, but not after the window's end (a
    device is not silent before it existed or was put in service). Shared by the full recomputation
    and the kept state's report, so that both count from the same instant). DuckDB's
    `greatest` skips NULLs: a device never seen, or never commissioned, counts from the
    window's start."""
    return f"least(greatest($start, {first_ts}, {commissioned}), $end)"


# A "message" is a distinct reading timestamp of a device (one MQTT message carries
# several metrics of a device at one instant), as in `activity()`.
_SQL = f"""
WITH allow AS (SELECT device, allowance, commissioned FROM {_ALLOW}),
-- Each device's first report ever (the kept state holds it; here from the readings).
firsts AS (
    SELECT r.device, min(r.ts) AS ts FROM readings r SEMI JOIN allow USING (device)
    GROUP BY r.device),
-- Where the device's observed span starts (see `observed_from`).
obs AS (
    SELECT a.device, a.allowance, {observed_from("f.ts", "a.commissioned")} AS ts
    FROM allow a LEFT JOIN firsts f USING (device)),
msgs AS (
    SELECT DISTINCT r.device, r.ts FROM readings r JOIN allow a USING (device)
    WHERE r.ts >= $start - a.allowance AND r.ts < $end),
-- The sighting the observed span starts from: the last message within one allowance
-- before it, or else a point one allowance before it (the device was already silent
-- then, so its silence counts from the span's start, not from when it went quiet).
first_pt AS (
    SELECT o.device, coalesce(max(m.ts), o.ts - o.allowance) AS ts
    FROM obs o LEFT JOIN msgs m
      ON m.device = o.device AND m.ts < o.ts AND m.ts >= o.ts - o.allowance
    GROUP BY o.device, o.ts, o.allowance),
pts AS (
    SELECT m.device, m.ts FROM msgs m JOIN obs o USING (device) WHERE m.ts >= o.ts
    UNION ALL SELECT device, ts FROM first_pt
    -- The window's end closes the last interval, so a silence still running counts.
    UNION ALL SELECT device, $end FROM allow),
steps AS (
    SELECT device, ts - lag(ts) OVER (PARTITION BY device ORDER BY ts) AS gap FROM pts),
silences AS (
    SELECT s.device,
           count(*) FILTER (WHERE s.gap > a.allowance) AS gaps,
           coalesce(sum(greatest(s.gap - a.allowance, 0)), 0) AS offline_s
    FROM steps s JOIN allow a USING (device) WHERE s.gap IS NOT NULL GROUP BY s.device),
counts AS (SELECT device, count(*) AS n FROM msgs WHERE ts >= $start GROUP BY device),
battery AS (
    SELECT r.device, arg_max(r.value, r.ts) AS pct FROM readings r JOIN allow USING (device)
    WHERE r.metric = 'battery_pct' AND r.ts >= $start AND r.ts < $end GROUP BY r.device),
faults AS (
    SELECT e.device, count(*) AS n FROM events e JOIN allow USING (device)
    WHERE e.ts >= $start AND e.ts < $end AND e.state IN ('start', 'instant')
      AND list_contains($fault_types, e.type)
    GROUP BY e.device)
SELECT a.device, ls.ts, coalesce(c.n, 0), si.gaps, si.offline_s, b.pct, coalesce(f.n, 0),
       $end - o.ts
FROM allow a
JOIN obs o USING (device)
LEFT JOIN {LAST_SEEN} ls USING (device)
LEFT JOIN counts c USING (device)
LEFT JOIN silences si USING (device)
LEFT JOIN battery b USING (device)
LEFT JOIN faults f USING (device)
ORDER BY a.device"""


@dataclass(frozen=True, slots=True)
class DeviceHealthStats:
    """One device over [start, end): see `device_health` for each figure's meaning."""

    device: str
    last_seen: float | None
    messages: int
    gaps: int
    offline_s: float
    battery: float | None
    faults: int
    observed_s: float


def device_health(
    cur: Any,
    start: float,
    end: float,
    allowances: Mapping[str, float],
    fault_types: Sequence[str],
    commissioned: Mapping[str, float] | None = None,
) -> list[DeviceHealthStats]:
    """For each device of `allowances` (device -> longest normal silence, s):
    `last_seen` its last reading or event ever; `messages` its distinct reading times in
    the window; `gaps` the silences longer than its allowance that overlap the window
    (a silence still running at `end` included); `offline_s` the time in the window
    spent past the allowance; `battery` its last `battery_pct` in the window; `faults`
    the events in the window of one of `fault_types` that started (or were instant);
    `observed_s` the part of the window the device is judged over, from `observed_from`
    (`commissioned`: device -> Unix seconds it went into service, when known).

    Gaps and offline time count only within the observed span, so a device that first
    reported (or was commissioned) inside the window is not silent before; a device
    never seen is silent over its whole span (one gap)."""
    if not allowances:
        return []
    cur.register(_ALLOW, allowance_table(allowances, commissioned))
    try:
        params = {"start": start, "end": end, "fault_types": list(fault_types)}
        rows = cur.execute(_SQL, params).fetchall()
    finally:
        cur.unregister(_ALLOW)
    return to_stats(rows)


def allowance_table(
    allowances: Mapping[str, float], commissioned: Mapping[str, float] | None = None
) -> pa.Table:
    """(device, allowance, commissioned or NULL) as a table the queries join against."""
    since = commissioned or {}
    if unknown := sorted(set(since) - set(allowances)):
        raise ValueError(f"commissioning dates for devices not in the report: {unknown[:5]}")
    return pa.table({
        "device": pa.array(list(allowances), type=pa.string()),
        "allowance": pa.array(list(allowances.values()), type=pa.float64()),
        "commissioned": pa.array([since.get(d) for d in allowances], type=pa.float64()),
    })


def to_stats(rows: Sequence[Sequence[Any]]) -> list[DeviceHealthStats]:
    """Rows of (device, last seen, messages, gaps, offline s, battery, faults,
    observed s)."""
    return [
        DeviceHealthStats(
            device=device,
            last_seen=None if seen is None else float(seen),
            messages=int(n),
            gaps=int(gaps or 0),
            offline_s=float(offline or 0.0),
            battery=None if pct is None else float(pct),
            faults=int(faults),
            observed_s=float(observed),
        )
        for device, seen, n, gaps, offline, pct, faults, observed in rows
    ]
