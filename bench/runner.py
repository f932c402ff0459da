"""`gridwatch bench`: each benchmark beside its reference, measured in the same run.

Benchmarks are not tests: they print figures and never fail on a slow machine. Each
stage keeps its benchmark next to its code, as a module with `run(quick) -> [Result]`.
"""

from __future__ import annotations

import importlib
import logging

from bench.kit import ROUNDS
from launchers.mosquitto import MosquittoMissing

BENCHMARKS: dict[str, str] = {
    "ingest": "bench.ingest",
    "detectors": "bench.detectors",
    "anomaly": "bench.anomaly",
    "camera": "bench.camera",
    "edge-replay": "bench.edge_replay",
    "dispatch": "bench.dispatch",
    "influx": "bench.influx",
}


def run_benchmarks(only: str | None, quick: bool = False) -> int:
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
            for result in module.run(quick):
                print(result.line(), flush=True)
        except MosquittoMissing as exc:
            print(f"{name}: skipped: {exc}", flush=True)
    return 0
