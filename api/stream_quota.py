"""Who may hold how many alert streams, so that nobody can crowd out a guard room or the
operations centre.

Each open stream holds a connection and wakes on every alert, so their number is
bounded, but not by one shared pool (one token could take it all). Instead:

- a token holds at most `per_token` streams (a board, its reconnect, a second screen);
- each guard grid has `per_grid` streams of its own, shared by that grid's guard
  rooms and consoles and by nobody else;
- the street-wide operations centre (role ops, no grid) has `ops` streams of its own;
  a grid-scoped ops token gets a grid pool like a guard room's;
- everyone else (maintenance units, admin) shares `shared` streams, `per_grid` at most
  per unit or admin scope.

Guard and ops pools are reserved: no other caller's streams count against them, so
a guard room can always open its board. The total stays bounded by the registry:
grids x per_grid + ops + shared. A refusal says which limit was hit; the route
answers it with 429 and Retry-After.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from api.tokens import Principal
from gridwatch.metrics import SSE_CLIENTS

RETRY_AFTER_S = 5


@dataclass(frozen=True, slots=True)
class StreamLimits:
    per_token: int = 3
    per_grid: int = 8
    ops: int = 24
    shared: int = 40

    def __post_init__(self) -> None:
        for name in ("per_token", "per_grid", "ops", "shared"):
            if getattr(self, name) < 1:
                raise ValueError(f"stream limit {name} must be at least 1")


@dataclass(frozen=True, slots=True)
class Pool:
    key: tuple[str, str]
    limit: int
    reserved: bool  # a guard room's or the operations centre's: outside the shared pool


def pool_of(principal: Principal, limits: StreamLimits) -> Pool:
    role, grid = principal.role, principal.grid
    if role == "guard" and grid is not None:
        return Pool(("guard", grid), limits.per_grid, True)
    if role == "ops":
        if grid is None:
            return Pool(("ops", "street"), limits.ops, True)
        return Pool(("ops", grid), limits.per_grid, True)
    return Pool((role, principal.maintainer or grid or "street"), limits.per_grid, False)


class StreamQuota:
    """Open streams per token, per pool and in the shared pool. Only touched from the
    event loop thread, so plain counters suffice."""

    def __init__(self, limits: StreamLimits) -> None:
        self.limits = limits
        self._tokens: Counter[str] = Counter()
        self._pools: Counter[tuple[str, str]] = Counter()
        self._shared = 0

    def acquire(self, principal: Principal) -> str | None:
        """Takes a stream for `principal`; or, when a limit is full, says which."""
        pool = pool_of(principal, self.limits)
        if self._tokens[principal.token_id] >= self.limits.per_token:
            return (f"this token already holds {self.limits.per_token} alert streams "
                    "(the limit per token): close another tab or window of it")
        if self._pools[pool.key] >= pool.limit:
            return (f"the {pool.key[0]} streams of {pool.key[1]} are all taken "
                    f"(limit {pool.limit})")
        if not pool.reserved and self._shared >= self.limits.shared:
            return (f"the {self.limits.shared} alert streams shared by maintenance units "
                    "and admin are all taken")
        self._tokens[principal.token_id] += 1
        self._pools[pool.key] += 1
        self._shared += not pool.reserved
        SSE_CLIENTS.inc()
        return None

    def release(self, principal: Principal) -> None:
        pool = pool_of(principal, self.limits)
        self._tokens[principal.token_id] -= 1
        self._pools[pool.key] -= 1
        self._shared -= not pool.reserved
        # Counters keep zero entries otherwise: one per token ever seen.
        if self._tokens[principal.token_id] <= 0:
            del self._tokens[principal.token_id]
        if self._pools[pool.key] <= 0:
            del self._pools[pool.key]
        SSE_CLIENTS.dec()

    def open_streams(self) -> int:
        return sum(self._pools.values())
