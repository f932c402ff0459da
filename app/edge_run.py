"""`gridwatch edge`: one agent in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from config.loader import DEFAULT_CONFIG_DIR, load_registry
from edge.scenarios import SCENARIOS
from edge.wiring import build_agent
from gridwatch.data_dir import default_data_dir

log = logging.getLogger("gridwatch.edge")


def run_agent(
    agent_id: str,
    config_path: str | Path | None,
    mqtt_url: str,
    data_dir: str | Path | None = None,
    adapters_path: str | Path | None = None,
) -> None:
    """Run one agent until SIGTERM or SIGINT, then stop cleanly (offline published).
    Its outbox lives in `data_dir/edge/<agent>/outbox.sqlite3` (default: under the
    gridwatch data dir), so a restart resends what was not acknowledged."""

    registry = load_registry(Path(config_path) if config_path else DEFAULT_CONFIG_DIR)
    base = Path(data_dir) if data_dir is not None else default_data_dir()
    agent = build_agent(agent_id, registry, mqtt_url, base,
                        Path(adapters_path) if adapters_path else None)
    done = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: signal %d, stopping", agent_id, signum)
        done.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        agent.start()
        target = agent.publisher.target.display
        names = ", ".join(a.name for a in agent.adapters) or "none"
        log.info("%s: adapters %s -> %s", agent_id, names, target)
        log.info("%s: scenarios %s", agent_id, ", ".join(SCENARIOS))
        while not done.wait(1.0):
            pass
    finally:
        agent.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
