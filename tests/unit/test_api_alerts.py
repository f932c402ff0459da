"""`/api/v1/alerts`: scope, filters, validation, the alert shape and acknowledgement."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.support.api_harness import ApiHarness, api_harness, auth
from tests.support.tiny_street import AREA_A1, AREA_WY1, LC_DEVICES

ALERT_FIELDS = {
    "id", "fingerprint", "rule", "type", "severity", "status", "device", "device_type", "grid",
    "building", "started_at", "updated_at", "resolved_at", "value", "summary", "acked_by",
    "acked_at", "escalation_level", "incident_id", "receivers", "location", "ack_note",
}


@pytest.fixture
def h(tmp_path: Path) -> Iterator[ApiHarness]:
    with api_harness(tmp_path) as harness:
        yield harness


def _fire_everywhere(h: ApiHarness) -> dict[str, int]:
    """One alert per device, a second apart; device -> alert id."""
    ids = {}
    for device in LC_DEVICES:
        h.clock.advance(1)
        ids[device] = h.fire(device)[0].id
    return ids


def _ids(h: ApiHarness, token: str, query: str = "", **params: str) -> list[int]:
    resp = h.client.get(f"/api/v1/alerts{query}", params=params or None, headers=auth(token))
    assert resp.status_code == 200, resp.text
    return [a["id"] for a in resp.json()]


def _under(scope: str) -> set[str]:
    return {d for d, (_, grid, _) in LC_DEVICES.items() if grid.startswith(scope + "/")}


def test_guard_sees_only_its_area(h: ApiHarness) -> None:
    ids = _fire_everywhere(h)
    guard_a1, guard_wy1 = h.token("guard", AREA_A1), h.token("guard", AREA_WY1)
    assert set(_ids(h, guard_a1)) == {ids[d] for d in _under(AREA_A1)}
    assert set(_ids(h, guard_wy1)) == {ids[d] for d in _under(AREA_WY1)}
    for device in _under(AREA_WY1):
        resp = h.client.get(f"/api/v1/alerts/{ids[device]}", headers=auth(guard_a1))
        assert resp.status_code == 404
        missing = h.client.get("/api/v1/alerts/999999", headers=auth(guard_a1)).json()
        assert resp.json()["detail"].replace(str(ids[device]), "N") == missing["detail"].replace(
            "999999", "N"
        )
    for device in _under(AREA_A1):
        resp = h.client.get(f"/api/v1/alerts/{ids[device]}", headers=auth(guard_a1))
        assert resp.status_code == 200 and resp.json()["device"] == device


def test_ops_sees_all_newest_first(h: ApiHarness) -> None:
    ids = _fire_everywhere(h)
    assert _ids(h, h.token("ops")) == sorted(ids.values(), reverse=True)


def test_maintenance_sees_only_its_devices(h: ApiHarness) -> None:
    ids = _fire_everywhere(h)
    mine = {ids[d] for d, (_, _, unit) in LC_DEVICES.items() if unit == "fire1"}
    token = h.token("maintenance", maintainer="fire1")
    assert set(_ids(h, token)) == mine
    others = set(ids.values()) - mine
    for alert_id in others:
        assert h.client.get(f"/api/v1/alerts/{alert_id}", headers=auth(token)).status_code == 404


def test_grid_filter(h: ApiHarness) -> None:
    ids = _fire_everywhere(h)
    ops, guard = h.token("ops"), h.token("guard", AREA_A1)
    micro = "lc/d1/a1/m2"
    expected = {ids[d] for d, (_, grid, _) in LC_DEVICES.items() if grid == micro}
    assert set(_ids(h, ops, f"?grid={micro}")) == expected
    assert set(_ids(h, guard, f"?grid={micro}")) == expected
    for outside in (AREA_WY1, "lc/d1", "lc", "lc/d9", "nonsense"):
        resp = h.client.get(f"/api/v1/alerts?grid={outside}", headers=auth(guard))
        assert resp.status_code == 404, outside
    assert h.client.get("/api/v1/alerts?grid=lc/d9", headers=auth(ops)).status_code == 404


def test_status_severity_since_and_limit(h: ApiHarness) -> None:
    first, _ = h.fire("a1-smoke-1", severity="critical")
    h.clock.advance(100)
    second, _ = h.fire("wy1-elev-1", severity="minor")
    h.fire("a1-smoke-1", kind="resolve", severity="critical")
    ops = h.token("ops")
    assert _ids(h, ops, "?status=firing") == [second.id]
    assert _ids(h, ops, "?status=resolved") == [first.id]
    assert _ids(h, ops, "?severity=minor") == [second.id]
    cut = second.started_at - 50
    shanghai = timezone(timedelta(hours=8))
    iso_cut = datetime.fromtimestamp(cut, shanghai).isoformat()
    cut_utc = _utc(cut)
    for since in (str(cut), iso_cut, cut_utc, cut_utc.replace("+00:00", "Z")):
        assert _ids(h, ops, since=since, status="firing") == [second.id], since
    assert _ids(h, ops, since=str(second.updated_at + 1)) == []
    # An unencoded "+" in a URL is a space by the time it arrives.
    assert _ids(h, ops, f"?since={iso_cut}&status=firing") == [second.id]
    assert len(_ids(h, ops, "?limit=1")) == 1
    assert len(_ids(h, ops, "?limit=1000")) == 2


@pytest.mark.parametrize(
    "query",
    [
        "?since=yesterday",
        "?since=nan",
        "?since=2025-13-01",
        "?since=inf",
        "?since=2025-11-25T08:00:00%2B25:00",
        "?limit=0",
        "?limit=1001",
        "?limit=ten",
        "?status=open",
        "?severity=urgent",
    ],
)
def test_invalid_query_is_422(h: ApiHarness, query: str) -> None:
    resp = h.client.get(f"/api/v1/alerts{query}", headers=auth(h.token("ops")))
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"]


@pytest.mark.parametrize(
    "path", ["/api/v1/alerts/abc", "/api/v1/alerts/0", f"/api/v1/alerts/{2**70}"]
)
def test_invalid_alert_id_is_422(h: ApiHarness, path: str) -> None:
    assert h.client.get(path, headers=auth(h.token("ops"))).status_code == 422


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def test_alert_shape(h: ApiHarness) -> None:
    alert, _ = h.fire("wy1-cam-1", severity="critical")
    body = h.client.get(f"/api/v1/alerts/{alert.id}", headers=auth(h.token("ops"))).json()
    assert set(body) == ALERT_FIELDS
    spec = h.registry.devices["wy1-cam-1"]
    assert (body["grid"], body["building"], body["device_type"]) == (
        spec.grid,
        spec.building,
        spec.type,
    )
    started = datetime.fromisoformat(body["started_at"])
    assert body["location"] == h.registry.location("wy1-cam-1")
    assert body["location"]["text"].startswith("文苑一村 ") and body["location"]["mapped"]
    assert started.utcoffset() is not None and started.timestamp() == alert.started_at
    assert body["resolved_at"] is None and body["acked_at"] is None


def test_ack_records_who_and_when_and_logs_it(h: ApiHarness) -> None:
    alert, seq = h.fire("wy1-elev-1")
    token = h.token("guard", AREA_WY1)
    h.clock.advance(30)
    resp = h.client.post(
        f"/api/v1/alerts/{alert.id}/ack", json={"note": "on my way 马上到"}, headers=auth(token)
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["acked_by"] == f"test guard {AREA_WY1}"
    assert datetime.fromisoformat(body["acked_at"]).timestamp() == h.clock()
    log = h.ops.alert_log_after(seq, None)
    assert [(a.id, a.acked_by) for _, a in log] == [(alert.id, body["acked_by"])]
    assert h.notifier.last_seq == log[-1][0]


def test_ack_outside_scope_or_missing_is_404(h: ApiHarness) -> None:
    alert, _ = h.fire("wy1-elev-1")
    token = h.token("guard", AREA_A1)
    for alert_id in (alert.id, alert.id + 100):
        resp = h.client.post(f"/api/v1/alerts/{alert_id}/ack", json={}, headers=auth(token))
        assert resp.status_code == 404
    assert h.ops.get_alert(alert.id).acked_by is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "body",
    [{"note": "x" * 2001}, {"note": 5}, {"note": "ok", "extra": 1}, [1], "plain"],
)
def test_ack_refuses_bad_bodies(h: ApiHarness, body: object) -> None:
    alert, _ = h.fire("wy1-elev-1")
    resp = h.client.post(f"/api/v1/alerts/{alert.id}/ack", json=body, headers=auth(h.token("ops")))
    assert resp.status_code == 422, resp.text


def test_ack_refuses_undecodable_body(h: ApiHarness) -> None:
    alert, _ = h.fire("wy1-elev-1")
    headers = {**auth(h.token("ops")), "Content-Type": "application/json"}
    resp = h.client.post(f"/api/v1/alerts/{alert.id}/ack", content=b"\xff\xfe{", headers=headers)
    assert resp.status_code == 422, resp.text
