"""Decoder: every reject reason, and that a reject never costs the rest of the message."""

from __future__ import annotations

import json
from typing import Any

import pytest

from config.registry import Registry
from gridwatch.mqtt import MAX_ITEMS, MAX_PAYLOAD_BYTES
from gridwatch.records import DeviceEvent, Reading
from ingest import columns
from ingest.decode import MAX_AGE_S, MAX_FUTURE_S, REASONS, Decoded, Decoder, RawMessage
from tests.support.tiny_street import lc_street

NOW = 1_764_090_000.0
AGENT = "ag-a1"  # devices a1-smoke-1, a1-elev-1, a1-cam-1
OTHER_AGENTS_DEVICE = "a2-smoke-1"  # belongs to ag-a2
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return lc_street()


@pytest.fixture
def decoder(registry: Registry) -> Decoder:
    return Decoder(registry)


def raw(topic: str, payload: bytes | dict[str, Any]) -> RawMessage:
    body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":"))
    return RawMessage(topic, body if isinstance(body, bytes) else body.encode(), NOW)


def rd(
    device: str = "a1-smoke-1",
    metric: str = "temperature_c",
    ts: float = NOW - 10,
    value: Any = 21.5,
) -> dict[str, Any]:
    return {"device": device, "metric": metric, "ts": ts, "value": value}


def ev(id: str, device: str = "a1-cam-1", ts: float = NOW - 5, **extra: Any) -> dict[str, Any]:
    return {"id": id, "device": device, "ts": ts, "type": "camera.intrusion", "state": "start"} | (
        extra
    )


def readings_msg(items: list[Any], agent: str = AGENT, seq: int = 1) -> RawMessage:
    return raw(f"gw/v1/{agent}/readings", {"agent": agent, "seq": seq, "readings": items})


def events_msg(items: list[Any], agent: str = AGENT, seq: int = 1) -> RawMessage:
    return raw(f"gw/v1/{agent}/events", {"agent": agent, "seq": seq, "events": items})


def reasons(d: Decoded) -> list[str]:
    return [r.reason for r in d.rejects]


def assert_whole_reject(d: Decoded, msg: RawMessage, reason: str) -> None:
    """Rejected whole: one reject with that reason, carrying the whole payload, no records."""
    assert reasons(d) == [reason]
    assert d.rejects[0].payload == msg.payload
    assert d.rejects[0].detail
    assert d.records() == [] and d.events == []
    assert d.status is None and d.snapshot is None


def reading(
    device: str, value: float, ts: float = NOW - 10, metric: str = "temperature_c"
) -> Reading:
    return Reading(AGENT, device, metric, ts, value)


# --- whole-message rejects -------------------------------------------------------------


def test_every_reason_is_a_fixed_label() -> None:
    assert len(set(REASONS)) == len(REASONS)
    assert all(r.isidentifier() and r.islower() for r in REASONS)


def test_a_good_readings_message_decodes(decoder: Decoder) -> None:
    d = decoder.decode(readings_msg([rd(value=21.5), rd("a1-elev-1", "floor", value=3)]))
    assert d.rejects == []
    assert d.agent == AGENT and d.kind == "readings"
    assert d.records() == [reading("a1-smoke-1", 21.5), reading("a1-elev-1", 3.0, metric="floor")]
    assert all(type(r.value) is float and type(r.ts) is float for r in d.records())


def test_oversized_message_is_rejected_whole_with_its_payload(decoder: Decoder) -> None:
    head = b'{"agent": "ag-a1", "seq": 1, "readings": [], "pad": "'
    pad = b"x" * (MAX_PAYLOAD_BYTES + 1 - len(head) - 2)
    msg = raw(f"gw/v1/{AGENT}/readings", head + pad + b'"}')
    assert len(msg.payload) == MAX_PAYLOAD_BYTES + 1
    assert_whole_reject(decoder.decode(msg), msg, "oversized")


