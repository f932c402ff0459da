"""Many devices of one agent silent at once: one `agent.offline` alert, not hundreds.

An agent counts as down when none of its devices has been heard for the shortest
offline allowance among them (the agent itself is gone), or when at least
`agent_min_devices` and `agent_fraction` of its devices are offline together. While
it is down, the per-device offline alerts of its devices are held back; when it comes
back, devices still silent get their own alerts then.
"""

from __future__ import annotations

import numpy as np

from config.models_rules import CorrelationSpec
from config.registry import Registry
from detectors.offline import OFFLINE_RULE, OfflineDetector
from detectors.slots import BoolArray, DeviceIndex
from gridwatch.records import AlertChange, ChangeKind

AGENT_OFFLINE = "agent.offline"


class AgentOffline:
    def __init__(
        self,
        spec: CorrelationSpec,
        registry: Registry,
        index: DeviceIndex,
        offline: OfflineDetector,
    ) -> None:
        self.spec = spec
        self.offline = offline
        self.names = sorted({d.agent for d in registry.devices.values()})
        code = {a: i for i, a in enumerate(self.names)}
        self.agent = np.fromiter(
            (code[registry.devices[d].agent] for d in index.ids), dtype=np.intp, count=len(index)
        )
        n = len(self.names)
        self.size = np.bincount(self.agent, minlength=n)
        self.allowance = np.full(n, np.inf)
        np.minimum.at(self.allowance, self.agent, offline.allowance)
        # The device an agent alert names, for routing: the agent's first device.
        self.first = np.full(n, -1, dtype=np.intp)
        self.first[self.agent[::-1]] = np.arange(len(index))[::-1]
        self.down: BoolArray = np.zeros(n, dtype=np.bool_)
        self.held = np.zeros(len(index), dtype=np.bool_)  # device alerts held back
        self.ids = index.ids
        self.slot = index.slot

    def filter(self, changes: list[AlertChange], now: float) -> list[AlertChange]:
        """Re-decide which agents are down; hold back their devices' offline changes."""
        heard = np.full(len(self.names), -np.inf)
        np.maximum.at(heard, self.agent, self.offline.last_seen)
        count = np.bincount(self.agent, weights=self.offline.offline, minlength=len(self.names))
        crowd = (count >= self.spec.agent_min_devices) & (
            count >= self.spec.agent_fraction * self.size
        )
        silent = (now - heard > self.allowance) & (self.size >= self.spec.agent_min_devices)
        down = crowd | silent
        went, back = np.flatnonzero(down & ~self.down), np.flatnonzero(~down & self.down)
        self.down = down
        out = [self._change("fire", int(a), now, count[a]) for a in went]
        kept = []
        for change in changes:
            slot = self.slot[change.device]
            if change.rule == OFFLINE_RULE and self.down[self.agent[slot]]:
                self.held[slot] = change.kind == "fire" or self.held[slot]
                continue
            if change.rule == OFFLINE_RULE and change.kind == "resolve" and self.held[slot]:
                self.held[slot] = False
                continue  # its alert was never raised
            kept.append(change)
        out += kept
        for a in back:
            out.append(self._change("resolve", int(a), now, count[a]))
            out += self._release(int(a), now)
        return out

    def _release(self, agent: int, now: float) -> list[AlertChange]:
        """Devices of a returning agent that are still silent get their own alerts."""
        mine = self.held & (self.agent == agent)
        still = np.flatnonzero(mine & self.offline.offline)
        self.held[mine] = False
        return self.offline.emit("fire", still, np.full(len(still), now), now)

    def restore(self, fingerprint: str) -> bool:
        name = fingerprint.removeprefix(f"{AGENT_OFFLINE}:")
        if name == fingerprint or name not in self.names:
            return False
        self.down[self.names.index(name)] = True
        return True

    def _change(self, kind: ChangeKind, agent: int, now: float, count: float) -> AlertChange:
        name = self.names[agent]
        return AlertChange(
            kind=kind,
            fingerprint=f"{AGENT_OFFLINE}:{name}",
            rule=AGENT_OFFLINE,
            type=AGENT_OFFLINE,
            severity=self.spec.agent_severity,
            device=self.ids[int(self.first[agent])],
            ts=now,
            value=float(count),
            summary=f"边缘代理 {name} 离线：{int(count)}/{int(self.size[agent])} 台设备失联",
        )
