"""The incident and silence endpoints: shapes, roles, scopes, lifecycle rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from store.opstate_incidents import IncidentStore
from tests.support.api_harness import ApiHarness, api_harness, auth
from tests.support.tiny_street import AREA_A1, AREA_WY1


@pytest.fixture
def h(tmp_path: Path) -> Iterator[ApiHarness]:
    with api_harness(tmp_path) as harness:
        yield harness


def open_incident(h: ApiHarness, device: str) -> int:
    alert, _ = h.fire(device, rule="r1", severity="critical")
    incidents = IncidentStore(h.ops)
    grid = h.registry.devices[device].grid
    incident_id, opened, _ = incidents.open_or_join(f"k|{device}", grid, alert.id, h.clock(), "x")
    assert opened
    return incident_id


def test_ops_follows_an_incident_through_its_lifecycle(h: ApiHarness) -> None:
    incident_id = open_incident(h, "a1-smoke-1")
    ops = auth(h.token("ops"))
    got = h.client.get(f"/api/v1/incidents/{incident_id}", headers=ops)
    assert got.status_code == 200
    body = got.json()
    assert set(body) >= {"id", "status", "alerts", "grid", "created_at", "history"}
    assert body["status"] == "open" and body["grid"] == "lc/d1/a1/m1" and len(body["alerts"]) == 1
    for step in ("dispatched", "acknowledged", "resolved", "closed"):
        h.clock.advance(10)
        r = h.client.post(f"/api/v1/incidents/{incident_id}/transition", headers=ops,
                          json={"to": step, "note": f"now {step}"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == step
    history = h.client.get(f"/api/v1/incidents/{incident_id}", headers=ops).json()["history"]
    assert [e["to"] for e in history] == ["open", "dispatched", "acknowledged", "resolved",
                                          "closed"]
    assert history[2]["note"] == "now acknowledged" and history[2]["who"] == "test ops street"
    assert history[2]["when"].endswith("+00:00")
    listed = h.client.get("/api/v1/incidents", params={"status": "closed"}, headers=ops).json()
    assert [i["id"] for i in listed] == [incident_id]
    assert h.client.get("/api/v1/incidents", params={"status": "open"}, headers=ops).json() == []


def test_invalid_transitions_are_refused_with_a_reason(h: ApiHarness) -> None:
    incident_id = open_incident(h, "a1-smoke-1")
    ops = auth(h.token("ops"))
    url = f"/api/v1/incidents/{incident_id}/transition"
    r = h.client.post(url, headers=ops, json={"to": "closed", "note": ""})
    assert r.status_code == 409 and "may go to" in r.json()["detail"]
    assert h.client.post(url, headers=ops, json={"to": "exploded"}).status_code == 422
    assert h.client.post(url, headers=ops, json={"note": "no target"}).status_code == 422
    assert h.client.get("/api/v1/incidents", params={"status": "x"}, headers=ops).status_code == 422
    assert h.client.post("/api/v1/incidents/999/transition", headers=ops,
                         json={"to": "resolved"}).status_code == 404


def test_guards_see_their_scope_read_only(h: ApiHarness) -> None:
    mine = open_incident(h, "a1-smoke-1")
    theirs = open_incident(h, "wy1-elev-1")
    guard = auth(h.token("guard", AREA_A1))
    assert [i["id"] for i in h.client.get("/api/v1/incidents", headers=guard).json()] == [mine]
    assert h.client.get(f"/api/v1/incidents/{mine}", headers=guard).status_code == 200
    assert h.client.get(f"/api/v1/incidents/{theirs}", headers=guard).status_code == 404
    r = h.client.post(
        f"/api/v1/incidents/{mine}/transition", headers=guard, json={"to": "resolved"}
    )
    assert r.status_code == 403
    maint = auth(h.token("maintenance", maintainer="elev1"))
    assert h.client.get("/api/v1/incidents", headers=maint).status_code == 403
    assert h.client.get("/api/v1/incidents").status_code == 401


def test_silences_are_created_listed_and_expired(h: ApiHarness) -> None:
    ops = auth(h.token("ops"))
    body = {"matchers": {"grid": AREA_WY1, "type": ["elevator.*"]}, "comment": "lift overhaul",
            "until": h.clock() + 3600}
    r = h.client.post("/api/v1/silences", headers=ops, json=body)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["created_by"] == "test ops street" and made["comment"] == "lift overhaul"
    assert made["matchers"] == {"grid": AREA_WY1, "type": ["elevator.*"]}
    a1_guard = auth(h.token("guard", AREA_A1))
    wy1_guard = auth(h.token("guard", AREA_WY1))
    assert h.client.get("/api/v1/silences", headers=a1_guard).json() == []
    assert [s["id"] for s in h.client.get("/api/v1/silences", headers=wy1_guard).json()] == [
        made["id"]
    ]
    assert h.client.delete(f"/api/v1/silences/{made['id']}", headers=wy1_guard).status_code == 403
    assert h.client.delete(f"/api/v1/silences/{made['id']}", headers=ops).status_code == 200
    assert h.client.get("/api/v1/silences", headers=ops).json() == []
    assert h.client.delete(f"/api/v1/silences/{made['id']}", headers=ops).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"matchers": {}, "comment": "all", "until": 2e9},
        {"matchers": {"grid": "lc"}, "comment": "", "until": 2e9},
        {"matchers": {"grid": "lc"}, "comment": "past", "until": 1.0},
        {"matchers": {"grid": "lc"}, "comment": "bad time", "until": "tomorrow"},
        {"matchers": {"colour": ["red"]}, "comment": "unknown", "until": 2e9},
        {"matchers": {"grid": "lc"}, "comment": "a year", "until": 1_764_090_000 + 365 * 86400},
    ],
)
def test_bad_silences_are_422(h: ApiHarness, body: dict[str, object]) -> None:
    r = h.client.post("/api/v1/silences", headers=auth(h.token("ops")), json=body)
    assert r.status_code == 422, r.text


def test_dispatching_to_a_unit_needs_one_with_a_webhook(h: ApiHarness) -> None:
    incident_id = open_incident(h, "a1-smoke-1")
    ops = auth(h.token("ops"))
    url = f"/api/v1/incidents/{incident_id}/transition"
    r = h.client.post(url, headers=ops, json={"to": "dispatched", "unit": "nobody"})
    assert r.status_code == 422 and "webhook" in str(r.json()["detail"])
    r = h.client.post(url, headers=ops, json={"to": "resolved", "unit": "nobody"})
    assert r.status_code == 422
    status = h.client.get(f"/api/v1/incidents/{incident_id}", headers=ops).json()["status"]
    assert status == "open"  # a refused call changes nothing
