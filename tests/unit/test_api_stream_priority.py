"""A critical alert overtakes a stream's backlog of lesser ones (issue 13), and resuming
from any event's id still gives every log entry exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.resume_point import ResumePoint, parse_resume_point
from tests.support.api_harness import ApiHarness, api_harness, auth, served
from tests.support.sse_client import DEADLINE_S, stream


@pytest.fixture
def h(tmp_path: Path) -> Iterator[ApiHarness]:
    with api_harness(tmp_path) as harness:
        yield harness


@pytest.fixture
def base(h: ApiHarness) -> Iterator[str]:
    with served(h.app) as url:
        yield url


def backlog(h: ApiHarness, lesser: int) -> tuple[int, list[int], int]:
    """`lesser` major alerts, then one critical: (the seq before them, their seqs, the
    critical's seq). Each major alert is its own rule on the same devices."""
    devices = ["a1-smoke-1", "a1-cam-1", "wy1-elev-1", "wy1-tank-1"]
    before = h.ops.last_log_seq()
    seqs = [h.fire(devices[n % len(devices)], rule=f"storm.r{n}")[1] for n in range(lesser)]
    _, critical = h.fire("a2-smoke-1", rule="fire.alarm", severity="critical")
    return before, seqs, critical


@pytest.mark.parametrize("lesser", [120, 620])  # inside the first page of 500, and beyond it
def test_a_critical_alert_overtakes_the_lesser_ones_a_stream_has_still_to_send(
    h: ApiHarness, base: str, lesser: int
) -> None:
    before, seqs, critical = backlog(h, lesser)
    with stream(base, h.token("ops"), **{"Last-Event-ID": str(before)}) as events:
        got = [events.next_with_id() for _ in range(lesser + 1)]
    # First, though logged last (in log order it came after all the lesser ones).
    assert got[0][1]["severity"] == "critical"
    assert parse_resume_point(got[0][0]) == ResumePoint(before, frozenset({critical}))
    # Then the rest in log order, each id the in-order point with the critical ahead.
    ids = [parse_resume_point(i) for i, _ in got[1:]]
    assert [p.after for p in ids] == seqs
    assert all(p.ahead == frozenset({critical}) for p in ids)


@pytest.mark.parametrize("cut", [1, 2, 300])  # the critical's own id, just after, later
def test_resuming_from_any_id_gives_every_entry_exactly_once(
    h: ApiHarness, base: str, cut: int
) -> None:
    """A board that loses its connection after `cut` events reconnects with the last
    id it got (as EventSource does): it gets each entry once, the critical too."""
    before, seqs, critical = backlog(h, 400)
    token = h.token("ops")
    with stream(base, token, **{"Last-Event-ID": str(before)}) as events:
        first = [events.next_with_id() for _ in range(cut)]
    with stream(base, token, **{"Last-Event-ID": first[-1][0]}) as events:
        rest = [events.next_with_id() for _ in range(401 - cut)]
        # Nothing more of the backlog: the next event is a new alert.
        _, new_seq = h.fire("a1-elev-1", rule="after.reconnect")
        after_id, after = events.next_with_id()
    got = [a["summary"] for _, a in first + rest]
    assert len(got) == len(set(got)) == 401
    assert got[0] == "fire.alarm on a2-smoke-1"
    assert after["summary"] == "after.reconnect on a1-elev-1"
    assert parse_resume_point(after_id) == ResumePoint(new_seq)
    assert critical > seqs[-1]


def test_critical_alerts_keep_their_order_among_themselves(h: ApiHarness, base: str) -> None:
    before = h.ops.last_log_seq()
    seqs = [h.fire("a1-smoke-1", rule=f"fire.r{n}", severity="critical")[1] for n in range(5)]
    with stream(base, h.token("ops"), **{"Last-Event-ID": str(before)}) as events:
        got = [parse_resume_point(events.next_with_id()[0]) for _ in seqs]
    assert got == [ResumePoint(s) for s in seqs]  # in order: no id names any ahead


@pytest.mark.parametrize("value", ["5:3", "5:", "5:x", ":5", "5:6,7:8",
                                   "1:" + ",".join(str(n) for n in range(2, 40))])
def test_a_bad_resume_point_is_422(h: ApiHarness, base: str, value: str) -> None:
    with httpx.Client(base_url=base, timeout=DEADLINE_S) as client:
        headers = {**auth(h.token("ops")), "Last-Event-ID": value}
        assert client.get("/api/v1/alerts/stream", headers=headers).status_code == 422


@pytest.mark.parametrize("cut", [0, 1])  # one connection; a reconnect after the critical
def test_an_alert_raised_to_critical_is_never_followed_by_its_older_state(
    h: ApiHarness, base: str, cut: int
) -> None:
    """A repeat may raise an alert to critical: sent ahead in its new state, its older
    lesser entry still waiting in log order must not follow (the board would show the
    alert as it was); the entry counts as sent, also for a resumed stream."""
    before = h.ops.last_log_seq()
    raised, _ = h.fire("a1-smoke-1", rule="smoke.level")
    lesser = [h.fire("a1-cam-1", rule=f"storm.r{n}")[1] for n in range(50)]
    _, critical = h.fire("a1-smoke-1", rule="smoke.level", severity="critical")
    token = h.token("ops")
    got: list[tuple[str, dict[str, Any]]] = []
    last = str(before)
    for take in ((cut, 51 - cut) if cut else (51,)):
        with stream(base, token, **{"Last-Event-ID": last}) as events:
            got += [events.next_with_id() for _ in range(take)]
            if take == 51 - cut or not cut:
                _, marker = h.fire("a1-elev-1", rule="marker")
                got.append(events.next_with_id())
        last = got[-1][0]
    alerts = [a for _, a in got]
    assert alerts[0]["id"] == raised.id and alerts[0]["severity"] == "critical"
    assert [a["id"] for a in alerts].count(raised.id) == 1
    assert [parse_resume_point(i).after for i, _ in got[1:51]] == lesser
    assert parse_resume_point(got[-1][0]) == ResumePoint(marker)
    assert critical > lesser[-1]
