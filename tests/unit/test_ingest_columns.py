"""The readings column path (ingest.columns): it accepts exactly what the item-by-item
path would store, identically, and hands everything else back to that path."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from config.registry import Registry
from ingest import columns
from ingest.decode import MAX_AGE_S, MAX_FUTURE_S, Decoder, RawMessage
from tests.support.tiny_street import lc_street

NOW = 1_764_090_000.0
AGENT = "ag-a1"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return lc_street()


def body(items: list[Any], agent: str = AGENT, seq: int = 7) -> bytes:
    return json.dumps({"agent": agent, "seq": seq, "readings": items, "extra": 1}).encode()


def rd(device: str = "a1-smoke-1", metric: str = "temperature_c", ts: Any = NOW - 10,
       value: Any = 21.5) -> dict[str, Any]:
    return {"device": device, "metric": metric, "ts": ts, "value": value, "unit": "C"}


def cols(registry: Registry, payload: bytes) -> columns.ReadingColumns | None:
    return columns.decode_columns(payload, AGENT, columns.Vocabulary.of(registry), NOW,
                                  MAX_AGE_S, MAX_FUTURE_S)


def test_a_good_message_is_decoded_to_columns_as_the_item_path_would(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [rd(value=21.5), rd("a1-elev-1", "floor", ts=int(NOW) - 3, value=3),
             rd(ts=NOW - MAX_AGE_S, value=-1e300), rd(ts=NOW + MAX_FUTURE_S, value=0)]
    payload = body(items)
    got = cols(registry, payload)
    assert got is not None and got.seq == 7 and got.agent == AGENT
    fast = Decoder(registry).decode(RawMessage(f"gw/v1/{AGENT}/readings", payload, NOW))
    # The same message through the item-by-item path only.
    monkeypatch.setattr(columns, "_DECODER", _Refusing())
    slow = Decoder(registry).decode(RawMessage(f"gw/v1/{AGENT}/readings", payload, NOW))
    assert fast.records() == slow.records() == got.records()
    assert fast.seq == slow.seq == 7 and not fast.rejects and not slow.rejects
    assert [type(r.value) for r in got.records()] == [float] * 4


class _Refusing:
    def decode(self, payload: bytes) -> None:
        raise msgspec.DecodeError("refused for the test")


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(body([rd("a2-smoke-1")]), id="foreign-device"),
        pytest.param(body([rd("nope")]), id="unknown-device"),
        pytest.param(body([rd(metric="Temp")]), id="metric-pattern"),
        pytest.param(body([rd(metric="temp\n")]), id="metric-trailing-newline"),
        pytest.param(body([rd(metric="t" * 65)]), id="metric-too-long"),
        pytest.param(body([rd(ts=NOW - MAX_AGE_S - 1)]), id="ts-too-old"),
        pytest.param(body([rd(ts=NOW + MAX_FUTURE_S + 1)]), id="ts-ahead"),
        pytest.param(body([rd(value=True)]), id="value-bool"),
        pytest.param(body([rd(value="1")]), id="value-string"),
        pytest.param(body([rd(value=None)]), id="value-null"),
        pytest.param(body([rd()], agent="ag-a2"), id="agent-mismatch"),
        pytest.param(body([rd()], seq=-1), id="negative-seq"),
        pytest.param(body([rd()] * 10_001), id="too-many-items"),
        pytest.param(body([rd(), 5]), id="item-not-object"),
        pytest.param(b'{"agent": "ag-a1", "seq": 1, "readings": [{"device": "a1-smoke-1", '
                     b'"metric": "t", "ts": 1764089990, "value": NaN}]}', id="nan"),
        pytest.param(b'{"agent": "ag-a1", "seq": 1, "readings": [{"device": "a1-smoke-1", '
                     b'"metric": "t", "ts": 1764089990, "value": 1e999}]}', id="overflow"),
        pytest.param(b'{"agent": "ag-a1", "seq": 1.0, "readings": []}', id="float-seq"),
        pytest.param(b'{"agent": "ag-a1", "seq": 1, "readings": []} x', id="trailing"),
    ],
)
def test_anything_short_of_a_wholly_good_message_goes_to_the_item_path(
    registry: Registry, payload: bytes
) -> None:
    assert cols(registry, payload) is None


def test_metric_names_past_the_vocabulary_s_room_are_stored_by_the_item_path(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Metric names are free text, so the codes' vocabulary is capped; a message with a
    new name past the cap is not refused, only decoded the slow way."""
    monkeypatch.setattr(columns, "MAX_METRICS", 2)
    decoder = Decoder(registry)
    first = body([rd(metric="m_a"), rd(metric="m_b", ts=NOW - 9)])
    crowded = body([rd(metric="m_a"), rd(metric="m_c", ts=NOW - 9)], seq=8)
    assert columns.decode_columns(first, AGENT, decoder.vocabulary, NOW, MAX_AGE_S,
                                  MAX_FUTURE_S) is not None
    assert columns.decode_columns(crowded, AGENT, decoder.vocabulary, NOW, MAX_AGE_S,
                                  MAX_FUTURE_S) is None
    got = decoder.decode(RawMessage(f"gw/v1/{AGENT}/readings", crowded, NOW))
    assert not got.rejects and got.columns is None
    assert [(r.metric, r.ts) for r in got.records()] == [("m_a", NOW - 10), ("m_c", NOW - 9)]
    # A batch that mixes both paths keeps every reading, in message order.
    again = decoder.decode(RawMessage(f"gw/v1/{AGENT}/readings", first, NOW))
    table = columns.gather([again.columns or again.readings, got.readings])
    assert [r.metric for r in table.records()] == ["m_a", "m_b", "m_a", "m_c"]
