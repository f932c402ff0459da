"""Two replicas on one PostgreSQL, end to end: a real Mosquitto, two real `gridwatch
serve` processes (each with its own MQTT session), one private PostgreSQL cluster, a
webhook receiver for the fire brigade, and a guard's SSE stream that has to move from
the replica that is killed to the one that is left."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from config.loader import DEFAULT_CONFIG_DIR
from config.registry import Registry
from dispatch.webhooks import KEY_HEADER
from gridwatch.mqtt import make_client, parse_mqtt_url
from gridwatch.ports import free_port
from sample_street.routes import routes
from tests.support.backend_proc import BackendProcess
from tests.support.mosquitto import Broker
from tests.support.mqtt_tools import SseCollector, TestPublisher, readings_msg
from tests.support.postgres import PostgresCluster
from tests.support.tokens import make_token
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
ESCALATE_S = 3.0
BOARD_BUDGET_S = 2.0  # the issue: the alarm on the board within 2 s of the panel's event


class WebhookReceiver:
    """The fire brigade's endpoint: records every POST's delivery key."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.keys.append(self.headers[KEY_HEADER])
                received.bodies.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fire"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def fire_config(root: Path, webhook_url: str) -> Path:
    """The sample street; the fire route starts at the guard room and the fire brigade
    (which has a webhook) and goes up the grid every ESCALATE_S."""
    root.mkdir(parents=True)
    for f in DEFAULT_CONFIG_DIR.glob("*.yaml"):
        shutil.copy(f, root / f.name)
    tree: dict[str, Any] = routes()
    fire = next(r for r in tree["routes"] if r["name"] == "fire")
    fire.update(receivers=["guard_room", "fire-brigade"], escalate_after_s=ESCALATE_S,
                renotify_after_s=600)
    (root / "routes.yaml").write_text(yaml.safe_dump({"routes": tree}), encoding="utf-8")
    street_file = root / "street.yaml"
    street = yaml.safe_load(street_file.read_text(encoding="utf-8"))
    brigade = next(r for r in street["receivers"] if r["id"] == "fire-brigade")
    brigade["webhook"] = webhook_url
    street_file.write_text(yaml.safe_dump(street, allow_unicode=True), encoding="utf-8")
    return root


def replica_pair(
    tmp_path: Path, broker: Broker, cluster: PostgresCluster, config: str | None = None
) -> tuple[str, tuple[BackendProcess, BackendProcess]]:
    """Replicas gw-a and gw-b started on an emptied shared op store; its URL with them."""
    cluster.reset()
    url = cluster.url
    a = BackendProcess(tmp_path / "a", broker.url, config, ops_url=url, client_id="gw-a")
    b = BackendProcess(tmp_path / "b", broker.url, config, ops_url=url, client_id="gw-b")
    a.start()
    b.start()
    return url, (a, b)


def smoke_detector(registry: Registry) -> tuple[str, str, str]:
    """(device, agent, area) of a smoke detector."""
    d = next(d for d in registry.config.devices if d.type == "smoke_detector")
    return d.id, d.agent, registry.area_of(d.grid)


def api(backend: BackendProcess, path: str) -> Any:
    with backend.client() as c:
        r = c.get(path)
        assert r.status_code == 200, r.text
        return r.json()


def alert_log_entries(cluster: PostgresCluster, alert_id: int) -> list[tuple[int, str]]:
    with psycopg.connect(cluster.url) as con:
        rows = con.execute(
            "SELECT seq, kind FROM alert_log WHERE alert_id = %s ORDER BY seq", (alert_id,)
        ).fetchall()
    return [(int(s), str(k)) for s, k in rows]


