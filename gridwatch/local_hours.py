"""Local time in Shanghai, and the 'HH:MM-HH:MM' windows of it that duty hours, rule
schedules and camera zones are written in.

Shanghai keeps UTC+8 all year (no daylight saving), so a fixed offset is exact and needs
no tz database on the console PC.
"""

from __future__ import annotations

from datetime import timedelta, timezone

UTC_OFFSET_S = 8 * 3600
SHANGHAI = timezone(timedelta(seconds=UTC_OFFSET_S))


def local_hour(ts: float) -> float:
    """Hour of the local day (0 <= h < 24, fractional) at Unix time `ts`."""
    return (ts + UTC_OFFSET_S) % 86400 / 3600.0


def local_minute(ts: float) -> int:
    """Minute of the local day (0..1439) at Unix time `ts`."""
    return int((ts + UTC_OFFSET_S) % 86400 // 60)


def in_window(window: str, ts: float) -> bool:
    """Whether `ts` falls in `window`, 'HH:MM-HH:MM' local time (the end excluded; '24:00'
    ends at midnight). A window like 20:00-08:00 runs over midnight."""
    start, end = (int(p[:2]) * 60 + int(p[3:]) for p in window.split("-"))
    now = local_minute(ts)
    return start <= now < end if start <= end else (now >= start or now < end)
