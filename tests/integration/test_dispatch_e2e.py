"""Dispatch end to end, through MQTT and HTTP only: a real Mosquitto, the real
`gridwatch serve` (its dispatch clock set to 21:00 Shanghai time with the test-only
GRIDWATCH_CLOCK_OFFSET_S) and the sample street with shortened escalation timeouts."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.loader import DEFAULT_CONFIG_DIR
from config.registry import Registry
from sample_street.routes import routes
from tests.support.backend_proc import BackendProcess, running_backend
from tests.support.mosquitto import Broker
from tests.support.mqtt_tools import SseCollector, TestPublisher
from tests.support.tokens import make_token
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def short_config(root: Path, escalate_s: float) -> Path:
    """The sample street with the lift route escalating after `escalate_s`."""
    root.mkdir(parents=True)
    for f in DEFAULT_CONFIG_DIR.glob("*.yaml"):
        shutil.copy(f, root / f.name)
    tree: dict[str, Any] = routes()
    lifts = next(r for r in tree["routes"] if r["name"] == "people-in-lifts")
    lifts.update(escalate_after_s=escalate_s, renotify_after_s=600)
    (root / "routes.yaml").write_text(yaml.safe_dump({"routes": tree}), encoding="utf-8")
    # An entrapment's end resolves after the elevator hold: 1 s here, so the test can see
    # a second entrapment as a new alert without waiting the sample's 30 s.
    rules_file = root / "rules.yaml"
    rules = yaml.safe_load(rules_file.read_text(encoding="utf-8"))
    rules["rules"]["elevator"]["hold_s"] = 1.0
    rules_file.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    return root


def at_2100_shanghai(monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    today = datetime.fromtimestamp(now, UTC).replace(hour=13, minute=0, second=0, microsecond=0)
    monkeypatch.setenv("GRIDWATCH_CLOCK_OFFSET_S", str(today.timestamp() - now))


def lift_with_area_guard(registry: Registry) -> tuple[str, str, str]:
    """(device, agent, area) of an elevator whose area has one guard room at area level."""
    for d in registry.config.devices:
        area_id = d.grid.split("/")[2]
        if d.type == "elevator" and f"{area_id}-guard" in registry.receivers:
            return d.id, d.agent, registry.area_of(d.grid)
    raise AssertionError("no such lift in the sample street")


def trapped(pub: TestPublisher, agent: str, device: str, seq: int, state: str) -> None:
    event = {
        "id": f"trap-{seq}",
        "device": device,
        "ts": time.time(),
        "type": "elevator.trapped",
        "state": state,
        "zone": None,
        "score": None,
        "attrs": {},
        "snapshot": None,
    }
    pub.publish(f"gw/v1/{agent}/events", {"agent": agent, "seq": seq, "events": [event]})


def get(backend: BackendProcess, path: str, token: str | None = None) -> Any:
    with backend.client(*([token] if token else [])) as c:
        r = c.get(path)
        assert r.status_code == 200, r.text
        return r.json()


def test_entrapment_at_night_escalates_opens_one_incident_and_ack_stops_it(
    tmp_path: Path, broker: Broker, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    at_2100_shanghai(monkeypatch)
    device, agent, area = lift_with_area_guard(registry)
    area_id = area.split("/")[-1]
    config = short_config(tmp_path / "config", escalate_s=3)
    with running_backend(tmp_path / "data", broker.url, str(config)) as backend:
        guard = make_token(backend.data_dir, "--role", "guard", "--grid", area)
        ops = make_token(backend.data_dir, "--role", "ops")
        board = SseCollector(backend.base, guard)
        pub = TestPublisher(broker.url)
        try:
            trapped(pub, agent, device, 1, "start")
            alert = board.wait_for(lambda a: a["device"] == device, timeout=5)
            assert alert is not None, backend.log()
            assert f"{area_id}-guard" in alert["receivers"]
            assert f"{area_id}-console" not in alert["receivers"]  # off duty at 21:00
            aid = alert["id"]
            district = board.wait_for(lambda a: a["id"] == aid and a["escalation_level"] >= 3, 8)
            assert district is not None, backend.log()
            assert district["escalation_level"] == 3
            assert f"{area.split('/')[1]}-station" in district["receivers"]
            with backend.client(guard) as c:
                assert c.post(f"/api/v1/alerts/{aid}/ack", json={"note": "on my way"}).is_success
            time.sleep(3 * 2 + 1)  # two more timeouts: it would have reached the ops centre
            assert get(backend, f"/api/v1/alerts/{aid}")["escalation_level"] == 3

            [incident] = get(backend, "/api/v1/incidents", ops)
            assert incident["alerts"] == [aid] and incident["status"] == "open"
            assert incident["history"][0]["to"] == "open" and incident["history"][0]["who"]
            assert get(backend, f"/api/v1/alerts/{aid}")["incident_id"] == incident["id"]

            trapped(pub, agent, device, 2, "end")
            resolved = wait_for(
                lambda: get(backend, f"/api/v1/alerts/{aid}")["status"] == "resolved", 5
            )
            assert resolved, get(backend, f"/api/v1/alerts/{aid}")
            trapped(pub, agent, device, 3, "start")  # the same fault again
            again = board.wait_for(lambda a: a["device"] == device and a["id"] != aid, 5)
            assert again is not None
            joined = wait_for(lambda: [i for i in get(backend, "/api/v1/incidents", ops)
                                       if len(i["alerts"]) == 2], 5)
            assert joined and joined[0]["id"] == incident["id"], get(backend, "/api/v1/incidents")
            assert len(get(backend, "/api/v1/incidents", ops)) == 1
            assert [i["id"] for i in get(backend, "/api/v1/incidents", guard)] == [incident["id"]]
        finally:
            pub.close()
            board.close()


# Killed at once, the process may die between storing the alert and arming its timer
# (restart arms it); a second later the timer is on disk (restart fires the stored one).
@pytest.mark.parametrize("kill_after_s", [0.0, 1.0])
def test_a_pending_escalation_fires_once_after_sigkill(
    tmp_path: Path,
    broker: Broker,
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    kill_after_s: float,
) -> None:
    at_2100_shanghai(monkeypatch)
    device, agent, _ = lift_with_area_guard(registry)
    escalate_s = 6.0
    config = str(short_config(tmp_path / "config", escalate_s=escalate_s))
    backend = BackendProcess(tmp_path / "data", broker.url, config)
    backend.start()
    pub = TestPublisher(broker.url)
    try:
        raised_at = time.time()
        trapped(pub, agent, device, 1, "start")
        alert = wait_for(lambda: [a for a in get(backend, "/api/v1/alerts")
                                  if a["device"] == device], 10)
        assert alert, backend.log()
        aid = alert[0]["id"]
        time.sleep(kill_after_s)
        backend.kill()  # SIGKILL while the escalation is pending
        backend.start()
        log = SseCollector(backend.base, "gw-test-bootstrap-secret-0123456789",
                           last_event_id="0")
        step = log.wait_for(lambda a: a["id"] == aid and a["escalation_level"] > 0, 25)
        assert step is not None, backend.log()
        arrival = next(t for t, _, a in log.events if a is step)
        assert arrival >= raised_at + escalate_s - 0.5, "fired before its due time"
        time.sleep(escalate_s - 1)  # before the next step is due, after any duplicate
        entries = [a for _, _, a in log.events if a["id"] == aid]
        # One escalation step is one change of receivers (other updates, such as the
        # incident link, keep them); a second firing would have added the ops centre.
        steps = [b for a, b in pairwise(entries)
                 if b["receivers"] != a["receivers"]]
        assert [s["escalation_level"] for s in steps] == [3], entries
        assert max(e["escalation_level"] for e in entries) == 3
        log.close()
    finally:
        pub.close()
        backend.stop()