def test_a_message_of_exactly_one_mib_is_accepted(decoder: Decoder) -> None:
    head = b'{"agent": "ag-a1", "seq": 1, "readings": [' + json.dumps(rd()).encode()
    head += b'], "pad": "'
    msg = raw(f"gw/v1/{AGENT}/readings", head + b"x" * (MAX_PAYLOAD_BYTES - len(head) - 2) + b'"}')
    assert len(msg.payload) == MAX_PAYLOAD_BYTES
    d = decoder.decode(msg)
    assert d.rejects == []
    assert d.records() == [reading("a1-smoke-1", 21.5)]


@pytest.mark.parametrize(
    "topic",
    [
        "gw/v2/ag-a1/readings",  # wrong version
        "xx/v1/ag-a1/readings",  # wrong root
        "gw/v1/ag-a1",  # too short
        "gw/v1/ag-a1/bogus",  # unknown kind
        "gw/v1/ag-a1/readings/extra",  # extra level
        "gw/v1/ag-a1/status/",  # empty extra level
        "gw/v1/ag-a1/snapshots",  # a snapshot needs an id
        "gw/v1/ag-a1/snapshots/a/b",  # extra level under snapshots
    ],
)
def test_bad_topic(decoder: Decoder, topic: str) -> None:
    msg = raw(topic, {"agent": AGENT, "seq": 1, "readings": [rd()]})
    assert_whole_reject(decoder.decode(msg), msg, "bad_topic")


def test_unknown_agent(decoder: Decoder) -> None:
    msg = readings_msg([rd()], agent="nobody")
    d = decoder.decode(msg)
    assert_whole_reject(d, msg, "unknown_agent")
    assert d.agent is None  # never credited to an agent the registry does not know


@pytest.mark.parametrize(
    "payload",
    [
        b'{"agent": "ag-a1", "seq": 1, "readings": [',  # truncated
        b"",  # empty
        b'{"agent": "ag-a1", "seq": 1, "readings": []} trailing',
        b'{"agent": "\xff\xfe", "seq": 1, "readings": []}',  # invalid UTF-8
        b"\xc3\x28",  # invalid UTF-8 only
    ],
)
def test_bad_json(decoder: Decoder, payload: bytes) -> None:
    msg = raw(f"gw/v1/{AGENT}/readings", payload)
    d = decoder.decode(msg)
    assert_whole_reject(d, msg, "bad_json")
    assert d.agent == AGENT


@pytest.mark.parametrize(
    "body",
    [
        {"agent": AGENT, "readings": [rd()]},  # missing seq
        {"agent": AGENT, "seq": -1, "readings": [rd()]},  # negative seq
        {"agent": AGENT, "seq": 1, "readings": {"0": rd()}},  # readings not a list
        {"agent": AGENT, "seq": 1},  # readings missing
        {"seq": 1, "readings": [rd()]},  # agent missing
        {"agent": "", "seq": 1, "readings": [rd()]},  # empty agent
        [rd()],  # not an object
    ],
)
def test_bad_envelope_readings(decoder: Decoder, body: Any) -> None:
    msg = raw(f"gw/v1/{AGENT}/readings", json.dumps(body).encode())
    assert_whole_reject(decoder.decode(msg), msg, "bad_envelope")


def test_bad_envelope_events(decoder: Decoder) -> None:
    msg = raw(f"gw/v1/{AGENT}/events", {"agent": AGENT, "seq": 1, "readings": [ev("e1")]})
    assert_whole_reject(decoder.decode(msg), msg, "bad_envelope")


def test_agent_mismatch(decoder: Decoder) -> None:
    # Topic of ag-a1, payload claims ag-a2 and carries ag-a2's own device: rejected whole.
    body = {"agent": "ag-a2", "seq": 1, "readings": [rd(OTHER_AGENTS_DEVICE)]}
    msg = raw(f"gw/v1/{AGENT}/readings", body)
    assert_whole_reject(decoder.decode(msg), msg, "agent_mismatch")
    msg = raw(f"gw/v1/{AGENT}/events", {"agent": "ag-a2", "seq": 1, "events": [ev("e1")]})
    assert_whole_reject(decoder.decode(msg), msg, "agent_mismatch")


