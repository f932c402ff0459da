"""`gridwatch check-config PATH`: validate a configuration and say what is wrong where."""

from __future__ import annotations

import sys
from collections import Counter

from config.errors import ConfigError
from config.loader import load_registry
from config.registry import Registry

EXIT_OK = 0
EXIT_INVALID = 2


def run_check_config(path: str) -> int:
    try:
        registry = load_registry(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_INVALID
    print(summary(registry))
    return EXIT_OK


def summary(registry: Registry) -> str:
    kinds = Counter(node.kind for node in registry.grids.values())
    parts = [
        (kinds["street"], "street", "streets"),
        (kinds["district"], "district", "districts"),
        (kinds["area"], "area", "areas"),
        (kinds["micro"], "micro-grid", "micro-grids"),
        (len(registry.agents), "agent", "agents"),
        (len(registry.devices), "device", "devices"),
        (len(registry.receivers), "receiver", "receivers"),
    ]
    return "ok: " + ", ".join(f"{n} {one if n == 1 else many}" for n, one, many in parts)
