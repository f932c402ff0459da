"""Webhooks for outside units (city management squad, police station, fire brigade).

Delivery is at least once: each delivery is written to the store's delivery log first
(`store.opstate_webhooks`), then POSTed by a sender thread with a few quick retries
(tenacity, exponential backoff). A receiver still down afterwards keeps its deliveries
pending, retried later with a growing delay, so nothing is lost; `X-Gridwatch-Delivery`
carries a key that stays the same across retries, for the receiver to drop repeats.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from config.registry import Registry
from gridwatch.clock import Clock
from gridwatch.records import Alert
from store.interfaces import OpStore
from store.opstate_webhooks import Delivery, WebhookLog

log = logging.getLogger(__name__)
KEY_HEADER = "X-Gridwatch-Delivery"
TIMEOUT_S = 5.0
LATER_BASE_S = 10.0  # after the quick retries fail: 10 s, 20 s, 40 s ... up to an hour
LATER_MAX_S = 3600.0


class WebhookSender:
    def __init__(
        self, registry: Registry, ops: OpStore, clock: Clock,
        tries: int = 3, wait_s: float = 0.5, client: httpx.Client | None = None,
    ) -> None:
        self.urls = {r.id: r.webhook for r in registry.receivers.values() if r.webhook}
        self.log = WebhookLog(ops)
        self.clock = clock
        self.tries = tries
        self.wait_s = wait_s
        self.client = client  # made on first use: enqueueing needs no connection

    def wanted(self, alert: Alert) -> bool:
        """Whether any receiver of the alert has a webhook (else no payload is built)."""
        return any(r in self.urls for r in alert.receivers)

    def enqueue_alert(self, alert: Alert, seq: int, payload: dict[str, Any]) -> int:
        """Queue the alert change for each of its receivers that has a webhook."""
        body = json.dumps({"kind": "alert", "alert": payload}, ensure_ascii=False)
        queued = 0
        for receiver in alert.receivers:
            url = self.urls.get(receiver)
            if url is not None:
                queued += self.log.enqueue(receiver, url, f"alert-log-{seq}", body, self.clock())
        return queued

    def enqueue_incident(self, receiver: str, incident: dict[str, Any]) -> bool:
        """Dispatch an incident to an outside unit; KeyError when it has no webhook."""
        url = self.urls[receiver]
        key = f"incident-{incident['id']}-{len(incident['history'])}"
        body = json.dumps({"kind": "incident", "incident": incident}, ensure_ascii=False)
        return self.log.enqueue(receiver, url, key, body, self.clock())

    def deliver_due(self) -> int:
        """Attempt every due delivery; returns how many were delivered."""
        done = 0
        for delivery in self.log.due(self.clock()):
            try:
                self._post(delivery)
            except httpx.HTTPError as exc:
                delay = min(LATER_MAX_S, LATER_BASE_S * 2**delivery.attempts)
                self.log.failed(delivery.id, f"{type(exc).__name__}: {exc}", self.clock() + delay)
                log.warning("webhook to %s failed (%s); retry in %.0f s", delivery.receiver,
                            exc, delay)
            else:
                self.log.delivered(delivery.id, self.clock())
                done += 1
        return done

    def _post(self, delivery: Delivery) -> None:
        retrying = Retrying(
            stop=stop_after_attempt(self.tries),
            wait=wait_exponential(multiplier=self.wait_s, max=self.wait_s * 8),
            retry=retry_if_exception_type(httpx.HTTPError),
            reraise=True,
        )
        if self.client is None:
            self.client = httpx.Client(timeout=TIMEOUT_S)
        client = self.client
        for attempt in retrying:
            with attempt:
                r = client.post(
                    delivery.url, content=delivery.payload.encode(),
                    headers={"Content-Type": "application/json", KEY_HEADER: delivery.key},
                )
                r.raise_for_status()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
