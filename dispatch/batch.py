"""One batch of alert changes through dispatch (issue 16): its order, and what it
holds back until the store commits it.

A batch is applied in one store transaction (`OpStore.batch`). What must not happen
before that commit is collected here and done after it: waking the SSE streams and
publishing to the sinks (a subscriber must find the change in the log when woken).
Timer rows are collected too and written with one `executemany` each at the end of
the batch, still inside its transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from config.models_base import SEVERITIES
from gridwatch.records import Alert, AlertChange
from store.opstate_dispatch import DispatchState, Silence, TimerMode

# critical first; an unknown severity after every known one
_RANK = {name: n for n, name in enumerate(SEVERITIES)}


def severity_first(changes: Sequence[AlertChange]) -> list[AlertChange]:
    """The changes, most severe first, so that in a storm (every device of an area at
    once) the critical alerts are stored and delivered before the rest. Each
    fingerprint's changes keep their order and move together, ranked by the most
    severe of them (a fire and its resolve in one batch stay fire, then resolve)."""
    rank: dict[str, int] = {}
    for c in changes:
        r = _RANK.get(c.severity, len(_RANK))
        if r < rank.get(c.fingerprint, len(_RANK) + 1):
            rank[c.fingerprint] = r
    # sorted() is stable: equal ranks keep their arrival order.
    return sorted(changes, key=lambda c: rank[c.fingerprint])


@dataclass(slots=True)
class Delivery:
    alert: Alert
    seq: int
    publish: bool  # False: logged for the streams, not published to the sinks


@dataclass(slots=True)
class DispatchBatch:
    now: float
    deliveries: list[Delivery] = field(default_factory=list)
    timer_starts: list[tuple[int, TimerMode, float | None, float, float]] = field(
        default_factory=list
    )
    timer_moves: list[tuple[TimerMode, float | None, int]] = field(default_factory=list)
    silences: list[Silence] | None = None  # the active ones, read once per batch

    def write_timers(self, state: DispatchState) -> None:
        """Inside the batch's transaction: new timers first, then the moves (a fire
        and its resolve in one batch: the row is made, then set to done)."""
        state.start_timers(self.timer_starts)
        state.set_timers(self.timer_moves)
        self.timer_starts.clear()
        self.timer_moves.clear()