def test_too_many_items(decoder: Decoder) -> None:
    items = [rd(ts=NOW - 1000 + i * 0.01) for i in range(MAX_ITEMS + 1)]
    msg = readings_msg(items)
    assert_whole_reject(decoder.decode(msg), msg, "too_many_items")
    msg = events_msg([ev(f"e{i}") for i in range(MAX_ITEMS + 1)])
    assert_whole_reject(decoder.decode(msg), msg, "too_many_items")


def test_exactly_the_item_limit_is_accepted(decoder: Decoder) -> None:
    items = [rd(ts=NOW - 1000 + i * 0.01, value=i) for i in range(MAX_ITEMS)]
    d = decoder.decode(readings_msg(items))
    assert d.rejects == []
    assert [r.value for r in d.records()] == [float(i) for i in range(MAX_ITEMS)]


# --- item rejects: the rest of the batch is kept, in order -------------------------------


def item_text(
    device: str | None = '"a1-smoke-1"',
    metric: str | None = '"temperature_c"',
    ts: str | None = str(NOW - 10),
    value: str | None = "1",
) -> str:
    """One reading as raw JSON text, so that literals json.dumps would not write (NaN,
    Infinity, true for a number) can be sent; a None field is left out."""
    fields = {"device": device, "metric": metric, "ts": ts, "value": value}
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items() if v is not None) + "}"


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(item_text(value='"21.5"'), id="value-as-string"),
        pytest.param(item_text(value="true"), id="value-true"),
        pytest.param(item_text(value="false"), id="value-false"),
        pytest.param(item_text(value="Infinity"), id="value-Infinity"),
        pytest.param(item_text(value="-Infinity"), id="value-minus-Infinity"),
        pytest.param(item_text(value="NaN"), id="value-NaN"),
        pytest.param(item_text(value="null"), id="value-null"),
        pytest.param(item_text(value=None), id="missing-value"),
        pytest.param(item_text(ts="Infinity"), id="ts-Infinity"),
        pytest.param(item_text(ts="true"), id="ts-true"),
        pytest.param(item_text(ts=f'"{NOW - 10}"'), id="ts-as-string"),
        pytest.param(item_text(metric=None), id="missing-metric"),
        pytest.param(item_text(metric='"Temperature-C"'), id="bad-metric-name"),
        pytest.param(item_text(metric='"9lives"'), id="metric-starts-with-digit"),
        pytest.param(item_text(metric='""'), id="empty-metric"),
        pytest.param(item_text(device=None), id="missing-device"),
        pytest.param('"just a string"', id="not-an-object"),
    ],
)
def test_bad_item_costs_only_itself(decoder: Decoder, bad: str) -> None:
    good = [json.dumps(rd(value=v)) for v in (1, 2, 3)]
    items = f"[{good[0]}, {bad}, {good[1]}, {good[2]}]"
    payload = f'{{"agent": "{AGENT}", "seq": 7, "readings": {items}}}'.encode()
    msg = raw(f"gw/v1/{AGENT}/readings", payload)
    d = decoder.decode(msg)
    assert reasons(d) == ["bad_item"]
    assert json.loads(d.rejects[0].payload) == json.loads(bad)  # the item, not the message
    assert d.records() == [reading("a1-smoke-1", v) for v in (1.0, 2.0, 3.0)]


def test_bad_item_detail_names_the_field(decoder: Decoder) -> None:
    d = decoder.decode(readings_msg([rd(value="21.5"), rd()]))
    assert reasons(d) == ["bad_item"]
    assert "value" in d.rejects[0].detail


