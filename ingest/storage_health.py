"""Whether ingest's writes are going through: what `/healthz` and the operations
centre's banner report, and the metrics count.

Each lane (or the one pipeline) reports every batch: `failed` with the storage error,
`ok` once a batch is stored. While any lane is failing, the backend is not ready.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from gridwatch import metrics
from ingest.storage_errors import Reason

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outage:
    lane: str
    reason: Reason
    detail: str
    since: float  # Unix seconds
    failures: int


class StorageHealth:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outages: dict[str, Outage] = {}
        metrics.STORAGE_READY.set(1)

    def failed(self, lane: str, reason: Reason, exc: BaseException) -> None:
        metrics.STORAGE_FAILURES.labels(lane=lane, reason=reason).inc()
        with self._lock:
            old = self._outages.get(lane)
            since = old.since if old is not None else time.time()
            count = old.failures + 1 if old is not None else 1
            self._outages[lane] = Outage(lane, reason, str(exc)[:300], since, count)
            metrics.STORAGE_READY.set(0)
        if old is None:
            log.error("storage outage on the %s lane (%s): %s; messages held unacknowledged",
                      lane, reason, exc)

    def ok(self, lane: str) -> None:
        with self._lock:
            gone = self._outages.pop(lane, None)
            if not self._outages:
                metrics.STORAGE_READY.set(1)
        if gone is not None:
            log.warning("storage outage on the %s lane over after %.0f s (%d failed writes)",
                        lane, time.time() - gone.since, gone.failures)

    def problem(self) -> dict[str, object] | None:
        """None while writes go through; else what `/healthz` says: the worst lane's
        reason and detail, since when, and every failing lane."""
        with self._lock:
            outages = sorted(self._outages.values(), key=lambda o: o.since)
        if not outages:
            return None
        first = outages[0]
        return {
            "reason": f"storage {first.reason}: {first.detail}",
            "since": first.since,
            "lanes": [o.lane for o in outages],
        }
