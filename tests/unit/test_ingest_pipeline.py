"""IngestPipeline on the real stores (DuckDB and SQLite in tmp_path) with a recording sink."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from gridwatch.records import DeviceEvent, Reading
from ingest.decode import RawMessage
from ingest.disk_guard import DiskGuard
from ingest.pipeline import IngestPipeline, RecordWriter, StoreError
from ingest.storage_errors import TelemetryRefused
from ingest.storage_health import StorageHealth
from store.opstate_events import EventLedger
from store.opstate_sqlite import SqliteOpStore
from store.timeseries_duckdb import DuckDBTimeSeries
from tests.support.tiny_street import lc_street

# The wall clock's second: the event ledger forgets decisions older than the decoder
# accepts by the wall clock (store.opstate_events), and these tests replay decided events.
NOW = float(int(time.time()))
AGENT = "ag-a1"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) + b"\xff\xd9"


class RecordingSink:
    """Records every call in order: ("events" | "readings" | "status", what it got)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def on_events(self, events: Sequence[DeviceEvent]) -> None:
        self.calls.append(("events", list(events)))

    def on_readings(self, readings: Sequence[Reading]) -> None:
        self.calls.append(("readings", list(readings)))

    def on_agent_status(self, agent: str, state: str, ts: float) -> None:
        self.calls.append(("status", (agent, state, ts)))

    def on_agent_garbage(self, agent: str, ts: float, detail: str, over: bool) -> None:
        self.calls.append(("garbage", (agent, over)))


@pytest.fixture
def timeseries(tmp_path: Path) -> Iterator[DuckDBTimeSeries]:
    ts = DuckDBTimeSeries(tmp_path / "ts.duckdb")
    yield ts
    ts.close()


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[SqliteOpStore]:
    store = SqliteOpStore(tmp_path / "ops.sqlite")
    yield store
    store.close()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def snapshot_dir(tmp_path: Path) -> Path:
    return tmp_path / "media" / "snapshots"


@pytest.fixture
def pipeline(
    timeseries: DuckDBTimeSeries, ops: SqliteOpStore, sink: RecordingSink, snapshot_dir: Path
) -> IngestPipeline:
    return IngestPipeline(lc_street(), timeseries, ops, sink, snapshot_dir)


def msg(topic: str, body: Any, received_at: float = NOW) -> RawMessage:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return RawMessage(f"gw/v1/{AGENT}/{topic}", payload, received_at)


def rd(value: Any, ts: float = NOW - 10, device: str = "a1-smoke-1") -> dict[str, Any]:
    return {"device": device, "metric": "temperature_c", "ts": ts, "value": value}


def readings(items: list[Any], seq: int = 1) -> RawMessage:
    return msg("readings", {"agent": AGENT, "seq": seq, "readings": items})


def ev(id: str, type: str = "fire.alarm", device: str = "a1-smoke-1") -> dict[str, Any]:
    return {"id": id, "device": device, "ts": NOW - 5, "type": type, "state": "start"}


def events(items: list[Any], seq: int = 1) -> RawMessage:
    return msg("events", {"agent": AGENT, "seq": seq, "events": items})


def kinds(sink: RecordingSink) -> list[str]:
    return [k for k, _ in sink.calls]


# --- fire goes first -------------------------------------------------------------------


def test_events_reach_the_sink_before_readings(
    pipeline: IngestPipeline, sink: RecordingSink
) -> None:
    # The readings arrive first in the batch, the alarm last: the alarm still goes first.
    batch = [
        readings([rd(1), rd(2, ts=NOW - 9)]),
        readings([rd(3, ts=NOW - 8)], seq=2),
        events([ev("alarm-1")]),
    ]
    pipeline.process(batch)
    assert kinds(sink) == ["events", "readings"]
    assert [e.id for e in sink.calls[0][1]] == ["alarm-1"]
    assert [r.value for r in sink.calls[1][1]] == [1.0, 2.0, 3.0]