def test_kill_9_one_replica_while_a_fire_builds_the_other_raises_it_once(
    tmp_path: Path,
    broker: Broker,
    postgres_cluster: PostgresCluster,
    registry: Registry,
    webhook: WebhookReceiver,
) -> None:
    config = str(fire_config(tmp_path / "config", webhook.url))
    url, (a, b) = replica_pair(tmp_path, broker, postgres_cluster, config)
    device, agent, area = smoke_detector(registry)
    guard = make_token(tmp_path / "tokens", "--ops", url, "--role", "guard", "--grid", area)
    board_a = SseCollector(a.base, guard)
    pub = TestPublisher(broker.url)
    boards = [board_a]
    try:
        assert board_a.status == 200
        assert wait_for(lambda: board_a.last_id is not None, 5)  # the opening id
        seq = 0
        for value in (0.5, 1.5, 2.5):  # the smoke builds up, below the 4.0 %/m alarm
            seq += 1
            pub.publish(f"gw/v1/{agent}/readings", readings_msg(
                agent, seq, [(device, "smoke_obscuration_pct_m", time.time(), value)]))
            time.sleep(0.3)
        a.kill()  # kill -9 while the fire builds
        # The guard's EventSource reconnects (the proxy sends it to B) with its last id.
        board_b = SseCollector(b.base, guard, last_event_id=board_a.last_id)
        boards.append(board_b)
        seq += 1
        panel_at = time.time()
        pub.publish(f"gw/v1/{agent}/readings", readings_msg(
            agent, seq, [(device, "smoke_obscuration_pct_m", panel_at, 6.5)]))
        alert = board_b.wait_for(lambda x: x["device"] == device, timeout=10)
        assert alert is not None, b.log()
        arrival = next(t for t, _, x in board_b.events if x is alert)
        assert arrival - panel_at <= BOARD_BUDGET_S, f"{arrival - panel_at:.2f} s"
        assert alert["status"] == "firing" and alert["severity"] == "critical"
        aid = alert["id"]

        # The first escalation step, and the incident, decided once.
        stepped = board_b.wait_for(lambda x: x["id"] == aid and x["escalation_level"] > 0,
                                   ESCALATE_S + 5)
        assert stepped is not None, b.log()
        a.start()  # A comes back: catches up from its session, decides again: adopted
        time.sleep(ESCALATE_S + 1)

        alerts = [x for x in api(b, "/api/v1/alerts?status=all") if x["device"] == device]
        assert [x["id"] for x in alerts] == [aid]
        assert [x["id"] for x in api(a, "/api/v1/alerts?status=all")
                if x["device"] == device] == [aid]
        incidents = [i for i in api(b, "/api/v1/incidents") if aid in i["alerts"]]
        assert len(incidents) == 1 and incidents[0]["alerts"] == [aid]
        assert len(api(b, "/api/v1/incidents")) == 1

        log = alert_log_entries(postgres_cluster, aid)
        assert [k for _, k in log].count("fire") == 1
        # Each escalation level was reached by exactly one log entry.
        levels = [x["escalation_level"] for _, _, x in board_b.events if x["id"] == aid]
        reached = [lv for prev, lv in zip([0, *levels], levels, strict=False) if lv > prev]
        assert reached == sorted(set(reached)), levels
        # The board saw each log entry once and only this alert's.
        ids = [i for _, i, x in board_b.events if x["id"] == aid]
        assert len(ids) == len(set(ids))
        assert {x["id"] for _, _, x in board_b.events if x["device"] == device} == {aid}

        # The fire brigade got one delivery per published change, none twice.
        assert wait_for(lambda: webhook.keys, 10), b.log()
        time.sleep(1.5)  # any duplicate delivery would have arrived by now
        assert len(webhook.keys) == len(set(webhook.keys)), webhook.keys
        # Read the log again: escalation goes on while the deliveries are awaited, and a
        # step logged after the first read is a legitimate delivery too.
        log = alert_log_entries(postgres_cluster, aid)
        logged = {f"alert-log-{s}" for s, _ in log}
        assert set(webhook.keys) <= logged
        assert f"alert-log-{log[0][0]}" in webhook.keys  # the fire itself
    finally:
        for board in boards:
            board.close()
        pub.close()
        a.stop()
        b.stop()


def test_a_replica_back_from_kill_9_drains_a_resolved_fire_without_a_second_alert(
    tmp_path: Path, broker: Broker, postgres_cluster: PostgresCluster, registry: Registry,
) -> None:
    """B is killed; a fire panel's alarm starts and ends while it is down, and A alerts
    and resolves it. B comes back and drains its queued session: its detectors decide
    that fire again, and the shared store must adopt it (one alert, one 'fire' entry),
    not open a second alert for an alarm that is over."""
    url, (a, b) = replica_pair(tmp_path, broker, postgres_cluster)
    panel = next(d for d in registry.config.devices if d.type == "fire_panel")
    pub = TestPublisher(broker.url)
    try:
        b.kill()
        started = time.time()
        for seq, (state, ts) in enumerate((("start", started), ("end", started + 5)), 1):
            event = {"id": "late-replica-1", "device": panel.id, "ts": ts,
                     "type": "fire.alarm", "state": state, "zone": None, "score": None,
                     "attrs": {}, "snapshot": None}
            pub.publish(f"gw/v1/{panel.agent}/events",
                        {"agent": panel.agent, "seq": seq, "events": [event]})

        def resolved() -> list[Any]:
            found = [x for x in api(a, "/api/v1/alerts?status=all") if x["device"] == panel.id]
            return found if found and found[0]["status"] == "resolved" else []

        [alert] = wait_for(resolved, 10) or [None]
        assert alert is not None, a.log()
        b.start()  # drains what its session queued while it was down
        assert wait_for(lambda: api(b, "/api/v1/alerts?status=all") is not None, 5)
        time.sleep(3)  # B has decided the queued fire by now
        alerts = [x for x in api(b, "/api/v1/alerts?status=all") if x["device"] == panel.id]
        assert [(x["id"], x["status"]) for x in alerts] == [(alert["id"], "resolved")], b.log()
        with psycopg.connect(url) as con:
            kinds = [k for (k,) in con.execute(
                "SELECT kind FROM alert_log ORDER BY seq").fetchall()]
        assert kinds.count("fire") == 1 and kinds.count("resolve") == 1, kinds
    finally:
        pub.close()
        a.stop()
        b.stop()


