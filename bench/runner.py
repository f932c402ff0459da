"""`gridwatch bench`: each benchmark beside its reference, measured in the same run.

Benchmarks are not tests: they print figures and never fail on a slow machine. Each
stage keeps its benchmark next to its code, as a module with `run(quick) -> [Result]`.
"""

from __future__ import annotations

import importlib
import inspect
import logging

from bench.kit import ROUNDS
from launchers.mosquitto import MosquittoMissing

BENCHMARKS: dict[str, str] = {
    "ingest": "bench.ingest",
    "alarm-storm": "bench.storm",
    "detectors": "bench.detectors",
    "anomaly": "bench.anomaly",
    "rig": "bench.rig",
    "camera": "bench.camera",
    "edge-replay": "bench.edge_replay",
    "dispatch": "bench.dispatch",
    "failover": "bench.failover",
    "influx": "bench.influx",
    "health": "bench.health",
    "restart": "bench.restart",
}


def run_benchmarks(only: str | None, quick: bool = False, ops: str | None = None) -> int:
    """`ops`: besides SQLite, run the benchmarks that take one (dispatch, failover) on
    PostgreSQL ('postgresql' for a private cluster, or a URL)."""
    # The stages log per connection and per incident opened: in a benchmark that is
    # screens of noise between the figures, and time inside them. Errors still show.
    logging.getLogger().setLevel(logging.ERROR)
    print(f"gridwatch bench: medians of {ROUNDS} rounds or more each; ratio = figure / reference")
    for name, module_name in BENCHMARKS.items():
        if only and only not in name:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not module_name.startswith(str(exc.name)):
                raise
            print(f"{name}: not built yet", flush=True)
            continue
        try:
            takes_ops = "ops" in inspect.signature(module.run).parameters
            results = module.run(quick, ops=ops) if takes_ops else module.run(quick)
            for result in results:
                print(result.line(), flush=True)
        except MosquittoMissing as exc:
            print(f"{name}: skipped: {exc}", flush=True)
    return 0