@pytest.mark.parametrize(
    ("device", "reason"),
    [("no-such-device", "unknown_device"), (OTHER_AGENTS_DEVICE, "foreign_device")],
)
def test_device_not_of_this_agent(decoder: Decoder, device: str, reason: str) -> None:
    bad = rd(device, value=99)
    d = decoder.decode(readings_msg([rd(value=1), bad, rd(value=2)]))
    assert reasons(d) == [reason]
    assert json.loads(d.rejects[0].payload) == bad
    assert device in d.rejects[0].detail
    assert d.records() == [reading("a1-smoke-1", 1.0), reading("a1-smoke-1", 2.0)]


def test_foreign_device_is_refused_even_in_its_owners_envelope(decoder: Decoder) -> None:
    # ag-a2 may not report ag-a1's device, whatever the payload says about grids.
    body = {"agent": "ag-a2", "seq": 1, "readings": [rd("a1-smoke-1"), rd(OTHER_AGENTS_DEVICE)]}
    d = decoder.decode(raw("gw/v1/ag-a2/readings", body))
    assert reasons(d) == ["foreign_device"]
    assert [(r.agent, r.device) for r in d.records()] == [("ag-a2", OTHER_AGENTS_DEVICE)]


@pytest.mark.parametrize(
    "ts",
    [NOW - 31 * 86400, NOW - MAX_AGE_S - 1, NOW + 600, NOW + MAX_FUTURE_S + 1],
    ids=["31-days-old", "just-too-old", "10-min-ahead", "just-too-far-ahead"],
)
def test_bad_timestamp(decoder: Decoder, ts: float) -> None:
    bad = rd(ts=ts, value=99)
    d = decoder.decode(readings_msg([rd(value=1), bad, rd(value=2)]))
    assert reasons(d) == ["bad_timestamp"]
    assert json.loads(d.rejects[0].payload) == bad
    assert d.records() == [reading("a1-smoke-1", 1.0), reading("a1-smoke-1", 2.0)]
    d = decoder.decode(events_msg([ev("e1"), ev("e2", ts=ts), ev("e3")]))
    assert reasons(d) == ["bad_timestamp"]
    assert [e.id for e in d.events] == ["e1", "e3"]


@pytest.mark.parametrize("ts", [NOW - MAX_AGE_S, NOW + MAX_FUTURE_S, NOW])
def test_timestamps_at_the_edges_are_accepted(decoder: Decoder, ts: float) -> None:
    d = decoder.decode(readings_msg([rd(ts=ts)]))
    assert d.rejects == []
    assert [r.ts for r in d.records()] == [ts]


def test_a_mixed_batch_keeps_every_good_item_in_order(decoder: Decoder) -> None:
    items: list[Any] = [
        rd(value=0),
        rd(value="1"),  # bad_item
        rd("a1-elev-1", "floor", value=7),
        rd("ghost", value=2),  # unknown_device
        rd(value=3, ts=NOW - 40 * 86400),  # bad_timestamp
        rd("a1-cam-1", "people_count", value=4),
        rd(OTHER_AGENTS_DEVICE, value=5),  # foreign_device
        rd(metric="Bad Name", value=6),  # bad_item
        rd(value=8, ts=NOW - 1),
    ]
    d = decoder.decode(readings_msg(items))
    assert reasons(d) == [
        "bad_item",
        "unknown_device",
        "bad_timestamp",
        "foreign_device",
        "bad_item",
    ]
    assert [json.loads(r.payload) for r in d.rejects] == [items[i] for i in (1, 3, 4, 6, 7)]
    assert d.records() == [
        reading("a1-smoke-1", 0.0),
        reading("a1-elev-1", 7.0, metric="floor"),
        reading("a1-cam-1", 4.0, metric="people_count"),
        reading("a1-smoke-1", 8.0, ts=NOW - 1),
    ]


def test_device_problems_without_a_schema_error_keep_the_rest(decoder: Decoder) -> None:
    # Every item is schema-valid (the one-call validation path), some are not ours.
    items = [rd(value=1), rd("ghost", value=2), rd(OTHER_AGENTS_DEVICE, value=3), rd(value=4)]
    d = decoder.decode(readings_msg(items))
    assert reasons(d) == ["unknown_device", "foreign_device"]
    assert [r.value for r in d.records()] == [1.0, 4.0]