def test_events_are_written_before_the_sink_hears_of_them(
    timeseries: DuckDBTimeSeries, ops: SqliteOpStore, tmp_path: Path
) -> None:
    seen: list[int] = []

    class CheckingSink(RecordingSink):
        def on_events(self, evs: Sequence[DeviceEvent]) -> None:
            # Durable first: a second write of the same events finds nothing new.
            seen.append(len(timeseries.write_events(list(evs))))
            super().on_events(evs)

    pipe = IngestPipeline(lc_street(), timeseries, ops, CheckingSink(), tmp_path)
    pipe.process([events([ev("a"), ev("b")])])
    assert seen == [0]


def test_status_goes_to_the_sink(pipeline: IngestPipeline, sink: RecordingSink) -> None:
    pipeline.process([msg("status", {"state": "offline", "ts": NOW - 1, "version": "1"})])
    assert sink.calls == [("status", (AGENT, "offline", NOW - 1))]


def test_health_readings_are_written(
    pipeline: IngestPipeline, sink: RecordingSink, timeseries: DuckDBTimeSeries
) -> None:
    pipeline.process(
        [msg("health", {"ts": NOW, "devices": [{"device": "a1-smoke-1", "battery": 55}]})]
    )
    assert sink.calls == [("readings", [Reading(AGENT, "a1-smoke-1", "battery_pct", NOW, 55.0)])]
    assert timeseries.reading_count() == 1


# --- replays are harmless --------------------------------------------------------------


def test_a_replay_gives_the_sink_nothing_new(
    pipeline: IngestPipeline, sink: RecordingSink, timeseries: DuckDBTimeSeries
) -> None:
    batch = [readings([rd(1), rd(2, ts=NOW - 9)]), events([ev("e1"), ev("e2", "fire.fault")])]
    pipeline.process(batch)
    first = sink.calls
    assert [(k, len(v)) for k, v in first] == [("events", 2), ("readings", 2)]
    sink.calls = []
    pipeline.process(batch)  # the broker redelivers the same messages
    assert all(v == [] for _, v in sink.calls), sink.calls
    assert timeseries.reading_count() == 2
    # A partial replay: one old reading and one new: only the new one goes on.
    sink.calls = []
    pipeline.process([readings([rd(2, ts=NOW - 9), rd(9, ts=NOW - 1)], seq=2)])
    assert sink.calls == [
        ("readings", [Reading(AGENT, "a1-smoke-1", "temperature_c", NOW - 1, 9.0)])
    ]
    assert timeseries.reading_count() == 3


# --- dead letters ----------------------------------------------------------------------


def test_a_bad_item_is_dead_lettered_and_the_rest_written(
    pipeline: IngestPipeline,
    ops: SqliteOpStore,
    sink: RecordingSink,
    timeseries: DuckDBTimeSeries,
) -> None:
    bad = rd("21.5", ts=NOW - 7)
    m = readings([rd(1), bad, rd(3, ts=NOW - 6)])
    pipeline.process([m])
    assert timeseries.reading_count() == 2
    assert [r.value for r in sink.calls[0][1]] == [1.0, 3.0]
    [dl] = ops.dead_letters()
    assert dl.reason.startswith("bad_item: ")
    assert json.loads(dl.payload) == bad  # the item itself, not the whole message
    assert (dl.topic, dl.agent, dl.received_at) == (m.topic, AGENT, NOW)


def test_a_whole_message_reject_keeps_its_payload(
    pipeline: IngestPipeline, ops: SqliteOpStore, sink: RecordingSink
) -> None:
    bad_json = msg("readings", b'{"agent": "ag-a1", "seq": 1, "readings": [', NOW + 1)
    unknown = RawMessage("gw/v1/nobody/readings", b'{"x": 1}', NOW + 2)
    good = readings([rd(1)])
    pipeline.process([bad_json, good, unknown])
    assert kinds(sink) == ["readings"]
    letters = sorted(ops.dead_letters(), key=lambda d: d.id)
    assert [(d.topic, d.agent, d.payload, d.received_at) for d in letters] == [
        (bad_json.topic, AGENT, bad_json.payload, NOW + 1),
        (unknown.topic, None, unknown.payload, NOW + 2),
    ]
    assert letters[0].reason.startswith("bad_json: ")
    assert letters[1].reason.startswith("unknown_agent: ")
    assert ops.dead_letter_count() == 2


