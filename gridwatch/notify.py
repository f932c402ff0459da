"""Wake-ups from the pipeline threads to the API's asyncio SSE streams.

The alert log in the OpStore is the stream itself (so resuming after Last-Event-ID
is a query, and a slow client holds no queue); this only tells waiting streams that
the log has grown. Each waiter is an asyncio.Event on its own loop, set thread-safely.
"""

from __future__ import annotations

import asyncio
import threading


class LogNotifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.last_seq = 0

    def notify(self, seq: int) -> None:
        """Called from any thread after a log entry with sequence `seq` is committed."""
        with self._lock:
            self.last_seq = max(self.last_seq, seq)
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
