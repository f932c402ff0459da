"""`/api/v1/grids` and `/api/v1/devices`, cut to the caller's scope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.api_harness import ApiHarness, api_harness, auth
from tests.support.tiny_street import AREA_A1, AREA_WY1, LC_DEVICES


@pytest.fixture
def h(tmp_path: Path) -> Iterator[ApiHarness]:
    with api_harness(tmp_path) as harness:
        yield harness


def _paths(node: dict[str, Any]) -> list[str]:
    return [node["path"], *(p for child in node["children"] for p in _paths(child))]


def _get(h: ApiHarness, token: str, path: str) -> Any:
    resp = h.client.get(path, headers=auth(token))
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_ops_gets_the_whole_tree(h: ApiHarness) -> None:
    roots = _get(h, h.token("ops"), "/api/v1/grids")
    assert len(roots) == 1 and roots[0]["kind"] == "street"
    assert sorted(_paths(roots[0])) == sorted(h.registry.grids)
    leaf = next(n for n in roots[0]["children"][0]["children"][0]["children"])
    assert leaf["kind"] == "micro" and leaf["children"] == []


def test_guard_gets_its_area_subtree(h: ApiHarness) -> None:
    roots = _get(h, h.token("guard", AREA_WY1), "/api/v1/grids")
    expected = [p for p in h.registry.grids if p == AREA_WY1 or p.startswith(AREA_WY1 + "/")]
    assert [r["path"] for r in roots] == [AREA_WY1]
    assert sorted(_paths(roots[0])) == sorted(expected)
    assert roots[0]["name"] == h.registry.grids[AREA_WY1].name


def _device_ids(h: ApiHarness, token: str, query: str = "") -> set[str]:
    return {d["id"] for d in _get(h, token, f"/api/v1/devices{query}")}


def test_devices_in_scope(h: ApiHarness) -> None:
    assert _device_ids(h, h.token("ops")) == set(LC_DEVICES)
    guard = h.token("guard", AREA_A1)
    assert _device_ids(h, guard) == {d for d, v in LC_DEVICES.items() if v[1].startswith(AREA_A1)}
    cameras = {d for d, v in LC_DEVICES.items() if v[0] == "camera" and v[1].startswith(AREA_A1)}
    assert _device_ids(h, guard, "?type=camera") == cameras
    assert h.client.get(f"/api/v1/devices?grid={AREA_WY1}", headers=auth(guard)).status_code == 404


def test_maintenance_sees_its_own_devices(h: ApiHarness) -> None:
    token = h.token("maintenance", maintainer="elev1")
    assert _device_ids(h, token) == {d for d, v in LC_DEVICES.items() if v[2] == "elev1"}
    in_wy1 = {d for d, v in LC_DEVICES.items() if v[2] == "elev1" and v[1].startswith(AREA_WY1)}
    assert _device_ids(h, token, f"?grid={AREA_WY1}") == in_wy1


def test_device_shape(h: ApiHarness) -> None:
    devices = _get(h, h.token("ops"), "/api/v1/devices?grid=lc/d2/wy1/mg07")
    spec = h.registry.devices[devices[0]["id"]]
    assert devices == [
        {
            "id": spec.id,
            "type": spec.type,
            "agent": spec.agent,
            "grid": spec.grid,
            "building": spec.building,
            "floor": spec.floor,
            "maintainer": spec.maintainer,
            "location": h.registry.location(spec.id),
            "points": None,
        }
    ]


@pytest.mark.parametrize("query", ["?type=toaster", "?type="])
def test_unknown_device_type_is_422(h: ApiHarness, query: str) -> None:
    resp = h.client.get(f"/api/v1/devices{query}", headers=auth(h.token("ops")))
    assert resp.status_code == 422