def test_dead_letter_directly(pipeline: IngestPipeline, ops: SqliteOpStore) -> None:
    m = readings([rd(1)])
    pipeline.dead_letter(m, "internal", "processing failed 3 times")
    pipeline.dead_letter(m, "bad_item", "x", agent=AGENT, payload=b"item")
    first, second = sorted(ops.dead_letters(), key=lambda d: d.id)
    assert (first.reason, first.payload, first.agent) == (
        "internal: processing failed 3 times",
        m.payload,
        None,
    )
    assert (second.reason, second.payload, second.agent) == ("bad_item: x", b"item", AGENT)


# --- snapshots -------------------------------------------------------------------------


def test_a_snapshot_is_saved_under_its_agent(
    pipeline: IngestPipeline, snapshot_dir: Path, ops: SqliteOpStore
) -> None:
    pipeline.process([msg("snapshots/snap-42", JPEG)])
    saved = snapshot_dir / AGENT / "snap-42.jpg"
    assert saved.read_bytes() == JPEG
    assert sorted(p.name for p in (snapshot_dir / AGENT).iterdir()) == ["snap-42.jpg"]  # no tmp
    assert ops.dead_letter_count() == 0
    # A resend overwrites the same file.
    pipeline.process([msg("snapshots/snap-42", JPEG + b"\x00")])
    assert saved.read_bytes() == JPEG + b"\x00"


def test_a_non_jpeg_snapshot_is_dead_lettered_not_saved(
    pipeline: IngestPipeline, snapshot_dir: Path, ops: SqliteOpStore
) -> None:
    pipeline.process([msg("snapshots/s1", b"GIF89a....")])
    assert not snapshot_dir.exists()
    [dl] = ops.dead_letters()
    assert dl.reason.startswith("bad_envelope: ")
    assert dl.payload == b"GIF89a...."


@pytest.mark.parametrize("snap_id", ["..", "...", "%2e%2e"])
def test_a_traversal_snapshot_id_writes_nothing(
    pipeline: IngestPipeline, tmp_path: Path, snap_id: str, ops: SqliteOpStore
) -> None:
    before = sorted(p for p in tmp_path.rglob("*") if p.suffix == ".jpg")
    pipeline.process([msg(f"snapshots/{snap_id}", JPEG)])
    after = sorted(p for p in tmp_path.rglob("*") if p.suffix == ".jpg")
    assert after == before == []
    assert ops.dead_letter_count() == 1


@pytest.mark.parametrize("snap_id", ["../evil", "../../evil", "a/../../evil", "", "x" * 129])
def test_save_snapshot_refuses_unsafe_ids(
    pipeline: IngestPipeline, tmp_path: Path, snapshot_dir: Path, snap_id: str
) -> None:
    # The decoder already refuses these; the pipeline must not rely on that alone.
    pipeline._save_snapshot(AGENT, snap_id, JPEG)
    assert [p for p in tmp_path.rglob("*") if p.is_file() and "evil" in p.name] == []
    assert not (snapshot_dir / AGENT).exists() or list((snapshot_dir / AGENT).iterdir()) == []


@pytest.mark.parametrize("snap_id", ["快照1", "s" * 129])
def test_a_snapshot_is_either_saved_or_dead_lettered(
    pipeline: IngestPipeline, snapshot_dir: Path, ops: SqliteOpStore, snap_id: str
) -> None:
    pipeline.process([msg(f"snapshots/{snap_id}", JPEG)])
    saved = list(snapshot_dir.rglob("*.jpg"))
    assert len(saved) + ops.dead_letter_count() == 1


def test_no_snapshot_dir_saves_nothing(
    timeseries: DuckDBTimeSeries, ops: SqliteOpStore, sink: RecordingSink, tmp_path: Path
) -> None:
    pipe = IngestPipeline(lc_street(), timeseries, ops, sink, snapshot_dir=None)
    pipe.process([msg("snapshots/s1", JPEG)])
    assert [p for p in tmp_path.rglob("*.jpg")] == []
    assert ops.dead_letter_count() == 0


