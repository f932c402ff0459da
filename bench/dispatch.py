"""`gridwatch bench dispatch`: routing throughput and alert-to-SSE latency.

Throughput: alert changes per second through the whole dispatch stage (routing tree of
the sample street, on-duty selection, store, timers, incidents, SSE wake-up), beside
the bare `SqliteOpStore.apply_change` of the same changes: the ratio is what routing,
escalation and incidents cost on top of storing. The latency figures are in
`bench.dispatch_latency`. With `--ops postgresql[://...]` the same figures are measured
on PostgreSQL too, each beside SQLite's from the same run (`bench.ops_targets`).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench.kit import ROUNDS, Result
from bench.ops_targets import OpsTarget, ops_targets
from config.loader import DEFAULT_CONFIG_DIR, load_registry
from config.registry import Registry
from dispatch.dispatcher import Dispatcher
from gridwatch.clock import ManualClock
from gridwatch.notify import LogNotifier
from gridwatch.records import AlertChange
from store.interfaces import AlertContext
from store.opstate_sqlite import SqliteOpStore

T0 = 1_764_104_400.0  # 2025-11-25 21:00 in Shanghai: consoles off, guard rooms on
# What each device type typically raises; one in twenty is a critical fire alarm.
TYPICAL = {"elevator": "elevator.door_fault", "camera": "camera.intrusion",
           "smoke_detector": "fire.smoke"}


def workload(registry: Registry, devices: int) -> list[AlertChange]:
    """A fire for each of `devices` devices, then a resolve for each."""
    fired: list[AlertChange] = []
    for n, d in enumerate(registry.config.devices[:devices]):
        type_ = "fire.alarm" if n % 20 == 0 else TYPICAL.get(d.type, "device.offline")
        severity = "critical" if type_ == "fire.alarm" else "major"
        fired.append(AlertChange("fire", f"{type_}:{d.id}", type_, type_, severity, d.id,
                                 T0 + n * 0.01, 1.0, f"{type_} on {d.id}"))
    resolved = [
        AlertChange("resolve", c.fingerprint, c.rule, c.type, c.severity, c.device, c.ts + 60,
                    0.0, c.summary)
        for c in fired
    ]
    return fired + resolved


def _dispatch_rate(
    registry: Registry, changes: list[AlertChange], root: Path, target: OpsTarget
) -> float:
    with target.open(root) as ops:
        dispatcher = Dispatcher(registry, ops, LogNotifier(), [], ManualClock(T0))
        start = time.perf_counter()
        for change in changes:
            dispatcher.apply([change])
        return len(changes) / (time.perf_counter() - start)


def _store_rate(registry: Registry, changes: list[AlertChange], root: Path) -> float:
    ops = SqliteOpStore(root / "bare.sqlite3")
    contexts = {
        d.id: AlertContext(d.type, d.grid, d.building, ["ops-centre"])
        for d in registry.config.devices
    }
    start = time.perf_counter()
    for change in changes:
        ops.apply_change(change, contexts[change.device], T0)
    elapsed = time.perf_counter() - start
    ops.close()
    return len(changes) / elapsed


def throughput(quick: bool, targets: list[OpsTarget]) -> list[Result]:
    """SQLite's dispatch beside the bare store; each other store's beside SQLite's."""
    registry = load_registry(DEFAULT_CONFIG_DIR)
    devices = 200 if quick else len(registry.config.devices)
    changes = workload(registry, devices)
    figures: dict[str, list[float]] = {t.name: [] for t in targets}
    references: list[float] = []
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory(prefix="gw-bench-dispatch-") as tmp:
            references.append(_store_rate(registry, changes, Path(tmp)))
            for target in targets:
                figures[target.name].append(_dispatch_rate(registry, changes, Path(tmp), target))
    what = f"({len(changes)} changes, sample street routing tree, store + timers + incidents)"
    sqlite = statistics.median(figures["SQLite"])
    results = [Result(
        f"dispatch throughput {what}", "alerts/s", sqlite,
        "bare SqliteOpStore.apply_change of the same changes", statistics.median(references),
    )]
    results += [
        Result(f"dispatch throughput on {t.name} {what}", "alerts/s",
               statistics.median(figures[t.name]), "the same on SQLite, same run", sqlite)
        for t in targets if t.name != "SQLite"
    ]
    return results


def run(quick: bool, ops: str | None = None) -> list[Result]:
    from bench.dispatch_latency import latency

    with ops_targets(ops) as targets:
        return [*throughput(quick, targets), *latency(quick, targets)]
