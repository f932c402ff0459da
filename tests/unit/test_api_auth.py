"""Authentication and roles over HTTP: 401 with WWW-Authenticate, 403 by role, open
liveness and metrics, and the session cookie as an alternative to the header."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.auth import SESSION_COOKIE
from config.models import TokenSpec
from tests.support.api_harness import BOOTSTRAP, ApiHarness, api_harness, auth
from tests.support.tiny_street import AREA_A1

CONFIG_TOKEN = "a-token-from-the-yaml-config-000000000000"


@pytest.fixture
def h(tmp_path: Path) -> Iterator[ApiHarness]:
    spec = TokenSpec(
        id="cfg-ops",
        name="yaml ops",
        role="ops",
        sha256=hashlib.sha256(CONFIG_TOKEN.encode()).hexdigest(),
    )
    with api_harness(tmp_path, tokens=(spec,)) as harness:
        yield harness


PROTECTED = ["/api/v1/alerts", "/api/v1/alerts/1", "/api/v1/grids", "/api/v1/devices"]


def _expect_401(h: ApiHarness, headers: dict[str, str]) -> None:
    for path in PROTECTED:
        resp = h.client.get(path, headers=headers)
        assert resp.status_code == 401, (path, resp.text)
        assert resp.headers["www-authenticate"] == "Bearer"
        assert isinstance(resp.json()["detail"], str)
    resp = h.client.post("/api/v1/alerts/1/ack", json={"note": "x"}, headers=headers)
    assert resp.status_code == 401


def test_no_token_is_401(h: ApiHarness) -> None:
    _expect_401(h, {})
    _expect_401(h, {"Authorization": "Basic dXNlcjpwdw=="})


def test_bad_and_forged_tokens_are_401(h: ApiHarness) -> None:
    real = h.token("ops")
    for bad in (
        "nonsense",
        real[:-2] + "zz",
        real.replace(real[3:11], "0badc0de"),
        BOOTSTRAP + "x",
    ):
        _expect_401(h, auth(bad))


def test_expired_token_is_401(h: ApiHarness) -> None:
    token = h.token("ops", expires_s=60)
    assert h.client.get("/api/v1/grids", headers=auth(token)).status_code == 200
    h.clock.advance(60)
    _expect_401(h, auth(token))


def test_revoked_token_is_401(h: ApiHarness) -> None:
    token = h.token("guard", grid=AREA_A1)
    assert h.client.get("/api/v1/grids", headers=auth(token)).status_code == 200
    h.ops.revoke_token(token[3:11], h.clock())
    _expect_401(h, auth(token))


@pytest.mark.parametrize("token", [BOOTSTRAP, CONFIG_TOKEN])
def test_bootstrap_and_config_tokens_work(h: ApiHarness, token: str) -> None:
    assert h.client.get("/api/v1/alerts", headers=auth(token)).status_code == 200


def test_session_cookie_authenticates(h: ApiHarness) -> None:
    token = h.token("ops")
    h.client.cookies.set(SESSION_COOKIE, token)
    assert h.client.get("/api/v1/alerts").status_code == 200
    h.client.cookies.set(SESSION_COOKIE, token + "x")
    assert h.client.get("/api/v1/alerts").status_code == 401


def test_maintenance_may_not_ack(h: ApiHarness) -> None:
    alert, _ = h.fire("a1-elev-1")
    token = h.token("maintenance", maintainer="elev1")
    assert h.client.get(f"/api/v1/alerts/{alert.id}", headers=auth(token)).status_code == 200
    resp = h.client.post(f"/api/v1/alerts/{alert.id}/ack", json={"note": "n"}, headers=auth(token))
    assert resp.status_code == 403
    assert "maintenance" in resp.json()["detail"]
    assert h.ops.get_alert(alert.id).acked_by is None  # type: ignore[union-attr]


def test_health_and_metrics_need_no_token(h: ApiHarness) -> None:
    assert h.client.get("/healthz").json() == {"status": "ok"}
    metrics = h.client.get("/metrics")
    assert metrics.status_code == 200
    assert "gridwatch_sse_clients" in metrics.text
    assert metrics.headers["content-type"].startswith("text/plain")


def test_openapi_documents_the_api(h: ApiHarness) -> None:
    spec = h.client.get("/openapi.json").json()
    assert spec["info"]["title"] == "gridwatch"
    assert {"/api/v1/alerts", "/api/v1/alerts/stream", "/api/v1/grids"} <= set(spec["paths"])
    assert h.client.get("/docs").status_code == 200


def test_healthz_answers_503_with_the_reason(h: ApiHarness) -> None:
    """A load balancer takes a replica out when it is not ready (here: ingest lost the
    broker) or its op store does not answer."""
    h.ctx.readiness = lambda: {"reason": "ingest is not connected to the MQTT broker"}
    got = h.client.get("/healthz")
    assert got.status_code == 503
    assert got.json() == {"status": "not_ready",
                          "reason": "ingest is not connected to the MQTT broker"}
    h.ctx.readiness = lambda: None
    assert h.client.get("/healthz").status_code == 200
    h.ops.close()  # the store is gone: its ping fails
    got = h.client.get("/healthz")
    assert got.status_code == 503
    assert got.json() == {"status": "not_ready", "reason": "the operational store does not answer"}