# --- events ----------------------------------------------------------------------------


def test_events_parse_with_zone_score_and_attrs(decoder: Decoder) -> None:
    e1 = ev(
        "e1", zone="gate-2", score=0.87, attrs={"track": 12, "class": "person"}, snapshot="snap-1"
    )
    e2 = {
        "id": "e2",
        "device": "a1-elev-1",
        "ts": int(NOW) - 3,
        "type": "elevator.trapped",
        "state": "instant",
        "future_field": "ignored",
    }
    d = decoder.decode(events_msg([e1, e2]))
    assert d.rejects == [] and d.records() == []
    assert d.events == [
        DeviceEvent(
            AGENT,
            "e1",
            "a1-cam-1",
            NOW - 5,
            "camera.intrusion",
            "start",
            "gate-2",
            0.87,
            {"track": 12, "class": "person"},
            "snap-1",
        ),
        DeviceEvent(
            AGENT,
            "e2",
            "a1-elev-1",
            float(int(NOW) - 3),
            "elevator.trapped",
            "instant",
            None,
            None,
            {},
            None,
        ),
    ]
    assert type(d.events[1].ts) is float


@pytest.mark.parametrize(
    "bad",
    [
        {"score": 1.5},
        {"score": -0.01},
        {"state": "begin"},
        {"type": "Camera.Intrusion"},
        {"type": "intrusion"},
        {"id": ""},
        {"attrs": [1, 2]},
        {"zone": "z" * 65},
    ],
    ids=lambda b: "-".join(f"{k}={v!s:.12}" for k, v in b.items()),
)
def test_bad_event_item_costs_only_itself(decoder: Decoder, bad: dict[str, Any]) -> None:
    bad_event = ev("e2") | bad
    d = decoder.decode(events_msg([ev("e1"), bad_event, ev("e3", score=1.0), ev("e4", score=0)]))
    assert reasons(d) == ["bad_item"]
    assert json.loads(d.rejects[0].payload) == bad_event
    assert [e.id for e in d.events] == ["e1", "e3", "e4"]
    assert [e.score for e in d.events] == [None, 1.0, 0.0]


@pytest.mark.parametrize("score", [True, "0.5"])
def test_event_score_of_the_wrong_type_is_bad_item(decoder: Decoder, score: Any) -> None:
    d = decoder.decode(events_msg([ev("e1"), ev("e2", score=score), ev("e3")]))
    assert reasons(d) == ["bad_item"]
    assert [e.id for e in d.events] == ["e1", "e3"]


def test_event_device_problems(decoder: Decoder) -> None:
    d = decoder.decode(
        events_msg([ev("e1", device="ghost"), ev("e2"), ev("e3", device=OTHER_AGENTS_DEVICE)])
    )
    assert reasons(d) == ["unknown_device", "foreign_device"]
    assert [e.id for e in d.events] == ["e2"]


# --- status and health -----------------------------------------------------------------


def test_status(decoder: Decoder) -> None:
    msg = raw(f"gw/v1/{AGENT}/status", {"state": "offline", "ts": NOW, "version": "1.2.0"})
    d = decoder.decode(msg)
    assert d.rejects == [] and d.kind == "status" and d.agent == AGENT
    assert d.status is not None
    assert (d.status.state, d.status.ts, d.status.version) == ("offline", NOW, "1.2.0")


@pytest.mark.parametrize(
    "body", [{"state": "asleep", "ts": NOW}, {"state": "online"}, {"state": "online", "ts": "x"}]
)
def test_bad_status_is_bad_envelope(decoder: Decoder, body: dict[str, Any]) -> None:
    msg = raw(f"gw/v1/{AGENT}/status", body)
    assert_whole_reject(decoder.decode(msg), msg, "bad_envelope")