# --- an event and its alert decision are one unit of work (issue 17) -----------------


class FailingOnceSink(RecordingSink):
    """The alert write fails the first time (a locked or full op store)."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = True

    def on_events(self, evs: Sequence[DeviceEvent]) -> None:
        if self.fail:
            self.fail = False
            raise OSError("database or disk is full")
        super().on_events(evs)


def ledger_pipeline(
    timeseries: RecordWriter, ops: SqliteOpStore, sink: RecordingSink
) -> IngestPipeline:
    return IngestPipeline(lc_street(), timeseries, ops, sink, None, ledger=EventLedger(ops))


def test_an_alarm_s_ledger_row_does_not_wait_for_the_disk_but_is_synced_before_its_write(
    timeseries: DuckDBTimeSeries, ops: SqliteOpStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ledger's first step is redoable (store.opstate_events): its own sync held a
    # fire alarm back from the guard's screen. A durable commit (the alert's, or the
    # ledger's `finish`) must still come before the time-series write of the event.
    order: list[str] = []

    def spy(target: object, name: str, label: str) -> None:
        real = getattr(target, name)

        def called(*args: Any) -> Any:
            order.append(label)
            return real(*args)

        monkeypatch.setattr(target, name, called)

    for name in ("redoable_tx", "tx", "alert_tx"):
        spy(ops, name, name)
    spy(timeseries, "write_events", "time-series")
    ledger_pipeline(timeseries, ops, RecordingSink()).process([events([ev("alarm-1")])])
    assert order[0] == "redoable_tx"  # the ledger's row
    assert "tx" in order[1:order.index("time-series")]  # its `finish`, synced, before
    assert "redoable_tx" not in order[1:]


def test_an_event_whose_decision_failed_is_decided_on_the_retry(
    timeseries: DuckDBTimeSeries, ops: SqliteOpStore
) -> None:
    sink = FailingOnceSink()
    pipe = ledger_pipeline(timeseries, ops, sink)
    batch = [events([ev("alarm-1")])]
    with pytest.raises(StoreError, match="OSError: database or disk is full"):
        pipe.process(batch)
    pipe.process(batch)  # the retry: the event is stored already, but not yet decided
    assert [[e.id for e in v] for k, v in sink.calls if k == "events"] == [["alarm-1"]]
    pipe.process(batch)  # a replay once decided: nothing to decide
    assert [[e.id for e in v] for k, v in sink.calls if k == "events"] == [["alarm-1"], []]


def test_an_undecided_event_survives_a_restart(
    timeseries: DuckDBTimeSeries, ops: SqliteOpStore, tmp_path: Path
) -> None:
    with pytest.raises(StoreError, match="OSError: database or disk is full"):
        ledger_pipeline(timeseries, ops, FailingOnceSink()).process([events([ev("alarm-1")])])
    ops.close()
    reopened = SqliteOpStore(tmp_path / "ops.sqlite")
    try:
        sink = RecordingSink()
        ledger_pipeline(timeseries, reopened, sink).process([events([ev("alarm-1")])])
        assert [[e.id for e in v] for _, v in sink.calls] == [["alarm-1"]]
        assert EventLedger(reopened).undecided() == 0
    finally:
        reopened.close()


def test_events_stored_before_the_ledger_are_not_decided_again(
    ops: SqliteOpStore, tmp_path: Path
) -> None:
    # Stored by a version without the ledger: in the store when this one opens it.
    earlier = DuckDBTimeSeries(tmp_path / "legacy.duckdb")
    IngestPipeline(lc_street(), earlier, ops, RecordingSink()).process([events([ev("old")])])
    earlier.close()
    timeseries = DuckDBTimeSeries(tmp_path / "legacy.duckdb")
    try:
        sink = RecordingSink()
        ledger_pipeline(timeseries, ops, sink).process([events([ev("old"), ev("new")])])
        assert [[e.id for e in v] for _, v in sink.calls] == [["new"]]
    finally:
        timeseries.close()


class WatchedEvents:
    """The real store, with its event writes noted in the sink's call list (and the
    first one failing, when asked)."""

    def __init__(self, store: DuckDBTimeSeries, sink: RecordingSink, fail_once: bool) -> None:
        self.store, self.sink, self.fail = store, sink, fail_once

    def write_table(self, readings: Any) -> Any:
        return self.store.write_table(readings)

    def write_events(self, evs: Sequence[DeviceEvent]) -> list[DeviceEvent]:
        self.sink.calls.append(("stored", [e.id for e in evs]))
        if self.fail:
            self.fail = False
            raise OSError("database or disk is full")
        return self.store.write_events(evs)

    def held_at_open(self, evs: Sequence[DeviceEvent]) -> list[DeviceEvent]:
        return self.store.held_at_open(evs)


def test_an_alarm_is_decided_before_its_time_series_write(
    timeseries: DuckDBTimeSeries, ops: SqliteOpStore
) -> None:
    # That write commits into the file a readings backlog appends to; the decision
    # (and so the guard's board) must not wait for it.
    sink = RecordingSink()
    pipe = ledger_pipeline(WatchedEvents(timeseries, sink, False), ops, sink)
    pipe.process([events([ev("alarm-1")])])
    assert [k for k, _ in sink.calls] == ["events", "stored"]
    assert timeseries.write_events(sink.calls[0][1]) == []  # stored: not new any more


def test_a_time_series_failure_after_the_decision_is_written_on_the_retry_not_decided_again(
    timeseries: DuckDBTimeSeries, ops: SqliteOpStore
) -> None:
    sink = RecordingSink()
    pipe = ledger_pipeline(WatchedEvents(timeseries, sink, True), ops, sink)
    batch = [events([ev("alarm-1")])]
    with pytest.raises(StoreError, match="disk is full"):
        pipe.process(batch)
    pipe.process(batch)
    assert [(k, [getattr(e, "id", e) for e in v]) for k, v in sink.calls] == [
        ("events", ["alarm-1"]), ("stored", ["alarm-1"]), ("events", []),
        ("stored", ["alarm-1"])]
    assert timeseries.write_events(sink.calls[0][1]) == []  # stored: not new any more
    assert EventLedger(ops).undecided() == 0


def test_a_nearly_full_disk_refuses_readings_after_the_alarms_are_written(
    timeseries: DuckDBTimeSeries, ops: SqliteOpStore, tmp_path: Path
) -> None:
    sink = RecordingSink()
    pipe = ledger_pipeline(timeseries, ops, sink)
    pipe.guard = DiskGuard(tmp_path, reserve_bytes=1 << 62)  # "full"
    pipe.storage = health = StorageHealth()
    batch = [readings([rd(1)]), events([ev("alarm-1")])]
    with pytest.raises(StoreError) as refused:
        pipe.process(batch)
    assert isinstance(refused.value.__cause__, TelemetryRefused)
    assert refused.value.reason == "full"
    assert [[e.id for e in v] for k, v in sink.calls if k == "events"] == [["alarm-1"]]
    assert timeseries.reading_count() == 0
    problem = health.problem()
    assert problem is not None and "storage full" in str(problem["reason"])
    pipe.guard = DiskGuard(tmp_path, reserve_bytes=0)  # space freed: the retry
    pipe.process(batch)
    assert timeseries.reading_count() == 1 and health.problem() is None
    assert [k for k, _ in sink.calls] == ["events", "events", "readings"]  # decided once
    assert sink.calls[1][1] == []


def test_only_events_as_old_as_those_stored_before_opening_are_looked_up(
    tmp_path: Path,
) -> None:
    first = DuckDBTimeSeries(tmp_path / "held.duckdb")
    old = DeviceEvent(AGENT, "old", "a1-smoke-1", NOW, "fire.alarm", "start")
    first.write_events([old])
    first.close()
    store = DuckDBTimeSeries(tmp_path / "held.duckdb")
    try:
        late = DeviceEvent(AGENT, "late", "a1-smoke-1", NOW - 1, "fire.alarm", "start")
        live = DeviceEvent(AGENT, "live", "a1-smoke-1", NOW + 1, "fire.alarm", "start")
        assert store.held_at_open([old, late, live]) == [old]
    finally:
        store.close()