class AlertSubscriber:
    """Every alert publication on gw/v1/alerts/#, as a console would receive it."""

    def __init__(self, url: str) -> None:
        target = parse_mqtt_url(url)
        self.messages: list[dict[str, Any]] = []
        self.client = make_client(target, "test-alert-console")
        self.client.on_message = lambda _c, _u, msg: self.messages.append(json.loads(msg.payload))
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_connect = lambda c, *_: c.subscribe("gw/v1/alerts/#", qos=1)
        self.client.connect(target.host, target.port)
        self.client.loop_start()
        assert subscribed.wait(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_race_both_replicas_decide_100_fires_in_the_same_second(
    tmp_path: Path, broker: Broker, postgres_cluster: PostgresCluster, registry: Registry,
) -> None:
    """Each replica ingests every message, so each of 100 fire alarms, published at
    once, is decided by both within the same second: one alert, one 'fire' entry, one
    first MQTT publication each, and one incident per building."""
    url, (a, b) = replica_pair(tmp_path, broker, postgres_cluster)
    console = AlertSubscriber(broker.url)
    pub = TestPublisher(broker.url)
    detectors = [d for d in registry.config.devices if d.type == "smoke_detector"][:100]
    assert len(detectors) == 100
    try:
        now = time.time()
        by_agent: dict[str, list[dict[str, Any]]] = {}
        for n, d in enumerate(detectors):
            by_agent.setdefault(d.agent, []).append({
                "id": f"race-{n}", "device": d.id, "ts": now, "type": "fire.alarm",
                "state": "start", "zone": None, "score": None, "attrs": {}, "snapshot": None,
            })
        for agent, events in by_agent.items():
            pub.publish(f"gw/v1/{agent}/events", {"agent": agent, "seq": 1, "events": events})

        def decided() -> list[Any]:
            found = api(b, "/api/v1/alerts?status=all&limit=1000")
            return found if len(found) >= 100 else []

        alerts = wait_for(decided, 20)
        assert alerts, b.log()
        time.sleep(2)  # both replicas' second decisions are done by now
        alerts = api(a, "/api/v1/alerts?status=all&limit=1000")
        assert sorted(x["device"] for x in alerts) == sorted(d.id for d in detectors)
        with psycopg.connect(url) as con:
            rows = con.execute("SELECT alert_id, kind FROM alert_log ORDER BY seq").fetchall()
            incidents = con.execute("SELECT count(*) FROM incidents").fetchone()
        kinds: dict[int, list[str]] = {}
        for alert_id, kind in rows:
            kinds.setdefault(alert_id, []).append(kind)
        # Decided once: the fire, then its incident link; the other replica's decision
        # of the same fire was adopted, adding no entry.
        assert {tuple(k) for k in kinds.values()} == {("fire", "update")}, kinds
        assert len(kinds) == 100
        # One incident per building on fire: the fire group keys on area and building.
        buildings = {(registry.area_of(d.grid), d.building) for d in detectors}
        assert incidents == (len(buildings),)
        assert all(x["incident_id"] is not None for x in alerts)
        # One MQTT publication per alert change.
        assert wait_for(lambda: len(console.messages) >= 200, 5)
        time.sleep(1)
        published: dict[int, int] = {}
        for m in console.messages:
            published[m["id"]] = published.get(m["id"], 0) + 1
        assert published == {x["id"]: 2 for x in alerts}
    finally:
        console.close()
        pub.close()
        a.stop()
        b.stop()
