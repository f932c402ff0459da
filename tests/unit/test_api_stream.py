"""The SSE alert stream over a real uvicorn connection: resume after Last-Event-ID,
live delivery, scope, the stream cap. Every read has a deadline, so nothing can hang."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from api.auth import SESSION_COOKIE
from api.sse import RECONNECT_MS, TOKEN_CHECK_S
from api.stream_quota import StreamLimits
from tests.support.api_harness import ApiHarness, api_harness, auth, served
from tests.support.sse_client import DEADLINE_S, Events, stream
from tests.support.tiny_street import AREA_A1, AREA_WY1


@pytest.fixture
def h(tmp_path: Path) -> Iterator[ApiHarness]:
    with api_harness(tmp_path, stream_limits=StreamLimits(per_token=2)) as harness:
        yield harness


@pytest.fixture
def base(h: ApiHarness) -> Iterator[str]:
    with served(h.app) as url:
        yield url


def test_resumes_after_last_event_id(h: ApiHarness, base: str) -> None:
    seqs = [h.fire(device)[1] for device in ("a1-smoke-1", "wy1-elev-1", "a1-cam-1", "a2-smoke-1")]
    with stream(base, h.token("ops"), **{"Last-Event-ID": str(seqs[1])}) as events:
        got = [events.next() for _ in seqs[2:]]
        assert [seq for seq, _ in got] == seqs[2:]
        assert [a["device"] for _, a in got] == ["a1-cam-1", "a2-smoke-1"]
        alert, seq = h.fire("wy1-tank-1")
        got_seq, streamed = events.next()
        assert got_seq == seq
        # The streamed alert is the very JSON that GET /alerts/{id} serves.
        served_alert = h.client.get(f"/api/v1/alerts/{alert.id}", headers=auth(h.token("ops")))
        assert streamed == served_alert.json()


def test_query_resume_point_and_header_wins(h: ApiHarness, base: str) -> None:
    seqs = [h.fire(device)[1] for device in ("a1-smoke-1", "wy1-elev-1", "a1-cam-1")]
    token = h.token("ops")
    with stream(base, token, f"?last_event_id={seqs[0]}") as events:
        assert events.next()[0] == seqs[1]
    headers = {"Last-Event-ID": str(seqs[1])}
    with stream(base, token, f"?last_event_id={seqs[0]}", **headers) as events:
        assert events.next()[0] == seqs[2]


def test_without_resume_point_starts_at_the_end(h: ApiHarness, base: str) -> None:
    h.fire("a1-smoke-1")
    with stream(base, h.token("ops")) as events:
        _, seq = h.fire("a1-elev-1")
        assert events.next()[0] == seq


def test_guard_stream_leaves_other_areas_out(h: ApiHarness, base: str) -> None:
    guard = h.token("guard", AREA_A1)
    with stream(base, guard, **{"Last-Event-ID": "0"}) as events:
        h.fire("wy1-elev-1")
        h.fire("wy1-cam-1")
        _, mine = h.fire("a1-cam-1")
        seq, alert = events.next()
        assert (seq, alert["grid"].startswith(AREA_A1 + "/")) == (mine, True)
    with httpx.Client(base_url=base, timeout=DEADLINE_S) as client:
        resp = client.get(f"/api/v1/alerts/stream?grid={AREA_WY1}", headers=auth(guard))
        assert resp.status_code == 404


def test_acknowledgement_is_streamed(h: ApiHarness, base: str) -> None:
    alert, _ = h.fire("a1-smoke-1")
    with stream(base, h.token("ops")) as events:
        guard = h.token("guard", AREA_A1)
        resp = h.client.post(
            f"/api/v1/alerts/{alert.id}/ack", json={"note": "n"}, headers=auth(guard)
        )
        assert resp.status_code == 200
        _, streamed = events.next()
        assert (streamed["id"], streamed["acked_by"]) == (alert.id, resp.json()["acked_by"])


def test_cookie_auth_and_401(h: ApiHarness, base: str) -> None:
    token = h.token("ops")
    with httpx.Client(base_url=base, timeout=DEADLINE_S) as client:
        assert client.get("/api/v1/alerts/stream").status_code == 401
        client.cookies.set(SESSION_COOKIE, token)
        with client.stream("GET", "/api/v1/alerts/stream") as resp:
            assert resp.status_code == 200


def _clients() -> float:
    return REGISTRY.get_sample_value("gridwatch_sse_clients") or 0.0


def test_stream_cap_and_release(h: ApiHarness, base: str) -> None:
    token = h.token("ops")
    before = _clients()
    with stream(base, token), stream(base, token):
        assert _clients() == before + 2
        with httpx.Client(base_url=base, timeout=DEADLINE_S) as client:
            resp = client.get("/api/v1/alerts/stream", headers=auth(token))
            assert resp.status_code == 429 and resp.headers["retry-after"] == "5"
            assert "2 alert streams (the limit per token)" in resp.json()["detail"]
    # The server notices the closed connections shortly after; poll within the deadline.
    deadline = time.monotonic() + DEADLINE_S
    while _clients() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _clients() == before
    with stream(base, token), stream(base, token):
        pass


@pytest.mark.parametrize("value", ["abc", "-1", "1.5"])
def test_bad_last_event_id_is_422(h: ApiHarness, base: str, value: str) -> None:
    with httpx.Client(base_url=base, timeout=DEADLINE_S) as client:
        headers = {**auth(h.token("ops")), "Last-Event-ID": value}
        assert client.get("/api/v1/alerts/stream", headers=headers).status_code == 422


CLOSE_WITHIN_S = 5.0


def _closes_within(events: Events, seconds: float) -> list[str]:
    """The lines a stream sends until the server ends it; fails unless that is within
    `seconds` (a stream left open runs into the read timeout instead)."""
    start, lines = time.monotonic(), []
    try:
        for line in events.lines:
            lines.append(line)
    except httpx.ReadTimeout:
        raise AssertionError(f"stream still open after {DEADLINE_S} s: {lines}") from None
    elapsed = time.monotonic() - start
    assert elapsed < seconds, f"stream ended after {elapsed:.1f} s"
    return lines


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_revocation_and_expiry_end_an_open_stream(h: ApiHarness, base: str, how: str) -> None:
    token = h.token("guard", AREA_A1, expires_s=600)
    with stream(base, token) as events:
        _, seq = h.fire("a1-smoke-1")
        assert events.next()[0] == seq  # live before
        if how == "revoked":
            h.ops.revoke_token(token[3:11], h.clock())
        else:
            h.clock.advance(601)
        lines = _closes_within(events, CLOSE_WITHIN_S)
    assert "event: closed" in lines, lines
    with httpx.Client(base_url=base, timeout=DEADLINE_S) as client:
        assert client.get("/api/v1/alerts/stream", headers=auth(token)).status_code == 401


def test_a_valid_token_keeps_its_stream(h: ApiHarness, base: str) -> None:
    """The checks themselves do not end a stream: past several of them it still delivers."""
    token = h.token("guard", AREA_A1, expires_s=600)
    with stream(base, token) as events:
        time.sleep(2.5 * TOKEN_CHECK_S)
        _, seq = h.fire("a1-smoke-1")
        assert events.next()[0] == seq


def test_opens_with_the_resume_point_as_an_id_only_event(h: ApiHarness, base: str) -> None:
    """A board that sees no alert before its replica dies must still resume from where
    it began on the other one: the stream's first event carries only `id:` (EventSource
    keeps it as its last event id without dispatching anything)."""
    seqs = [h.fire(device)[1] for device in ("a1-smoke-1", "wy1-elev-1")]
    with stream(base, h.token("ops")) as events:
        first: list[str] = []
        for line in events.lines:
            if line == "":
                break
            first.append(line)
        assert first == [f"id: {seqs[-1]}", f"retry: {RECONNECT_MS}"]
    with stream(base, h.token("ops"), **{"Last-Event-ID": "0"}) as events:
        assert next(events.lines) == "id: 0"
