"""Alert changes from every thread, applied one at a time, urgent ones first.

Dispatch stores and fans out about a thousand changes a second. A storm of lesser
changes (a power cut silencing whole buildings) handed over as one list would hold a
fire alarm behind it for seconds, so changes wait here as single jobs in two queues,
and whoever applies next takes an urgent one first: a critical change waits for at
most the one job in progress. A job sharing a key (an alert's fingerprint) with an
earlier job still waiting among the lesser ones queues behind it, so one alert's
changes keep their order. Each thread that submits also works: it applies queued jobs
(its own or others') until its own are done, so there is no extra thread to hand to.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")


class Ticket(Generic[T, U]):
    """The jobs of one submit, to be waited for with `PriorityHandoff.finish`."""

    def __init__(self) -> None:
        self.jobs: list[_Job[T, U]] = []
        self.remaining = 0  # guarded by the handoff's condition


@dataclass(slots=True)
class _Job(Generic[T, U]):
    item: T
    keys: tuple[str, ...]
    urgent: bool
    ticket: Ticket[T, U]
    result: U | None = None
    error: BaseException | None = None


class PriorityHandoff(Generic[T, U]):
    def __init__(
        self, apply: Callable[[T], U], urgent: Callable[[T], bool],
        keys: Callable[[T], Iterable[str]],
    ) -> None:
        self._apply = apply
        self._is_urgent = urgent
        self._keys = keys
        self._cond = threading.Condition()
        self._urgent: deque[_Job[T, U]] = deque()
        self._rest: deque[_Job[T, U]] = deque()
        self._rest_keys: Counter[str] = Counter()  # fingerprints with a lesser job queued
        self._busy = False

    def submit(self, items: Sequence[T]) -> Ticket[T, U]:
        """Queue `items` in their order (cheap: call it where the order is decided)."""
        ticket: Ticket[T, U] = Ticket()
        with self._cond:
            for item in items:
                keys = tuple(self._keys(item))
                job: _Job[T, U] = _Job(item, keys, self._is_urgent(item), ticket)
                if job.urgent and not any(self._rest_keys[k] for k in keys):
                    self._urgent.append(job)
                else:
                    self._rest.append(job)
                    self._rest_keys.update(keys)
                ticket.jobs.append(job)
            ticket.remaining = len(ticket.jobs)
        return ticket

    def finish(self, ticket: Ticket[T, U]) -> list[U | None]:
        """Apply queued jobs until this ticket's are done; their results in order.
        Raises the first error one of this ticket's jobs raised."""
        while True:
            with self._cond:
                while self._busy and ticket.remaining:
                    self._cond.wait()
                if not ticket.remaining:
                    break
                job = self._next()
                self._busy = True
            try:
                job.result = self._apply(job.item)
            except BaseException as exc:  # handed to the job's owner, whoever ran it
                job.error = exc
            finally:
                with self._cond:
                    job.ticket.remaining -= 1
                    self._busy = False
                    self._cond.notify_all()
        for job in ticket.jobs:
            if job.error is not None:
                raise job.error  # the ticket keeps its jobs: its owner may look at them
        # A ticket and its jobs point at each other: left so, every change and alert of
        # a batch waited for a full garbage collection, which stops every thread (a
        # storm left ~25,000 such objects, and collections of 120-170 ms). Let go here,
        # they are freed at once.
        jobs, ticket.jobs = ticket.jobs, []
        return [job.result for job in jobs]

    def _next(self) -> _Job[T, U]:
        if self._urgent:
            return self._urgent.popleft()
        job = self._rest.popleft()
        for k in job.keys:
            self._rest_keys[k] -= 1
            if self._rest_keys[k] <= 0:
                del self._rest_keys[k]
        return job
