"""A restarted `gridwatch serve` carries on where it stopped: killed while a condition
was pending, it still fires it, on time, once (the replay of stored readings); stopped
cleanly, its anomaly detectors keep what they had learnt (the state file)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from config.loader import DEFAULT_CONFIG_DIR
from config.registry import Registry
from gridwatch.timefmt import parse_time
from tests.support.backend_proc import BackendProcess
from tests.support.mosquitto import Broker
from tests.support.mqtt_tools import TestPublisher, readings_msg
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

CONFIRM_S = 12.0  # gas-co-high's confirm time here (the sample's is 10 s)
CO = "co_ppm"


def gas_config(root: Path) -> Path:
    root.mkdir(parents=True)
    for f in DEFAULT_CONFIG_DIR.glob("*.yaml"):
        shutil.copy(f, root / f.name)
    rules_file = root / "rules.yaml"
    rules: dict[str, Any] = yaml.safe_load(rules_file.read_text(encoding="utf-8"))
    [gas] = [r for r in rules["rules"]["thresholds"] if r["id"] == "gas-co-high"]
    gas["min_duration_s"] = CONFIRM_S
    rules_file.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    return root


def alerts_of(backend: BackendProcess, device: str) -> list[dict[str, Any]]:
    with backend.client() as c:
        r = c.get("/api/v1/alerts", params={"status": "all"})
        assert r.status_code == 200, r.text
        return [a for a in r.json() if a["device"] == device]


def stored(backend: BackendProcess, device: str, since: float) -> int:
    with backend.client() as c:
        params: dict[str, str | float] = {
            "device": device, "metric": CO, "start": since, "end": time.time() + 60
        }
        r = c.get("/api/v1/readings", params=params)
        assert r.status_code == 200, r.text
        return len(r.json()["points"])


def test_a_pending_condition_fires_on_time_after_sigkill(
    tmp_path: Path, broker: Broker, registry: Registry
) -> None:
    gas = next(d for d in registry.config.devices if d.type == "gas_detector")
    backend = BackendProcess(tmp_path / "data", broker.url, str(gas_config(tmp_path / "cfg")))
    backend.start()
    pub = TestPublisher(broker.url, "test-publisher-restart")
    try:
        t0 = time.time()
        rows = [(gas.id, CO, t0 - 2.0, 1.0), (gas.id, CO, t0, 80.0), (gas.id, CO, t0 + 1.0, 85.0)]
        pub.publish(f"gw/v1/{gas.agent}/readings", readings_msg(gas.agent, 1, rows))
        assert wait_for(lambda: stored(backend, gas.id, t0 - 5) == 3, 10), backend.log()
        # Pending, 12 s to go: killed before the confirm time has passed.
        assert alerts_of(backend, gas.id) == []
        backend.kill()
        assert time.time() < t0 + CONFIRM_S, "the kill came too late to test anything"
        backend.start()
        # No reading arrives after the restart: only the replay knows the condition.
        fired = wait_for(lambda: alerts_of(backend, gas.id), CONFIRM_S + 15)
        assert fired, backend.log()
        [alert] = fired
        assert alert["rule"] == "gas-co-high" and alert["status"] == "firing"
        # Fired at the device time the condition had held for its confirm time.
        assert parse_time(alert["started_at"]) == pytest.approx(t0 + CONFIRM_S, abs=0.01)
        time.sleep(2.0)  # ticks keep running: still one alert
        assert len(alerts_of(backend, gas.id)) == 1
    finally:
        pub.close()
        backend.stop()


def test_the_anomaly_detectors_learning_survives_a_clean_restart(
    tmp_path: Path, broker: Broker, registry: Registry
) -> None:
    lift = next(d for d in registry.config.devices if d.type == "elevator")
    backend = BackendProcess(tmp_path / "data", broker.url)
    backend.start()
    pub = TestPublisher(broker.url, "test-publisher-anomaly")
    t0 = time.time() - 1000
    try:
        rows = [(lift.id, "vibration_rms_g", t0 + 5 * i, 0.01 + 0.001 * (i % 7)) for i in range(50)]
        pub.publish(f"gw/v1/{lift.agent}/readings", readings_msg(lift.agent, 1, rows))
        vibration: dict[str, str | float] = {
            "device": lift.id, "metric": "vibration_rms_g", "start": t0 - 1,
            "end": time.time() + 60,
        }

        def stored_rows() -> int:
            with backend.client() as c:
                return len(c.get("/api/v1/readings", params=vibration).json()["points"])

        assert wait_for(lambda: stored_rows() == 50, 10), backend.log()
        backend.stop()  # SIGTERM: a clean stop saves what the detectors learnt
        state = tmp_path / "data" / "anomaly-state.npz"
        assert state.is_file(), backend.log()
        with np.load(state) as saved:
            devices = saved["elevator-vibration-anomaly::__devices__"].tolist()
            count = saved["elevator-vibration-anomaly::count"][devices.index(lift.id)]
        assert count == 50
        backend.start()
        assert wait_for(lambda: "anomaly detectors resumed" in backend.log(), 10), backend.log()
    finally:
        pub.close()
        backend.stop()


def test_a_pump_set_s_rig_rule_keeps_its_learning_across_a_clean_restart(
    tmp_path: Path, broker: Broker, registry: Registry
) -> None:
    """The sample street's fire pump set over real MQTT into `serve`: its rig rule learns
    the rows (five metrics a row), the health report says it is learning, a clean stop
    saves the rig's state beside the anomaly rules', and the restart resumes it."""
    pump = next(d for d in registry.config.devices if d.type == "fire_pump")
    metrics = ["outlet_pressure_mpa", "inlet_pressure_mpa", "motor_current_a", "motor_temp_c",
               "vibration_mm_s"]
    backend = BackendProcess(tmp_path / "data", broker.url)
    backend.start()
    pub = TestPublisher(broker.url, "test-publisher-rig")
    t0 = time.time() - 1000
    try:
        rows = [(pump.id, m, t0 + 10 * i, 0.6 + 0.001 * (i % 5) + k)
                for i in range(60) for k, m in enumerate(metrics)]
        pub.publish(f"gw/v1/{pump.agent}/readings", readings_msg(pump.agent, 1, rows))

        def rig_status() -> list[dict[str, Any]]:
            with backend.client() as c:
                found = [r for r in c.get("/api/v1/health/devices").json()
                         if r["device"] == pump.id]
            return [a for r in found for a in r["anomaly"]]

        def stored_rows() -> int:
            params: dict[str, str | float] = {"device": pump.id, "metric": metrics[-1],
                                              "start": t0 - 1, "end": time.time() + 60}
            with backend.client() as c:
                return len(c.get("/api/v1/readings", params=params).json()["points"])

        assert wait_for(lambda: stored_rows() == 60, 10), backend.log()
        assert rig_status() == [
            {"rule": "fire-pump-rig-anomaly", "level": 0.0, "learning": True, "budget": None}
        ]
        backend.stop()
        with np.load(tmp_path / "data" / "anomaly-state.npz") as saved:
            devices = saved["fire-pump-rig-anomaly::__devices__"].tolist()
            learnt = saved["fire-pump-rig-anomaly::rows"][devices.index(pump.id)]
            detector = str(saved["fire-pump-rig-anomaly::__detector__"])
        assert (learnt, detector) == (60, "rig-residual")
        backend.start()
        assert wait_for(lambda: "fire-pump-rig-anomaly" in backend.log(), 10), backend.log()
        assert "anomaly detectors resumed" in backend.log()
    finally:
        pub.close()
        backend.stop()
