"""Which failures are storage outages, and what kind.

A write that fails because the disk is full, the file is locked or the device errs is
an outage: it clears up, so ingest keeps the messages unacknowledged and retries them
however long it takes; it never makes them dead letters (issue 17). Anything else is a
bug or a bad message. The reason is a metric label and part of `/healthz`'s answer.
"""

from __future__ import annotations

import errno
import sqlite3
from typing import Literal

import duckdb

Reason = Literal["full", "locked", "io"]


class TelemetryRefused(OSError):
    """The disk is nearly full: telemetry is refused (left unacknowledged, so the broker
    keeps it) to leave the room that is left to the alarms' small writes."""

    def __init__(self, detail: str) -> None:
        super().__init__(errno.ENOSPC, detail)


def storage_reason(exc: BaseException) -> Reason | None:
    """"full", "locked" or "io" for a storage failure anywhere in `exc`'s chain; None
    for anything else."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        reason = _one(cur)
        if reason is not None:
            return reason
        cur = cur.__cause__ or cur.__context__
    return None


def _one(exc: BaseException) -> Reason | None:
    if isinstance(exc, OSError):
        return "full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "io"
    if not isinstance(exc, sqlite3.Error | duckdb.Error):
        return None
    text = str(exc).lower()
    if "full" in text or "no space" in text:
        return "full"
    if "locked" in text or "busy" in text:
        return "locked"
    if isinstance(exc, duckdb.IOException) or any(p in text for p in _IO_PHRASES):
        return "io"
    return None  # "no such table", a constraint: a bug, not an outage


# SQLite's own words for a device or file problem (sqlite3 reports them all as
# OperationalError, the same class as a bad statement).
_IO_PHRASES = ("disk i/o", "unable to open", "readonly", "read-only", "cannot commit")
