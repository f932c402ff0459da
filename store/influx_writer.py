"""Delivering line-protocol batches: retry, split on bad lines, spool what cannot go.

`BatchWriter.write` returns only when every line of the batch is written, sent to the
dead letters (a line the server refuses as malformed), or durably spooled, so ingest
can acknowledge after it. The transport is a plain `send(lines)` that raises
`WriteFailed` with the HTTP status (or none, for a network error), which keeps this
logic testable without a server and independent of the client library.

- 429, 503, other 5xx and network errors are transient: retried with exponential
  backoff, or after the server's Retry-After when it gives one (capped), by tenacity.
- 400, 413 and 422 mean something in the batch is refused: the batch is halved until
  the refused lines are found; each is dead-lettered and the rest is written. A
  rewrite of an already accepted half is harmless (InfluxDB overwrites a point with
  the same measurement, tags and timestamp).
- Anything else (401, 403, 404: a wrong token or bucket) will not heal by retrying
  soon, so the batch is spooled at once and the flusher retries it later.
- While the spool holds anything the server has recently failed, so a batch gets one
  attempt before it is spooled: during an outage a fire alarm's write must not wait
  through a full backoff before ingest can acknowledge and evaluate it.

The spool is bounded (`max_spooled_batches`, 5,000 lines each): when it is full,
`write` raises `SpoolFull`, ingest does not acknowledge, and the backlog waits at the
broker (persistent session) instead of filling the disk.

`write` and `flush_spool` may run at the same time (the flusher thread and ingest):
they share only the spool, which has its own lock, and the thread-safe transport.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential

from gridwatch import metrics
from store.influx_spool import DiskSpool

log = logging.getLogger(__name__)

TRANSIENT = frozenset({429, 500, 502, 503, 504})
REFUSED_LINES = frozenset({400, 413, 422})


class SpoolFull(RuntimeError):
    """The server is away and the spool is at its bound: do not acknowledge."""


class WriteFailed(Exception):
    """A failed write: `status` is None for a network error."""

    def __init__(self, status: int | None, message: str, retry_after: float | None = None):
        super().__init__(f"{status or 'network'}: {message}")
        self.status = status
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.status is None or self.status in TRANSIENT


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    initial_s: float = 0.5
    max_wait_s: float = 30.0
    max_lines: int = 5_000  # lines per request: InfluxDB's recommended batch size
    max_spooled_batches: int = 20_000  # at most 100 M lines, some 10 GB, on disk


DEFAULT_POLICY = RetryPolicy()

Send = Callable[[list[str]], None]
DeadLetter = Callable[[str, str], None]  # (line, reason)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare for write APIs: ignored)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class BatchWriter:
    def __init__(
        self,
        send: Send,
        spool: DiskSpool,
        dead_letter: DeadLetter,
        policy: RetryPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._send = send
        self.spool = spool
        self._dead_letter = dead_letter
        self.policy = policy
        self._sleep = sleep
        self._backoff = wait_exponential(multiplier=policy.initial_s, max=policy.max_wait_s)

    def write(self, lines: list[str]) -> None:
        """Write, dead-letter or durably spool every line before returning."""
        size = self.policy.max_lines
        attempts = 1 if self.spool.depth() else self.policy.attempts
        for start in range(0, len(lines), size):
            chunk = lines[start : start + size]
            left = self._deliver(chunk, attempts)
            if left and self.spool.depth() >= self.policy.max_spooled_batches:
                raise SpoolFull(f"InfluxDB unreachable and {self.spool.depth()} batches "
                                "already spooled: leaving the backlog at the broker")
            if left:
                self.spool.put(left)
                metrics.INFLUX_SPOOLED.inc()
                log.warning("influx: %d lines spooled to disk; retried later", len(left))
        metrics.INFLUX_SPOOL_DEPTH.set(self.spool.depth())

    def flush_spool(self) -> int:
        """Retry spooled batches, oldest first; stop at the first that still cannot be
        written (the server is still away). Returns how many batches remain."""
        for path in self.spool.pending():
            lines = self.spool.read(path)
            left = self._deliver(lines, attempts=1)  # the flusher comes back anyway
            if len(left) == len(lines):
                break
            if left:
                self.spool.replace(path, left)
            else:
                self.spool.remove(path)
        depth = self.spool.depth()
        metrics.INFLUX_SPOOL_DEPTH.set(depth)
        return depth

    def _deliver(self, lines: list[str], attempts: int) -> list[str]:
        """Send with retries; split around refused lines. Returns the lines that could
        not be delivered (for the spool): after the first such failure the rest is not
        tried, because the server is evidently away."""
        try:
            self._send_retrying(lines, attempts)
            return []
        except WriteFailed as exc:
            if exc.status not in REFUSED_LINES:
                log.warning("influx: write failed (%s)", exc)
                return lines
            if len(lines) == 1:
                self._dead_letter(lines[0], str(exc))
                metrics.INFLUX_REJECTED_LINES.inc()
                return []
        mid = len(lines) // 2
        left = self._deliver(lines[:mid], attempts)
        return left + lines[mid:] if left else self._deliver(lines[mid:], attempts)

    def _send_retrying(self, lines: list[str], attempts: int) -> None:
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, WriteFailed) and e.transient),
            before_sleep=lambda _state: metrics.INFLUX_RETRIES.inc(),
            sleep=self._sleep,
            reraise=True,
        )
        retrying(self._send, lines)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, WriteFailed) and exc.retry_after is not None:
            return min(exc.retry_after, self.policy.max_wait_s)
        return float(self._backoff(state))
