"""One edge agent: its device adapters (the simulators by default), its MQTT publisher
and outbox, ticked by one background thread."""

from __future__ import annotations

import importlib.metadata
import logging
import threading
import time
import zlib

import numpy as np

from config.registry import Registry
from edge.adapters.base import Adapter, Polled
from edge.adapters.simulated import SimulatorAdapter
from edge.health import HealthBook
from edge.outbox import Outbox
from edge.publisher import Publisher, PublishStats
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
        outbox: Outbox | None = None,
        adapters: list[Adapter] | None = None,
        simulators: bool = True,
        max_rate: float | None = None,
        receipts: bool = True,
    ) -> None:
        """`outbox`: where messages wait for the broker (default in memory; `run_agent`
        puts it on disk). `adapters`: device sources besides the simulators, which run
        unless `simulators=False`. `max_rate`: messages/s to the broker. `receipts`: keep
        each message until the backend's receipt covers it (off: until the PUBACK)."""
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
        self.simulators: SimulatorAdapter | None = None
        self.adapters: list[Adapter] = []
        if simulators:
            specs = registry.devices_of_agent(agent_id)
            self.simulators = SimulatorAdapter(agent_id, specs, rng, now)
            self.adapters.append(self.simulators)
        self.adapters.extend(adapters or [])
        self.health = HealthBook()
        self.publisher = Publisher(
            agent_id, parse_mqtt_url(mqtt_url), clock=clock, version=package_version(),
            outbox=outbox, max_rate=max_rate, receipts=receipts,
        )
        self._lock = threading.Lock()  # the adapters: the ticker and trigger() share them
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_health = now

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"agent {self.agent_id} is already started")
        for adapter in self.adapters:
            adapter.start()
        self.publisher.start()
        self._thread = threading.Thread(target=self._run, name=f"edge-{self.agent_id}")
        self._thread.daemon = True
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop ticking, flush what the broker takes within `timeout_s`, publish offline."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            for adapter in self.adapters:
                adapter.stop()
            # What the adapters heard between the last tick and their stop (a camera's
            # last events) goes into the outbox too, not down with the process.
            try:
                self.tick()
            except Exception:
                log.exception("%s: final tick failed", self.agent_id)
            self.publisher.stop(timeout_s)

    def trigger(self, scenario: str, target: str | None = None) -> str:
        """Start a scenario (one of `SCENARIOS`) on this agent; returns what it did.
        Raises ValueError for an unknown name or a target that does not fit."""
        if self.simulators is None:
            raise ValueError(f"agent {self.agent_id} runs no simulators to play scenarios on")
        with self._lock:
            return self.simulators.trigger(scenario, target, self._clock())

    def stats(self) -> PublishStats:
        return self.publisher.stats()

    def tick(self) -> None:
        """One step: what every adapter heard, handed to the publisher. The background
        thread calls this every `tick_s`."""
        now = self._clock()
        polled = Polled()
        with self._lock:
            for adapter in self.adapters:
                polled.extend(adapter.poll(now))
            due = now >= self._next_health
            reports = [h for a in self.adapters for h in a.health(now)] if due else []
        # Events first: an alarm must not queue behind the telemetry of the same tick.
        if polled.events:
            self.publisher.publish_events(polled.events)
        if polled.readings:
            self.health.note(polled.readings)
            self.publisher.publish_readings(polled.readings)
        if due:
            devices = self.health.devices(reports)
            self.publisher.publish_health(devices, self.health.agent_fields())
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
