"""Stream quotas: a limit per token and per pool, pools reserved for guard rooms and
the operations centre, and a refusal as 429 with Retry-After. Issue 18, hole 5."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from api.stream_quota import StreamLimits, StreamQuota
from api.tokens import Principal
from tests.support.api_harness import ApiHarness, api_harness, auth, served
from tests.support.tiny_street import AREA_A1, AREA_WY1

STREAM = "/api/v1/alerts/stream"


def who(token_id: str, role: str, grid: str | None = None, unit: str | None = None) -> Principal:
    return Principal(token_id, token_id, role, grid, unit)


def test_a_token_holds_at_most_its_share() -> None:
    quota = StreamQuota(StreamLimits(per_token=2, per_grid=8))
    guard = who("t1", "guard", AREA_A1)
    assert quota.acquire(guard) is None and quota.acquire(guard) is None
    refused = quota.acquire(guard)
    assert refused is not None and "limit per token" in refused
    assert quota.acquire(who("t2", "guard", AREA_A1)) is None  # the room's other token
    quota.release(guard)
    assert quota.acquire(guard) is None  # released, so free again


def test_each_guard_grid_has_streams_nobody_else_takes() -> None:
    quota = StreamQuota(StreamLimits(per_token=1, per_grid=2, ops=2, shared=2))
    for n in range(2):
        assert quota.acquire(who(f"a1-{n}", "guard", AREA_A1)) is None
    refused = quota.acquire(who("a1-9", "guard", AREA_A1))
    assert refused is not None and f"guard streams of {AREA_A1}" in refused
    # Everyone else fills every pool they can reach ...
    for n in range(5):
        quota.acquire(who(f"m{n}", "maintenance", unit=f"unit{n % 3}"))
        quota.acquire(who(f"adm{n}", "admin"))
        quota.acquire(who(f"g{n}", "guard", AREA_A1))
    # ... and the other area's guard room and the operations centre still get theirs.
    for n in range(2):
        assert quota.acquire(who(f"wy1-{n}", "guard", AREA_WY1)) is None
        assert quota.acquire(who(f"ops-{n}", "ops")) is None
    refused = quota.acquire(who("m9", "maintenance", unit="unit9"))
    assert refused is not None and "shared by maintenance units and admin" in refused


def test_one_unit_cannot_take_the_whole_shared_pool() -> None:
    quota = StreamQuota(StreamLimits(per_token=1, per_grid=2, shared=10))
    taken = [quota.acquire(who(f"t{n}", "maintenance", unit="elv")) for n in range(4)]
    assert taken[:2] == [None, None] and all(t is not None for t in taken[2:])
    assert quota.acquire(who("other", "maintenance", unit="fire")) is None


@pytest.mark.parametrize("bad", [{"per_token": 0}, {"shared": -1}])
def test_limits_below_one_are_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be at least 1"):
        StreamLimits(**bad)


@pytest.fixture
def h(tmp_path: Path) -> Iterator[ApiHarness]:
    with api_harness(tmp_path) as harness:  # the default limits, as served
        yield harness


def _open(stack: ExitStack, client: httpx.Client, token: str) -> httpx.Response:
    return stack.enter_context(client.stream("GET", STREAM, headers=auth(token)))


def test_one_token_cannot_crowd_out_a_guard_room(h: ApiHarness) -> None:
    """The report's case: one valid token opens stream after stream. It gets its share,
    then a clear 429 with Retry-After; a guard room's board still connects."""
    flooder, guard = h.token("maintenance", maintainer="elev1"), h.token("guard", AREA_A1)
    limits = StreamLimits()
    with (
        served(h.app) as base,
        httpx.Client(base_url=base, timeout=10) as client,
        ExitStack() as stack,
    ):
        codes = [_open(stack, client, flooder).status_code for _ in range(limits.per_token + 2)]
        assert codes == [200] * limits.per_token + [429, 429], codes
        refused = client.get(STREAM, headers=auth(flooder))
        assert refused.status_code == 429 and refused.headers["retry-after"] == "5"
        assert "limit per token" in refused.json()["detail"]
        assert _open(stack, client, guard).status_code == 200