def test_health_battery_and_rssi_become_readings(decoder: Decoder) -> None:
    body = {
        "ts": NOW - 2,
        "devices": [
            {"device": "a1-smoke-1", "battery": 87, "rssi": -61, "fault": None},
            {"device": "a1-elev-1", "rssi": -70},
            {"device": "a1-cam-1", "fault": "lens dirty"},
        ],
        "buffer": {"depth": 3, "dropped": 0, "oldest_ts": NOW - 60},
    }
    d = decoder.decode(raw(f"gw/v1/{AGENT}/health", body))
    assert d.rejects == [] and d.kind == "health"
    assert d.records() == [
        Reading(AGENT, "a1-smoke-1", "battery_pct", NOW - 2, 87.0),
        Reading(AGENT, "a1-smoke-1", "rssi_dbm", NOW - 2, -61.0),
        Reading(AGENT, "a1-elev-1", "rssi_dbm", NOW - 2, -70.0),
    ]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"device": "ghost", "battery": 50}, "unknown_device"),
        ({"device": OTHER_AGENTS_DEVICE, "battery": 50}, "foreign_device"),
        ({"device": "a1-elev-1", "battery": 150}, "bad_item"),
        ({"device": "a1-elev-1", "rssi": 5}, "bad_item"),
        ({"battery": 50}, "bad_item"),
    ],
)
def test_a_bad_health_item_is_rejected_alone(
    decoder: Decoder, bad: dict[str, Any], reason: str
) -> None:
    body = {
        "ts": NOW,
        "devices": [
            {"device": "a1-smoke-1", "battery": 80},
            bad,
            {"device": "a1-cam-1", "rssi": -50},
        ],
    }
    d = decoder.decode(raw(f"gw/v1/{AGENT}/health", body))
    assert reasons(d) == [reason]
    assert json.loads(d.rejects[0].payload) == bad
    assert d.records() == [
        Reading(AGENT, "a1-smoke-1", "battery_pct", NOW, 80.0),
        Reading(AGENT, "a1-cam-1", "rssi_dbm", NOW, -50.0),
    ]


@pytest.mark.parametrize("battery", [True, "87"])
def test_health_figure_of_the_wrong_type_is_bad_item(decoder: Decoder, battery: Any) -> None:
    body = {
        "ts": NOW,
        "devices": [
            {"device": "a1-smoke-1", "battery": battery},
            {"device": "a1-cam-1", "battery": 60},
        ],
    }
    d = decoder.decode(raw(f"gw/v1/{AGENT}/health", body))
    assert reasons(d) == ["bad_item"]
    assert d.records() == [Reading(AGENT, "a1-cam-1", "battery_pct", NOW, 60.0)]


@pytest.mark.parametrize("body", [{"devices": []}, {"ts": NOW, "devices": {"a": 1}}])
def test_bad_health_envelope(decoder: Decoder, body: dict[str, Any]) -> None:
    msg = raw(f"gw/v1/{AGENT}/health", body)
    assert_whole_reject(decoder.decode(msg), msg, "bad_envelope")


@pytest.mark.parametrize("ts", ["Infinity", str(NOW - 31 * 86400), str(NOW + 600)])
def test_health_with_an_impossible_ts_makes_no_readings(decoder: Decoder, ts: str) -> None:
    payload = f'{{"ts": {ts}, "devices": [{{"device": "a1-smoke-1", "battery": 80}}]}}'
    d = decoder.decode(raw(f"gw/v1/{AGENT}/health", payload.encode()))
    assert d.records() == []
    assert reasons(d) == ["bad_timestamp"]


# --- snapshots -------------------------------------------------------------------------


def test_jpeg_snapshot_is_accepted(decoder: Decoder) -> None:
    d = decoder.decode(raw(f"gw/v1/{AGENT}/snapshots/snap-01_a.b", JPEG))
    assert d.rejects == [] and d.kind == "snapshots" and d.agent == AGENT
    assert d.snapshot == ("snap-01_a.b", JPEG)


