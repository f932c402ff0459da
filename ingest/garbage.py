"""How much of one agent's garbage is kept, and when it becomes an operator's problem.

Every reject is answered (counted, logged), but a misbehaving agent must not be able to
turn the dead-letter store into its disk quota or its commits into our lane's time: each
agent has a token bucket of stored dead letters. Beyond it, rejects are counted as
dropped and not stored. The first time an agent runs its bucket dry starts an
"episode", which the operations centre is told about once; the episode ends when the
agent has sent no reject for `quiet_s`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from config.registry import Registry
from gridwatch.records import AlertChange

UNKNOWN_AGENT = "?"  # the bucket shared by every topic that names no registered agent


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    last_reject: float
    episode: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    store: bool  # keep this reject in the dead-letter store
    episode_started: bool  # the agent just became a garbage sender: tell the operators


class GarbageBudget:
    def __init__(self, rate_per_s: float = 5.0, burst: float = 200.0,
                 quiet_s: float = 600.0) -> None:
        if rate_per_s <= 0 or burst < 1 or quiet_s <= 0:
            raise ValueError("rate_per_s and quiet_s must be positive and burst at least 1")
        self.rate = rate_per_s
        self.burst = burst
        self.quiet_s = quiet_s
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()  # both ingest lanes share one budget

    def reject(self, agent: str | None, now: float) -> Verdict:
        with self._lock:
            return self._reject(agent, now)

    def _reject(self, agent: str | None, now: float) -> Verdict:
        key = agent or UNKNOWN_AGENT
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket(self.burst, now, now)
        if now - b.last_reject > self.quiet_s:
            b.episode = False
        b.tokens = min(self.burst, b.tokens + (now - b.at) * self.rate)
        b.at = b.last_reject = now
        if b.tokens >= 1:
            b.tokens -= 1
            return Verdict(store=True, episode_started=False)
        started = not b.episode
        b.episode = True
        return Verdict(store=False, episode_started=started)

    def episode_over(self, agent: str, now: float) -> bool:
        """True once, when an agent in an episode has been quiet for `quiet_s`."""
        b = self._buckets.get(agent)
        if b is None or not b.episode:  # the common case, without the lock
            return False
        with self._lock:
            if not b.episode or now - b.last_reject <= self.quiet_s:
                return False
            b.episode = False
            return True


GARBAGE_RULE = "agent.garbage"


def garbage_change(
    registry: Registry, agent: str, ts: float, detail: str, over: bool
) -> AlertChange | None:
    """The operations centre's alert for an agent's garbage episode. An alert belongs to
    a device, so it is filed under the agent's first device (as `agent.offline` is);
    None for an agent with no devices, which can only be logged."""
    device = next((d for d, spec in sorted(registry.devices.items()) if spec.agent == agent),
                  None)
    if device is None:
        return None
    return AlertChange(
        kind="resolve" if over else "fire",
        fingerprint=f"{GARBAGE_RULE}:{agent}",
        rule=GARBAGE_RULE,
        type=GARBAGE_RULE,
        severity="warning",
        device=device,
        ts=ts,
        value=None,
        summary=f"边缘代理 {agent} 持续发送无法处理的消息：{detail}"[:300],
    )
