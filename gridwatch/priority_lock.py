"""A mutex that an urgent holder gets before any waiting ordinary one.

The detector engine is driven by the readings lane, the alarm lane and a ticker. A
plain Lock is not fair: a readings lane that evaluates a large batch chunk by chunk
releases and re-takes it at once, and an alarm waiting for it could wait the whole
batch. Here an urgent acquirer (the alarm lane) is let in at the next release, so it
waits for at most one chunk.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class PriorityLock:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._urgent_waiting = 0

    @contextmanager
    def hold(self, urgent: bool = False) -> Iterator[None]:
        with self._cond:
            if urgent:
                self._urgent_waiting += 1
                try:
                    while self._held:
                        self._cond.wait()
                finally:
                    self._urgent_waiting -= 1
            else:
                while self._held or self._urgent_waiting:
                    self._cond.wait()
            self._held = True
        try:
            yield
        finally:
            with self._cond:
                self._held = False
                self._cond.notify_all()

    def __enter__(self) -> None:
        """`with lock:` is an ordinary hold (the ticker, saves, the restart replay)."""
        with self._cond:
            while self._held or self._urgent_waiting:
                self._cond.wait()
            self._held = True

    def __exit__(self, *_: object) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()
