"""Keep the alarm lane going when the disk fills: refuse telemetry first.

Below `reserve_bytes` of free space on the data directory's filesystem, a batch's
`readings` messages are refused with `TelemetryRefused` (a storage outage: held
unacknowledged, so the broker keeps them, and retried), while events, status and
health (small writes) still go through in the room that is left.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ingest.storage_errors import TelemetryRefused

RESERVE_FRACTION = 0.05
RESERVE_MAX_BYTES = 256 << 20


def default_reserve(path: Path) -> int:
    """5 % of the filesystem, at most 256 MiB."""
    return min(RESERVE_MAX_BYTES, int(shutil.disk_usage(path).total * RESERVE_FRACTION))


class DiskGuard:
    def __init__(self, path: Path, reserve_bytes: int | None = None) -> None:
        if reserve_bytes is not None and reserve_bytes < 0:
            raise ValueError("reserve_bytes must not be negative")
        self.path = path
        self.reserve_bytes = default_reserve(path) if reserve_bytes is None else reserve_bytes

    def check_telemetry(self) -> None:
        free = shutil.disk_usage(self.path).free
        if free < self.reserve_bytes:
            raise TelemetryRefused(
                f"{free >> 20} MiB free on {self.path}, under the {self.reserve_bytes >> 20} MiB "
                "kept for alarms: telemetry waits at the broker until space is freed"
            )
