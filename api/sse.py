"""The live alert stream: the alert log read as Server-Sent Events.

The log in the OpStore is the stream, so a reconnecting client resumes with a query
after its Last-Event-ID and a slow client costs a cursor, not a queue. The notifier
only says that the log grew; a timed-out wait re-reads anyway, so a missed wake-up
delays an alert by at most one wait, never loses it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from gridwatch.alert_json import alert_json
from gridwatch.metrics import SSE_CLIENTS
from gridwatch.notify import LogNotifier
from store.interfaces import OpStore

READ_LIMIT = 500
WAIT_S = 15.0
PING_S = 15


class StreamSlots:
    """Counts open streams against a cap. Only touched from the event loop thread,
    so plain integers suffice."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def acquire(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        SSE_CLIENTS.inc()
        return True

    def release(self) -> None:
        self.open -= 1
        SSE_CLIENTS.dec()


class SlotResponse(EventSourceResponse):
    """Gives its stream slot back however the response ends (finished, client gone,
    cancelled), which a finally in the generator alone cannot promise: a generator
    that never started never runs its finally."""

    media_type = "text/event-stream"  # read off the class by the OpenAPI generator

    def __init__(self, content: AsyncIterator[ServerSentEvent], slots: StreamSlots) -> None:
        super().__init__(content, ping=PING_S)
        self._slots = slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._slots.release()


async def alert_events(
    ops: OpStore,
    notifier: LogNotifier,
    after: int,
    scopes: Sequence[str] | None,
    devices: frozenset[str] | None,
) -> AsyncIterator[ServerSentEvent]:
    """Every log entry after sequence `after` in scope, then each new one as it comes."""
    cursor = after
    while True:
        # The head is read before the entries: everything up to it is then either
        # returned or out of scope, so the wait can start from it without missing any.
        head = await run_in_threadpool(ops.last_log_seq)
        entries = await run_in_threadpool(ops.alert_log_after, cursor, scopes, READ_LIMIT)
        for seq, alert in entries:
            cursor = seq
            if devices is None or alert.device in devices:
                data = json.dumps(alert_json(alert), ensure_ascii=False)
                yield ServerSentEvent(data=data, event="alert", id=str(seq))
        if len(entries) >= READ_LIMIT:
            continue
        cursor = max(cursor, head)
        await notifier.wait(cursor, WAIT_S)
