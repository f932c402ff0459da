"""Store-and-forward end to end: a real `gridwatch edge` child process (replaying a known
recording, so every reading it must deliver is known), a real Mosquitto and the real
`gridwatch serve`. The broker goes away under load and comes back; then, with the broker
away again, the agent is killed with SIGKILL and restarted on the same data dir. Every
reading and event must reach the backend exactly once, in order per device, with `seq`
carrying on across the restart."""

from __future__ import annotations

import csv
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from config.registry import Registry
from edge.wiring import outbox_path
from tests.integration.test_edge_agent_mqtt import recorder
from tests.support.backend_proc import BackendProcess
from tests.support.mosquitto import Broker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
METRIC = "smoke_obscuration_pct_m"
HZ = 4  # readings per second per device: a steady load through every phase


def wait(what: str, check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class AgentProcess:
    """`python -m app.cli edge` as a child process, on its own data dir."""

    def __init__(self, tmp: Path, agent: str, mqtt_url: str) -> None:
        self.tmp, self.agent, self.mqtt_url = tmp, agent, mqtt_url
        self.data_dir = tmp / "edge-data"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, name: str, readings: list[tuple[str, float, float]],
              events: list[tuple[str, str, float, str, str]]) -> None:
        rcsv, ecsv = self.tmp / f"{name}-readings.csv", self.tmp / f"{name}-events.csv"
        write_csv(rcsv, ("device", "metric", "ts", "value"),
                  [(d, METRIC, ts, v) for d, ts, v in readings])
        write_csv(ecsv, ("device", "type", "ts", "state", "id"), events)
        settings = {"simulators": False, "replay": [{"csv": str(rcsv), "events_csv": str(ecsv)}]}
        (self.tmp / f"{name}.yaml").write_text(json.dumps(settings))  # JSON is YAML
        cmd = [sys.executable, "-m", "app.cli", "edge", "--agent", self.agent,
               "--mqtt", self.mqtt_url, "--data-dir", str(self.data_dir),
               "--adapters", str(self.tmp / f"{name}.yaml")]
        log = (self.tmp / f"agent-{name}.log").open("ab")
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, "the agent died early"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)

    def holds(self, ts: float) -> bool:
        """Whether a readings message waiting in the outbox carries a reading at `ts`."""
        with sqlite3.connect(outbox_path(self.data_dir, self.agent)) as db:
            rows = db.execute("SELECT payload FROM outbox WHERE kind = 'readings'").fetchall()
        return any(r["ts"] == ts for (p,) in rows for r in json.loads(p)["readings"])

    def stored(self) -> int:
        """Messages in the on-disk outbox, i.e. not acknowledged by the broker."""
        with sqlite3.connect(outbox_path(self.data_dir, self.agent)) as db:
            return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def write_csv(path: Path, header: tuple[str, ...], rows: list[Any]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def series(devices: list[str], t_from: float, seconds: float) -> list[tuple[str, float, float]]:
    n = int(seconds * HZ)
    return [(d, round(t_from + k / HZ, 3), float(k % 7) / 10 + i)
            for k in range(n) for i, d in enumerate(devices)]


def api_points(backend: BackendProcess, device: str, start: float, end: float
               ) -> list[tuple[float, float]]:
    with backend.client() as c:
        r = c.get("/api/v1/readings", params={"device": device, "metric": METRIC,
                                              "start": start, "end": end})
    assert r.status_code == 200, r.text
    return [(p["ts"], p["value"]) for p in r.json()["points"]]


def test_outage_and_sigkill_lose_nothing_and_double_nothing(
    tmp_path: Path, broker: Broker, backend: BackendProcess, registry: Registry
) -> None:
    agent = sorted(registry.agents)[0]
    devices = [d.id for d in registry.devices_of_agent(agent)][:3]
    t0 = time.time()
    # Run 1 records 8 s; run 2 (after the kill) 3 s more. Event ev-1 falls in the
    # second outage, so it exists only in the killed agent's outbox.
    run1 = series(devices, t0, 8.0)
    run2 = series(devices, t0 + 10.0, 3.0)
    ev1 = (devices[0], "fire.alarm", round(t0 + 7.0, 3), "start", f"{agent}-ev-1")
    ev2 = (devices[0], "fire.alarm", round(t0 + 11.0, 3), "end", f"{agent}-ev-2")
    proc = AgentProcess(tmp_path, agent, broker.url)
    with recorder(broker.url, "sf-recorder", clean=False) as rec:
        readings_topic = f"gw/v1/{agent}/readings"
        try:
            proc.start("run1", run1, [ev1])
            wait("first readings", lambda: len(rec.payloads(readings_topic)) >= 2)
            broker.stop()  # outage 1: the agent keeps running and buffering
            time.sleep(2.5)
            broker.start()
            wait("the agent to catch up", lambda: len(api_points(
                backend, devices[0], t0 - 1, t0 + 100)) >= 4 * HZ)
            broker.stop()  # outage 2: the agent is killed while it holds a backlog
            last = max(ts for _, ts, _ in run1)
            wait("run 1's last reading on disk", lambda: proc.holds(last))
            proc.kill()
            assert proc.stored() > 0, "nothing was waiting on disk: the kill proved nothing"
            proc.start("run2", run2, [ev2])
            time.sleep(1.0)
            broker.start()
            expected = {d: sorted((ts, v) for dd, ts, v in run1 + run2 if dd == d)
                        for d in devices}
            wait("every reading at the backend", lambda: all(
                len(api_points(backend, d, t0 - 1, t0 + 100)) >= len(expected[d])
                for d in devices), 40.0)
            wait("the outbox to drain", lambda: proc.stored() == 0)
        finally:
            proc.stop()
        payloads = rec.payloads(readings_topic)

    for d in devices:  # exactly once: no reading missing, none doubled, values intact
        assert api_points(backend, d, t0 - 1, t0 + 100) == expected[d]
    backend.stop()
    with duckdb.connect(str(backend.data_dir / "timeseries.duckdb"), read_only=True) as db:
        stored = db.execute("SELECT id, state FROM events WHERE agent = ? ORDER BY ts",
                            [agent]).fetchall()
    assert stored == [(ev1[4], "start"), (ev2[4], "end")]

    # seq carried on across the kill: one payload per seq, 1..N without a gap or restart
    by_seq: dict[int, set[str]] = defaultdict(set)
    for p in payloads:
        by_seq[p["seq"]].add(json.dumps(p["readings"], sort_keys=True))
    assert sorted(by_seq) == list(range(1, len(by_seq) + 1))
    assert all(len(v) == 1 for v in by_seq.values()), "a seq was reused after the restart"
    # in order per device: first arrivals at the broker come in time order
    seen: dict[str, list[float]] = defaultdict(list)
    for p in payloads:
        for r in p["readings"]:
            if r["ts"] not in seen[r["device"]]:
                seen[r["device"]].append(r["ts"])
    assert all(seen[d] == sorted(seen[d]) for d in devices)