@pytest.mark.parametrize(
    "payload",
    [b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, b"", b"\xff", b'{"not": "jpeg"}'],
    ids=["png", "empty", "half-magic", "json"],
)
def test_non_jpeg_snapshot_is_rejected(decoder: Decoder, payload: bytes) -> None:
    msg = raw(f"gw/v1/{AGENT}/snapshots/snap-1", payload)
    assert_whole_reject(decoder.decode(msg), msg, "bad_envelope")


@pytest.mark.parametrize("snap_id", ["..", "", "a b", "a%2Fb", "x;rm"])
def test_snapshot_with_a_bad_id_is_rejected(decoder: Decoder, snap_id: str) -> None:
    msg = raw(f"gw/v1/{AGENT}/snapshots/{snap_id}", JPEG)
    assert_whole_reject(decoder.decode(msg), msg, "bad_topic")


def test_oversized_snapshot(decoder: Decoder) -> None:
    msg = raw(f"gw/v1/{AGENT}/snapshots/big", JPEG[:4] + b"\x00" * MAX_PAYLOAD_BYTES)
    assert_whole_reject(decoder.decode(msg), msg, "oversized")


def test_snapshot_of_an_unknown_agent(decoder: Decoder) -> None:
    msg = raw("gw/v1/nobody/snapshots/s1", JPEG)
    assert_whole_reject(decoder.decode(msg), msg, "unknown_agent")


def test_decode_produces_every_reason_but_internal(decoder: Decoder) -> None:
    """A coverage guard: each REASONS entry but `internal` (the consumer's) is reachable."""
    big = b'{"pad": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}'
    msgs = [
        raw(f"gw/v1/{AGENT}/readings", big),
        raw("gw/v1/ag-a1/nope", {}),
        readings_msg([], agent="nobody"),
        raw(f"gw/v1/{AGENT}/readings", b"{"),
        raw(f"gw/v1/{AGENT}/readings", {"agent": AGENT}),
        raw(f"gw/v1/{AGENT}/readings", {"agent": "ag-a2", "seq": 1, "readings": []}),
        readings_msg([rd()] * (MAX_ITEMS + 1)),
        readings_msg([rd(value="1"), rd("ghost"), rd(OTHER_AGENTS_DEVICE), rd(ts=0)]),
        events_msg([ev("e-snap", snapshot="/etc/secret")]),
        raw(f"gw/v1/{AGENT}/events", b"[" * 100_000 + b"]" * 100_000),
    ]
    seen = {r.reason for m in msgs for r in decoder.decode(m).rejects}
    assert seen == set(REASONS) - {"internal"}


@pytest.mark.parametrize("kind", ["readings", "events", "health", "status"])
def test_a_payload_that_breaks_the_parser_is_a_reject_not_an_exception(
    decoder: Decoder, kind: str
) -> None:
    """json.loads raises RecursionError on deep nesting: decoding still returns, once."""
    nested = b"[" * 100_000 + b"]" * 100_000
    d = decoder.decode(raw(f"gw/v1/{AGENT}/{kind}", nested))
    [reject] = d.rejects
    assert (d.agent, reject.reason, reject.payload) == (AGENT, "undecodable", nested)
    assert reject.detail.startswith("RecursionError while decoding")
    assert d.records() == [] and d.events == []


def test_any_exception_in_decoding_is_a_reject(
    decoder: Decoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(body: bytes) -> None:
        raise MemoryError("no room for this payload")

    monkeypatch.setattr(json, "loads", boom)
    [reject] = decoder.decode(events_msg([ev("e1")])).rejects
    assert reject.reason == "undecodable"
    assert reject.detail == "MemoryError while decoding: no room for this payload"

    class Exploding:
        def decode(self, body: bytes) -> None:
            boom(body)

    # Readings go through the column path first (ingest.columns), which must be covered too.
    monkeypatch.setattr(columns, "_DECODER", Exploding())
    [reject] = decoder.decode(readings_msg([rd()])).rejects
    assert reject.reason == "undecodable"
    assert reject.detail == "MemoryError while decoding: no room for this payload"
