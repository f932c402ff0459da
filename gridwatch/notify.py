"""Wake-ups from the pipeline threads to the API's asyncio SSE streams.

The alert log in the OpStore is the stream itself (so resuming after Last-Event-ID
is a query, and a slow client holds no queue); this only tells waiting streams that
the log has grown. Each waiter is an asyncio.Event on its own loop, set thread-safely.

It also remembers which recent entries are urgent (a critical alert's), so that a
stream busy sending a storm's entries can send those first (`api.sse`). Only this
process's dispatch says so; an entry another replica logged (PostgreSQL's LISTEN) is
not known as urgent and is streamed in log order.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Sequence

URGENT_KEPT = 256  # recent urgent entries remembered; critical alerts are rare


class LogNotifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.last_seq = 0
        self._urgent: deque[int] = deque(maxlen=URGENT_KEPT)
        self.last_urgent = 0  # read without the lock: a stale value only delays a check

    def notify(self, seq: int, urgent: Sequence[int] = ()) -> None:
        """Called from any thread after log entries up to sequence `seq` are committed;
        `urgent`: those of them a stream should send before lesser ones."""
        with self._lock:
            self.last_seq = max(self.last_seq, seq)
            for u in sorted(urgent):
                if u > self.last_urgent:
                    self._urgent.append(u)
                    self.last_urgent = u
            waiters = list(self._waiters)
        for loop, event in waiters:
            # The loop may be closing while a late alert arrives; nothing waits then.
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    async def wait(self, after_seq: int, timeout: float) -> bool:
        """Wait until the log has an entry after `after_seq` or `timeout` passes.
        Returns True when there may be new entries."""
        if self.last_seq > after_seq:
            return True
        event = asyncio.Event()
        key = (asyncio.get_running_loop(), event)
        with self._lock:
            self._waiters.add(key)
        try:
            # Re-check after registering so a notify between the check and the
            # registration is not missed.
            if self.last_seq > after_seq:
                return True
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except TimeoutError:
                return False
            return True
        finally:
            with self._lock:
                self._waiters.discard(key)

    def urgent_after(self, seq: int) -> list[int]:
        """The remembered urgent entries after `seq`, in log order."""
        if self.last_urgent <= seq:  # the common case, without the lock
            return []
        with self._lock:
            return [u for u in self._urgent if u > seq]
