"""The production stack's files: docker-compose.yml against the Compose Specification's
JSON schema, every file it refers to present, its variables documented in
deploy/.env.example, the dashboard wired to provisioned data sources and real metrics,
and the container entrypoint refusing example secrets. No Docker engine runs here, so
nothing is started: this is what can be checked without one."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client import REGISTRY

import gridwatch.metrics  # noqa: F401  (registers every metric)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VARIABLE = re.compile(r"\$\{([A-Za-z0-9_]+)")


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def example_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (DEPLOY / ".env.example").read_text().splitlines()
             if line.strip() and not line.startswith("#"))
    return {k: v for k, v in pairs}


def test_compose_file_is_valid_against_the_compose_spec(shared_dir: Path) -> None:
    spec_path = shared_dir / "data" / "compose-spec" / "compose-spec.json"
    if not spec_path.exists():
        pytest.skip(f"{spec_path} is absent")
    schema = json.loads(spec_path.read_text())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in jsonschema.Draft7Validator(schema).iter_errors(compose())]
    assert errors == []


def test_the_stack_has_every_service_the_deploy_needs() -> None:
    services = compose()["services"]
    assert {"mqtt-acl", "mosquitto", "influxdb", "postgres", "gridwatch-a", "gridwatch-b",
            "proxy", "edge", "grafana"} <= set(services)
    assert services["influxdb"]["image"].startswith("influxdb:2")
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:2")
    init = services["influxdb"]["environment"]
    assert {"DOCKER_INFLUXDB_INIT_MODE", "DOCKER_INFLUXDB_INIT_ORG", "DOCKER_INFLUXDB_INIT_BUCKET",
            "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"} <= set(init)
    for replica in ("gridwatch-a", "gridwatch-b"):
        assert any("influx+http://influxdb:8086/" in a for a in services[replica]["command"])


def test_two_replicas_share_postgres_each_with_its_own_session_behind_the_proxy() -> None:
    services = compose()["services"]
    replicas = [services["gridwatch-a"], services["gridwatch-b"]]
    client_ids = [next(a for a in r["command"] if a.startswith("--client-id=")) for r in replicas]
    assert len(set(client_ids)) == 2
    ops_urls = {r["environment"]["GRIDWATCH_OPS_URL"] for r in replicas}
    assert len(ops_urls) == 1 and ops_urls.pop().startswith("postgresql://gridwatch:")
    data = [v for r in replicas for v in r["volumes"] if v.endswith(":/var/lib/gridwatch")]
    assert len(set(data)) == 2  # each its own data dir (embedded state, spool)
    assert all(r["depends_on"]["postgres"]["condition"] == "service_healthy" for r in replicas)
    cfg = (DEPLOY / "haproxy/haproxy.cfg").read_text()
    mounts = dict(v.split(":")[:2][::-1] for v in services["proxy"]["volumes"])
    assert mounts["/usr/local/etc/haproxy/haproxy.cfg"] == "./deploy/haproxy/haproxy.cfg"
    assert "option httpchk GET /healthz" in cfg and "shutdown-sessions" in cfg
    assert {"server a gridwatch-a:8000 check", "server b gridwatch-b:8000 check"} <= {
        line.strip() for line in cfg.splitlines()
    }
    assert "8000:8000" in services["proxy"]["ports"]
    assert not any("ports" in r for r in replicas)  # the API only through the proxy


def test_every_file_the_stack_refers_to_exists() -> None:
    services = compose()["services"]
    missing = []
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./") and not (ROOT / source).exists():
                missing.append(f"{name}: {source}")
        if "build" in service and not (ROOT / service["build"] / "Dockerfile").exists():
            missing.append(f"{name}: Dockerfile")
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            missing += [f"Dockerfile: {src}" for src in line.split()[1:-1]
                        if not (ROOT / src).exists()]
    assert missing == []
    # Grafana's dashboard provider reads the folder that compose mounts there.
    providers = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/dashboards.yaml").read_text())["providers"]
    mounts = dict(reversed(v.split(":")[:2]) for v in services["grafana"]["volumes"])
    for provider in providers:
        folder = ROOT / mounts[provider["options"]["path"]]
        assert list(folder.glob("*.json")), f"no dashboard in {folder}"


def test_mosquitto_reads_the_generated_files_from_mounted_volumes() -> None:
    mosquitto = compose()["services"]["mosquitto"]
    targets = {v.split(":")[1]: v.split(":")[0] for v in mosquitto["volumes"]}
    conf = dict(line.split(" ", 1) for line in (DEPLOY / "mosquitto/mosquitto.conf")
                .read_text().splitlines() if line and not line.startswith("#"))
    assert conf["allow_anonymous"] == "false" and conf["persistence"] == "true"
    for key in ("password_file", "acl_file", "persistence_location"):
        folder = next((t for t in targets if conf[key].startswith(t + "/")), None)
        assert folder is not None, f"{key} {conf[key]} is on no mounted volume"
    auth = next(t for t in targets if conf["password_file"].startswith(t + "/"))
    acl_job = compose()["services"]["mqtt-acl"]
    assert f"{targets[auth]}:/auth" in acl_job["volumes"]  # the volume mqtt-acl writes


def test_every_variable_is_documented_in_the_env_example() -> None:
    documented = set(example_env())
    used = set(VARIABLE.findall((ROOT / "docker-compose.yml").read_text()))
    assert used - documented == set()
    # Grafana's provisioning reads its variables from the grafana service's environment.
    grafana_env = set(compose()["services"]["grafana"]["environment"])
    provisioning = (DEPLOY / "grafana/provisioning/datasources/datasources.yaml").read_text()
    assert set(VARIABLE.findall(provisioning)) - grafana_env == set()


def test_dashboard_uses_provisioned_sources_and_existing_metrics() -> None:
    sources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/datasources.yaml").read_text())
    uids = {s["uid"] for s in sources["datasources"]}
    dashboard = json.loads((DEPLOY / "grafana/dashboards/street.json").read_text())
    known = set()
    for family in REGISTRY.collect():
        known |= {family.name + suffix
                  for suffix in ("", "_total", "_bucket", "_sum", "_count", "_created")}
    used_metrics = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] in uids, panel["title"]
        for target in panel["targets"]:
            used_metrics |= set(re.findall(r"gridwatch_[a-z_]+", target.get("expr", "")))
    assert used_metrics and used_metrics - known == set()


def run_entrypoint(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    fake = tmp_path / "gridwatch"
    fake.write_text('#!/bin/sh\necho "$GRIDWATCH_MQTT_URL|${INFLUXDB_ADMIN_PASSWORD:-unset}|$*"\n')
    fake.chmod(0o755)
    base = {"PATH": os.environ["PATH"], "GRIDWATCH_ENV_EXAMPLE": str(DEPLOY / ".env.example"),
            "GRIDWATCH_BIN": str(fake)}
    return subprocess.run(["sh", str(DEPLOY / "entrypoint.sh"), "serve", "--port=8000"],
                          env=base | env, capture_output=True, text=True, timeout=30)


def test_entrypoint_refuses_example_secrets_outside_demo_mode(tmp_path: Path) -> None:
    example = example_env()
    secrets = {k: v for k, v in example.items() if k.endswith(("_PASSWORD", "_TOKEN"))}
    assert len(secrets) >= 4
    refused = run_entrypoint(tmp_path, example)
    assert refused.returncode == 78
    assert set(refused.stderr.split("\n")[0].split(":")[-1].split()) == set(secrets)

    for kept in secrets:  # any one example secret left is enough to refuse
        one_left = example | {k: f"fresh-{k.lower()}" for k in secrets if k != kept}
        refused = run_entrypoint(tmp_path, one_left)
        assert refused.returncode == 78 and refused.stderr.split("\n")[0].endswith(f": {kept}")
    unused = {k: f"fresh-{k.lower()}" for k in secrets} | {"GRIDWATCH_BOOTSTRAP_TOKEN": ""}
    assert run_entrypoint(tmp_path, example | unused).returncode == 0

    demo = run_entrypoint(tmp_path, example | {"GRIDWATCH_DEMO": "1"})
    assert demo.returncode == 0 and demo.stdout.endswith("|serve --port=8000\n")


def test_entrypoint_builds_the_mqtt_url_and_drops_admin_secrets(tmp_path: Path) -> None:
    creds = tmp_path / "credentials.txt"
    creds.write_text("wy1-edge p1\ngridwatch-backend p2\n")
    fresh = {k: f"fresh-{k.lower()}" for k in example_env() if k.endswith(("_PASSWORD", "_TOKEN"))}
    ok = run_entrypoint(tmp_path, fresh | {"GW_MQTT_USER": "gridwatch-backend",
                                           "GW_MQTT_CREDENTIALS": str(creds)})
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "mqtt://gridwatch-backend:p2@mosquitto:1883|unset|serve --port=8000\n"
    unknown = run_entrypoint(tmp_path, fresh | {"GW_MQTT_USER": "nobody",
                                                "GW_MQTT_CREDENTIALS": str(creds)})
    assert unknown.returncode == 78 and "nobody" in unknown.stderr


def test_the_broker_queues_room_for_each_ingest_session() -> None:
    """Mosquitto's default (1,000 queued messages per session) dropped one alarm in seven
    behind a readings burst when alarms shared the readings session; they have their own
    session now, and each session's queue has room for a long ingest outage."""
    conf = dict(line.split(" ", 1) for line in (DEPLOY / "mosquitto/mosquitto.conf")
                .read_text().splitlines() if line and not line.startswith("#"))
    assert int(conf["max_queued_messages"]) >= 100_000
    queued_bytes = int(conf["max_queued_bytes"])
    assert queued_bytes == 0 or queued_bytes >= 64 << 20  # 0 is no cap
