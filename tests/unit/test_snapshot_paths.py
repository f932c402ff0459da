"""Snapshot references from the wire never name a file outside the agent's snapshot
folder: the one id rule where they enter (topic, event field, URL), and the one
resolver that checks where the real file is. Issue 18, hole 1."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from gridwatch.records import DeviceEvent, Reading
from gridwatch.snapshot_ref import id_problem, snapshot_file
from ingest.decode import RawMessage
from ingest.pipeline import IngestPipeline
from tests.support.api_harness import ApiHarness, api_harness, auth

JPEG = b"\xff\xd8\xff\xe0" + b"snapshot-under-test" + b"\xff\xd9"
SECRET = b"\xff\xd8 not yours \xff\xd9"
AGENT, CAMERA = "ag-a1", "a1-cam-1"


class Sink:
    def __init__(self) -> None:
        self.events: list[DeviceEvent] = []

    def on_events(self, events: Sequence[DeviceEvent]) -> None:
        self.events.extend(events)

    def on_readings(self, readings: Sequence[Reading]) -> None:
        pass

    def on_agent_status(self, agent: str, state: str, ts: float) -> None:
        pass

    def on_agent_garbage(self, agent: str, ts: float, detail: str, over: bool) -> None:
        pass


@pytest.fixture
def h(tmp_path: Path) -> Iterator[ApiHarness]:
    with api_harness(tmp_path) as harness:
        harness.ctx.snapshot_dir = tmp_path / "snapshots"
        yield harness


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A JPEG outside the snapshot folder that no request may ever read."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(SECRET)
    return outside / "secret"


# --- the one rule -------------------------------------------------------------------


@pytest.mark.parametrize("good", ["s", "snap-01_a.b", "cam-1.3f2a9c1d.7-snap", "x" * 128])
def test_ids_the_edge_sends_are_ids(good: str) -> None:
    assert id_problem(good) is None


@pytest.mark.parametrize(
    "bad",
    ["", ".", "..", ".hidden", "a..b", "/etc/secret", "a/b", "a\\b", "x" * 129, "ü", "a b",
     "%2e%2e", 42, None, ["x"]],
)
def test_anything_else_is_refused_with_a_reason(bad: object) -> None:
    why = id_problem(bad)
    assert why is not None and "snapshot" in why


def test_the_resolver_stays_in_the_agents_folder(tmp_path: Path, secret: Path) -> None:
    root = tmp_path / "snapshots"
    (root / AGENT).mkdir(parents=True)
    (root / AGENT / "ok.jpg").write_bytes(JPEG)
    (root / AGENT / "link.jpg").symlink_to(secret.with_suffix(".jpg"))
    (root / "ag-out").symlink_to(secret.parent, target_is_directory=True)
    (root / AGENT / "dir.jpg").mkdir()
    assert snapshot_file(root, AGENT, "ok") == (root / AGENT / "ok.jpg").resolve()
    for agent, snap in ((AGENT, str(secret)), (AGENT, "../../outside/secret"),
                        (AGENT, "link"), ("ag-out", "secret"), ("..", "outside/secret"),
                        (AGENT, "dir"), (AGENT, "missing"), ("ag-none", "ok")):
        assert snapshot_file(root, agent, snap) is None, (agent, snap)


# --- where references enter: an event's field --------------------------------------


def _event(h: ApiHarness, snapshot: Any, event_id: str = "ev-1") -> RawMessage:
    item = {"id": event_id, "device": CAMERA, "ts": h.clock() - 1, "type": "camera.intrusion",
            "state": "start", "snapshot": snapshot}
    body = {"agent": AGENT, "seq": 1, "events": [item]}
    return RawMessage(f"gw/v1/{AGENT}/events", json.dumps(body).encode(), h.clock())


@pytest.mark.parametrize(
    "ref", ["/outside/secret", "../../outside/secret", ".hidden", "x" * 200, 42, {"p": "/x"}],
    ids=["absolute", "dotdot", "hidden", "too-long", "number", "object"],
)
def test_a_bad_reference_costs_the_reference_not_the_event(h: ApiHarness, ref: Any) -> None:
    sink = Sink()
    pipeline = IngestPipeline(h.registry, h.timeseries, h.ops, sink, h.ctx.snapshot_dir)
    pipeline.process([_event(h, ref)])
    # The alarm is stored and handed on, without its picture reference ...
    assert [(e.id, e.snapshot) for e in sink.events] == [("ev-1", None)]
    stored = h.timeseries.events_of_types(["camera.intrusion"], 0, h.clock() + 1)
    assert [(e.id, e.snapshot) for e in stored] == [("ev-1", None)]
    # ... and the reference is kept as a dead letter that says what was wrong.
    [dead] = h.ops.dead_letters()
    assert dead.reason.startswith("bad_snapshot_ref: event 'ev-1' stored without its snapshot")
    assert json.loads(dead.payload)["snapshot"] == ref


def test_a_good_reference_is_kept(h: ApiHarness) -> None:
    sink = Sink()
    IngestPipeline(h.registry, h.timeseries, h.ops, sink).process([_event(h, "cam.1-snap")])
    assert [e.snapshot for e in sink.events] == ["cam.1-snap"]
    assert h.ops.dead_letter_count() == 0


# --- where references are read: the API ---------------------------------------------


def test_an_ingested_absolute_reference_serves_nothing(h: ApiHarness, secret: Path) -> None:
    sink = Sink()
    IngestPipeline(h.registry, h.timeseries, h.ops, sink).process([_event(h, str(secret))])
    alert = h.fire(CAMERA)[0]
    resp = h.client.get(f"/api/v1/alerts/{alert.id}/snapshot", headers=auth(h.token("ops")))
    assert resp.status_code == 404 and SECRET not in resp.content


@pytest.mark.parametrize("ref", ["absolute", "../../outside/secret", "link"])
def test_stored_references_are_trusted_no_more_than_urls(
    h: ApiHarness, secret: Path, ref: str
) -> None:
    """Rows written before ingest checked references (or by another writer) still
    cannot reach a file outside the folder: by alert, or by the snapshot's own URL."""
    assert h.ctx.snapshot_dir is not None
    folder = h.ctx.snapshot_dir / AGENT
    folder.mkdir(parents=True)
    (folder / "link.jpg").symlink_to(secret.with_suffix(".jpg"))
    snap = str(secret) if ref == "absolute" else ref
    h.timeseries.write_events(
        [DeviceEvent(AGENT, "ev-old", CAMERA, h.clock(), "camera.intrusion", "start",
                     snapshot=snap)]
    )
    alert = h.fire(CAMERA)[0]
    ops = auth(h.token("ops"))
    assert h.client.get(f"/api/v1/alerts/{alert.id}/snapshot", headers=ops).status_code == 404
    if ref == "link":
        assert h.client.get(f"/api/v1/snapshots/{AGENT}/link", headers=ops).status_code == 404


def test_a_snapshot_in_the_folder_is_served(h: ApiHarness) -> None:
    """The same requests about a real snapshot succeed, so the 404s above mean refusal."""
    sink = Sink()
    pipeline = IngestPipeline(h.registry, h.timeseries, h.ops, sink, h.ctx.snapshot_dir)
    pipeline.process([RawMessage(f"gw/v1/{AGENT}/snapshots/cam.1-snap", JPEG, h.clock()),
                      _event(h, "cam.1-snap")])
    alert = h.fire(CAMERA)[0]
    ops = auth(h.token("ops"))
    for url in (f"/api/v1/alerts/{alert.id}/snapshot", f"/api/v1/snapshots/{AGENT}/cam.1-snap"):
        resp = h.client.get(url, headers=ops)
        assert resp.status_code == 200 and resp.content == JPEG, url


@pytest.mark.parametrize(
    "url", ["/ui/static/%2e%2e/pages.py", "/ui/static/..%2fpages.py", "/ui/static//etc/passwd"]
)
def test_static_files_stay_in_their_folder(h: ApiHarness, url: str) -> None:
    resp = h.client.get(url)
    assert resp.status_code == 404, url
    assert b"import" not in resp.content and b"root:" not in resp.content
