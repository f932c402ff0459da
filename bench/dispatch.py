"""`gridwatch bench dispatch`: routing throughput and alert-to-SSE latency.

Throughput: alert changes per second through the whole dispatch stage (routing tree of
the sample street, on-duty selection, store, timers, incidents, SSE wake-up), handed
over in batches of `BATCH` as ingest hands them (issue 16: one transaction per batch),
beside two references from the same run: the bare `SqliteOpStore.apply_change` of the
same changes, one commit each (what every change cost before batching), and the same
bare calls inside one store batch (the floor: storing alone, without routing,
escalation and incidents). The latency figures are in
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

BATCH = 500
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
        for i in range(0, len(changes), BATCH):
            dispatcher.apply(changes[i : i + BATCH])
        return len(changes) / (time.perf_counter() - start)


def _store_rate(
    registry: Registry, changes: list[AlertChange], path: Path, batched: bool
) -> float:
    """The bare store: one commit per change, or (`batched`) one per BATCH changes."""
    ops = SqliteOpStore(path)
    contexts = {
        d.id: AlertContext(d.type, d.grid, d.building, ["ops-centre"])
        for d in registry.config.devices
    }
    start = time.perf_counter()
    for i in range(0, len(changes), BATCH if batched else 1):
        with ops.batch():
            for change in changes[i : i + (BATCH if batched else 1)]:
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
    floors: list[float] = []
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory(prefix="gw-bench-dispatch-") as tmp:
            references.append(_store_rate(registry, changes, Path(tmp) / "bare.db", False))
            floors.append(_store_rate(registry, changes, Path(tmp) / "floor.db", True))
            for target in targets:
                figures[target.name].append(_dispatch_rate(registry, changes, Path(tmp), target))
    what = (f"({len(changes)} changes in batches of {BATCH}, sample street routing tree,"
            " store + timers + incidents)")
    sqlite = statistics.median(figures["SQLite"])
    results = [
        Result(
            f"dispatch throughput {what}", "alerts/s", sqlite,
            "bare SqliteOpStore.apply_change of the same changes, a commit each",
            statistics.median(references),
        ),
        Result(
            f"dispatch throughput {what}", "alerts/s", sqlite,
            f"bare SqliteOpStore.apply_change of the same changes, a commit per {BATCH}",
            statistics.median(floors),
        ),
    ]
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
