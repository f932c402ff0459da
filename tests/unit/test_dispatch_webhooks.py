"""Webhooks to outside units against a real local HTTP server: quick retries, a
receiver that is down keeps its deliveries pending (ManualClock for the later retry),
and the delivery log survives a restart."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from config.registry import Registry
from dispatch.dispatcher import Dispatcher
from dispatch.webhooks import KEY_HEADER, WebhookSender
from gridwatch.alert_json import alert_json
from gridwatch.clock import ManualClock
from gridwatch.notify import LogNotifier
from gridwatch.ports import free_port
from store.opstate_sqlite import SqliteOpStore
from store.opstate_webhooks import WebhookLog
from tests.support.dispatch_street import STREET, load_street
from tests.unit.test_dispatch_escalation import change
from tests.unit.test_dispatch_routes import NIGHT

ROUTES = """\
routes:
  receivers: [guard_room]
  routes:
  - match: {device_type: [camera]}
    receivers: [police]
"""


class Hook:
    """A receiver that answers 500 to its first `failures` requests, then 200."""

    def __init__(self, port: int, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[tuple[str, dict[str, Any]]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.failures > 0:
                    hook.failures -= 1
                    self.send_response(500)
                else:
                    hook.received.append((self.headers[KEY_HEADER], json.loads(body)))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def registry(tmp_path: Path, port: int) -> Registry:
    street = STREET.replace(
        "- {id: police, name: 派出所, kind: outside, grid: lc}",
        f"- {{id: police, name: 派出所, kind: outside, grid: lc, webhook: 'http://127.0.0.1:{port}/in'}}",
    )
    assert street != STREET
    return load_street(tmp_path / "street", ROUTES, street)


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[SqliteOpStore]:
    store = SqliteOpStore(tmp_path / "ops.sqlite3")
    yield store
    store.close()


def sender(registry: Registry, ops: SqliteOpStore, clock: ManualClock) -> WebhookSender:
    return WebhookSender(registry, ops, clock, tries=3, wait_s=0.0)


def test_an_alert_for_an_outside_unit_is_posted_after_quick_retries(
    registry: Registry, ops: SqliteOpStore, port: int
) -> None:
    hook = Hook(port, failures=2)
    clock = ManualClock(NIGHT)
    dispatcher = Dispatcher(registry, ops, LogNotifier(), [], clock)
    dispatcher.webhooks = sender(registry, ops, clock)
    try:
        [alert] = dispatcher.apply([change("cam-1", "camera.intrusion")])
        [ignored] = dispatcher.apply([change("smoke-1", "device.offline", rule="offline")])
        assert alert.receivers == ["police"] and "police" not in ignored.receivers
        assert dispatcher.webhooks.deliver_due() == 1
    finally:
        hook.close()
    [(key, body)] = hook.received
    assert body == {"kind": "alert", "alert": alert_json(alert)}
    [logged] = WebhookLog(ops).all()
    assert logged.status == "delivered" and logged.attempts == 1 and logged.key == key


def test_a_receiver_that_is_down_loses_nothing(
    registry: Registry, ops: SqliteOpStore, port: int, tmp_path: Path
) -> None:
    clock = ManualClock(NIGHT)
    dispatcher = Dispatcher(registry, ops, LogNotifier(), [], clock)
    dispatcher.webhooks = sender(registry, ops, clock)
    [alert] = dispatcher.apply([change("cam-1", "camera.intrusion")])
    assert dispatcher.webhooks.deliver_due() == 0  # nobody listening
    [pending] = WebhookLog(ops).all()
    assert pending.status == "pending" and pending.attempts == 1 and pending.last_error
    hook = Hook(port)
    try:
        assert dispatcher.webhooks.deliver_due() == 0  # not yet due again
        assert hook.received == []
        # A restart in between: the log is in the store, not in memory.
        ops.close()
        reopened = SqliteOpStore(tmp_path / "ops.sqlite3")
        clock.advance(10)
        assert sender(registry, reopened, clock).deliver_due() == 1
        assert sender(registry, reopened, clock).deliver_due() == 0  # once
        reopened.close()
    finally:
        hook.close()
    [(_, body)] = hook.received
    assert body["alert"]["id"] == alert.id


def test_enqueueing_the_same_change_twice_sends_it_once(
    registry: Registry, ops: SqliteOpStore, port: int
) -> None:
    clock = ManualClock(NIGHT)
    hooks = sender(registry, ops, clock)
    incident = {"id": 7, "history": [{"to": "open"}, {"to": "dispatched"}]}
    assert hooks.enqueue_incident("police", incident)
    assert not hooks.enqueue_incident("police", incident)
    with pytest.raises(KeyError):
        hooks.enqueue_incident("d1-station", incident)  # no webhook
    hook = Hook(port)
    try:
        assert hooks.deliver_due() == 1
    finally:
        hook.close()
    assert [b["incident"]["id"] for _, b in hook.received] == [7]
