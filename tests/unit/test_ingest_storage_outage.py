"""Storage outages (issue 17): how failures are classified, what /healthz and the metrics
say while one lasts, and the nearly-full-disk guard that refuses telemetry first."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import duckdb
import pytest

from gridwatch import metrics
from ingest.disk_guard import DiskGuard
from ingest.storage_errors import TelemetryRefused, storage_reason
from ingest.storage_health import StorageHealth
from tests.support.api_harness import ApiHarness, api_harness


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "full"),
        (OSError(errno.EIO, "Input/output error"), "io"),
        (sqlite3.OperationalError("database or disk is full"), "full"),
        (sqlite3.OperationalError("database is locked"), "locked"),
        (sqlite3.OperationalError("disk I/O error"), "io"),
        (sqlite3.OperationalError("attempt to write a readonly database"), "io"),
        (duckdb.IOException("IO Error: could not write file"), "io"),
        (TelemetryRefused("nearly full"), "full"),
        (sqlite3.OperationalError("no such table: alerts"), None),
        (ValueError("bad"), None),
        (KeyError("x"), None),
    ],
)
def test_storage_reasons(exc: BaseException, reason: str | None) -> None:
    assert storage_reason(exc) == reason


def test_a_storage_error_wrapped_in_another_still_counts() -> None:
    try:
        try:
            raise sqlite3.OperationalError("database is locked")
        except sqlite3.OperationalError as inner:
            raise RuntimeError("dispatch failed") from inner
    except RuntimeError as outer:
        assert storage_reason(outer) == "locked"


def test_health_reports_the_outage_until_every_lane_recovers() -> None:
    health = StorageHealth()
    assert health.problem() is None and metrics.STORAGE_READY._value.get() == 1
    before = metrics.STORAGE_FAILURES.labels(lane="alarms", reason="full")._value.get()
    health.failed("alarms", "full", OSError(errno.ENOSPC, "No space left on device"))
    health.failed("alarms", "full", OSError(errno.ENOSPC, "No space left on device"))
    health.failed("readings", "locked", sqlite3.OperationalError("database is locked"))
    problem = health.problem()
    assert problem is not None and problem["lanes"] == ["alarms", "readings"]
    assert "storage full" in str(problem["reason"])
    assert metrics.STORAGE_FAILURES.labels(lane="alarms", reason="full")._value.get() == before + 2
    assert metrics.STORAGE_READY._value.get() == 0
    health.ok("alarms")
    assert health.problem() is not None
    health.ok("readings")
    assert health.problem() is None and metrics.STORAGE_READY._value.get() == 1


def test_healthz_is_503_with_a_reason_during_an_outage(tmp_path: Path) -> None:
    health = StorageHealth()
    with api_harness(tmp_path) as h:
        h.ctx.readiness = health.problem
        assert_ok(h)
        health.failed("ingest", "full", OSError(errno.ENOSPC, "No space left on device"))
        r = h.client.get("/healthz")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "not_ready" and "No space left" in body["reason"]
        health.ok("ingest")
        assert_ok(h)


def assert_ok(h: ApiHarness) -> None:
    r = h.client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


def test_the_guard_refuses_telemetry_below_the_reserve(tmp_path: Path) -> None:
    DiskGuard(tmp_path, reserve_bytes=0).check_telemetry()
    with pytest.raises(TelemetryRefused, match="telemetry waits at the broker"):
        DiskGuard(tmp_path, reserve_bytes=1 << 62).check_telemetry()
    with pytest.raises(ValueError, match="reserve_bytes"):
        DiskGuard(tmp_path, reserve_bytes=-1)
    assert 0 < DiskGuard(tmp_path).reserve_bytes <= 256 << 20
