"""The API over the tiny street with the real SQLite and DuckDB stores, for unit tests:
tokens of each role, alerts fired straight into the store, and a uvicorn thread for
the tests that need a real connection (SSE)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import ApiContext, store_ack
from api.stream_quota import StreamLimits
from api.tokens import create_token
from config.models import TokenSpec
from config.registry import Registry
from gridwatch.clock import ManualClock
from gridwatch.notify import LogNotifier
from gridwatch.ports import free_port
from gridwatch.records import Alert, AlertChange, ChangeKind
from store.interfaces import AlertContext
from store.opstate_sqlite import SqliteOpStore
from store.timeseries_duckdb import DuckDBTimeSeries
from tests.support.tiny_street import T0, lc_street

BOOTSTRAP = "bootstrap-secret-for-tests-0123456789"


@dataclass
class ApiHarness:
    registry: Registry
    ops: SqliteOpStore
    timeseries: DuckDBTimeSeries
    notifier: LogNotifier
    clock: ManualClock
    ctx: ApiContext
    app: FastAPI
    client: TestClient

    def token(
        self,
        role: str,
        grid: str | None = None,
        maintainer: str | None = None,
        expires_s: float | None = None,
    ) -> str:
        name = f"test {role} {grid or maintainer or 'street'}"
        token, _ = create_token(
            self.ops, self.registry, role, grid, maintainer, name, expires_s, self.clock()
        )
        return token

    def fire(
        self,
        device: str,
        rule: str = "test.rule",
        severity: str = "major",
        kind: ChangeKind = "fire",
        ts: float | None = None,
    ) -> tuple[Alert, int]:
        """Apply a change for `device` as dispatch would, and wake the streams."""
        spec = self.registry.devices[device]
        when = self.clock() if ts is None else ts
        change = AlertChange(
            kind=kind,
            fingerprint=f"{rule}:{device}",
            rule=rule,
            type=f"{spec.type.split('_')[0]}.test",
            severity=severity,
            device=device,
            ts=when,
            value=1.5,
            summary=f"{rule} on {device}",
        )
        context = AlertContext(
            spec.type, spec.grid, spec.building, ["ops"], self.registry.location(device)
        )
        applied = self.ops.apply_change(change, context, self.clock())
        assert applied is not None, f"{kind} {rule}:{device} changed nothing"
        self.notifier.notify(applied[1], [applied[1]] if severity == "critical" else [])
        return applied

    def close(self) -> None:
        self.client.close()
        self.ops.close()
        self.timeseries.close()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def api_harness(
    tmp_path: Path,
    tokens: tuple[TokenSpec, ...] = (),
    stream_limits: StreamLimits | None = None,
) -> Iterator[ApiHarness]:
    registry = lc_street(tokens)
    ops = SqliteOpStore(tmp_path / "ops.sqlite3")
    timeseries = DuckDBTimeSeries(tmp_path / "timeseries.duckdb")
    notifier = LogNotifier()
    clock = ManualClock(T0)
    ctx = ApiContext(
        registry=registry,
        ops=ops,
        timeseries=timeseries,
        notifier=notifier,
        clock=clock,
        bootstrap_token=BOOTSTRAP,
        ack_alert=store_ack(ops, notifier, clock),
        stream_limits=stream_limits or StreamLimits(),
    )
    app = create_app(ctx)
    harness = ApiHarness(registry, ops, timeseries, notifier, clock, ctx, app, TestClient(app))
    try:
        yield harness
    finally:
        harness.close()


@contextmanager
def served(app: FastAPI, timeout: float = 10.0) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
