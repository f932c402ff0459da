"""The simulated edge agent: its devices, its scenarios and its MQTT publisher, ticked by
one background thread; and `run_agent`, the blocking entry point of `gridwatch edge`."""

from __future__ import annotations

import importlib.metadata
import logging
import signal
import threading
import time
import zlib
from pathlib import Path
from types import FrameType

import numpy as np

from config.registry import Registry
from edge.devices import Fleet
from edge.publisher import Publisher, PublishStats
from edge.scenarios import SCENARIOS, Scenarios
from gridwatch.clock import Clock
from gridwatch.mqtt import parse_mqtt_url

log = logging.getLogger(__name__)

HEALTH_INTERVAL_S = 60.0


def package_version() -> str:
    try:
        return importlib.metadata.version("gridwatch")
    except importlib.metadata.PackageNotFoundError:
        return "dev"  # running from a checkout that was never installed


class EdgeAgent:
    """One agent. Constructing it validates and builds everything but touches no network;
    `start()` connects and starts ticking."""

    def __init__(
        self,
        agent_id: str,
        registry: Registry,
        mqtt_url: str,
        *,
        clock: Clock = time.time,
        seed: int | None = None,
        tick_s: float = 1.0,
        health_interval_s: float = HEALTH_INTERVAL_S,
    ) -> None:
        if agent_id not in registry.agents:
            known = ", ".join(sorted(registry.agents)[:5]) or "none"
            raise ValueError(f"agent {agent_id!r} is not in the configuration (e.g. {known})")
        if tick_s <= 0 or health_interval_s <= 0:
            raise ValueError("tick_s and health_interval_s must be positive")
        self.agent_id = agent_id
        self.tick_s = tick_s
        self.health_interval_s = health_interval_s
        self._clock = clock
        # Without a seed the agent id decides, so each agent differs and reruns repeat.
        rng = np.random.default_rng(seed if seed is not None else zlib.crc32(agent_id.encode()))
        now = clock()
        self.fleet = Fleet(agent_id, registry.devices_of_agent(agent_id), rng, now)
        self.scenarios = Scenarios(agent_id, self.fleet, rng, now)
        self.publisher = Publisher(
            agent_id, parse_mqtt_url(mqtt_url), clock=clock, version=package_version()
        )
        self._lock = threading.Lock()  # fleet and scenarios: the ticker and trigger() share them
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_health = now

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"agent {self.agent_id} is already started")
        self.publisher.start()
        self._thread = threading.Thread(target=self._run, name=f"edge-{self.agent_id}")
        self._thread.daemon = True
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop ticking, flush what the broker takes within `timeout_s`, publish offline."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            self.publisher.stop(timeout_s)

    def trigger(self, scenario: str, target: str | None = None) -> str:
        """Start a scenario (one of `SCENARIOS`) on this agent; returns what it did.
        Raises ValueError for an unknown name or a target that does not fit."""
        with self._lock:
            return self.scenarios.trigger(scenario, target, self._clock())

    def stats(self) -> PublishStats:
        return self.publisher.stats()

    def tick(self) -> None:
        """One step: what the scenarios say and what the devices read, handed to the
        publisher. The background thread calls this every `tick_s`."""
        now = self._clock()
        with self._lock:
            events = self.scenarios.step(now)
            readings = self.fleet.due(now)
            health = self.fleet.health() if now >= self._next_health else None
        # Events first: an alarm must not queue behind the telemetry of the same tick.
        if events:
            self.publisher.publish_events(events)
        if readings:
            self.publisher.publish_readings(readings)
        if health is not None:
            self.publisher.publish_health(health)
            self._next_health = now + self.health_interval_s

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stopped.is_set():
            try:
                self.tick()
            except Exception:  # one bad tick must not silence every device of the agent
                log.exception("%s: tick failed", self.agent_id)
            next_at += self.tick_s
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind (a stalled host): carry on from now, no burst
                next_at, delay = time.monotonic(), 0.0
            self._stopped.wait(delay)


def run_agent(agent_id: str, config_path: str | Path, mqtt_url: str) -> None:
    """Run one agent until SIGTERM or SIGINT, then stop cleanly (offline published)."""
    from config.loader import load_registry  # the loader pulls in YAML; only the CLI needs it

    agent = EdgeAgent(agent_id, load_registry(Path(config_path)), mqtt_url)
    done = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: signal %d, stopping", agent_id, signum)
        done.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        agent.start()
        target = agent.publisher.target.display
        log.info("%s: %d devices -> %s", agent_id, len(agent.fleet.sims), target)
        log.info("%s: scenarios %s", agent_id, ", ".join(SCENARIOS))
        while not done.wait(1.0):
            pass
    finally:
        agent.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
