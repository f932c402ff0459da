"""Readings as one Arrow table (gridwatch.reading_table) and what the bulk path builds
from it: the same readings, in the same order, as the records it replaced."""

from __future__ import annotations

import random

import numpy as np
import pytest

from detectors.slots import DeviceIndex, ReadingBatch
from gridwatch.reading_table import ReadingTable
from gridwatch.records import Reading
from ingest import columns
from tests.support.tiny_street import lc_street

NOW = 1_764_090_000.0


def some(n: int, agent: str = "ag-a1") -> list[Reading]:
    return [Reading(agent, f"d{i % 3}", "temperature_c" if i % 2 else "battery_pct",
                    NOW + i, float(i) / 3) for i in range(n)]


def test_records_go_in_and_come_out_unchanged() -> None:
    readings = some(7)
    table = ReadingTable.from_records(readings)
    assert table.records() == readings == list(table)
    assert [type(r.ts) for r in table] == [float] * 7
    assert len(table) == 7 and table[2] == readings[2] and table[-1] == readings[-1]
    assert list(table[2:5]) == readings[2:5] and list(table[::3]) == readings[::3]
    with pytest.raises(IndexError):
        table[7]
    assert ReadingTable.of(table) is table
    assert ReadingTable.empty().records() == [] and len(ReadingTable.from_records([])) == 0


def test_take_keeps_the_given_rows_in_the_given_order() -> None:
    table = ReadingTable.from_records(some(6))
    assert table.take(np.arange(6)) is table  # everything: no copy
    assert table.take(np.array([4, 1])).records() == [some(6)[4], some(6)[1]]
    assert table.take(np.array([], dtype=np.int64)).records() == []
    assert table.span() == (NOW, NOW + 5)


def test_a_metric_filter_and_the_string_codes() -> None:
    table = ReadingTable.from_records(some(6))
    assert table.of_metric("battery_pct").records() == some(6)[0::2]
    assert table.of_metric("nothing").records() == []
    distinct, codes = table.strings("device")
    assert [distinct[c] for c in codes] == [r.device for r in some(6)]
    # A chunk takes its table's encodings with it; its own rows' values come out.
    for start, stop in ((1, 4), (0, 6), (5, 9), (7, 8)):
        part = table.rows(start, stop)
        for name in ("device", "metric"):
            values, part_codes = part.strings(name)
            assert [values[c] for c in part_codes] == [
                getattr(r, name) for r in some(6)[start:stop]]


def test_a_table_needs_the_store_s_columns() -> None:
    good = ReadingTable.from_records(some(2)).table
    with pytest.raises(ValueError, match="schema"):
        ReadingTable(good.drop_columns(["agent"]))


def test_gather_keeps_message_order_across_columns_and_records() -> None:
    # A batch mixes messages decoded to columns and records from the item-by-item path;
    # the store keeps the last of a repeated key, so the order is part of the meaning.
    words = columns.Vocabulary({"d0": "ag-a1", "d1": "ag-a1", "d9": "ag-a2"})
    assert words.learn_metrics(["m", "n"])

    def coded(seq: int, device: list[int], metric: list[int], ts: list[float],
              value: list[float]) -> columns.ReadingColumns:
        return columns.ReadingColumns("ag-a1", seq, np.array(device), np.array(metric),
                                      np.array(ts), np.array(value), words)

    first = coded(1, [0, 1], [0, 1], [NOW, NOW + 1], [1.0, 2.0])
    middle = [Reading("ag-a2", "d9", "m", NOW, 3.0)]
    last = coded(2, [0], [0], [NOW], [4.0])
    assert [(r.device, r.metric) for r in first.records()] == [("d0", "m"), ("d1", "n")]
    got = columns.gather([first, [], middle, last])
    assert got.records() == [*first.records(), *middle, *last.records()]
    # Columns alone take the codes' path; the same rows, the same table.
    assert columns.gather([first, last]).records() == [*first.records(), *last.records()]
    assert len(columns.gather([[], []])) == 0


def test_the_detectors_columns_from_a_table_equal_those_from_records() -> None:
    index = DeviceIndex(lc_street())
    rng = random.Random(5)
    devices = [*index.ids[:20], "not-in-the-registry"]
    metrics = ["temperature_c", "battery_pct", "smoke_obscuration", "unwatched_metric"]
    readings = [Reading("ag", rng.choice(devices), rng.choice(metrics), NOW + rng.random(),
                        rng.random()) for _ in range(500)]
    want = ReadingBatch.from_readings(index, readings)
    for got in (ReadingBatch.from_table(index, ReadingTable.from_records(readings)),
                ReadingBatch.of(index, ReadingTable.from_records(readings))):
        for name in ("slot", "metric", "ts", "value"):
            assert np.array_equal(getattr(got, name), getattr(want, name)), name
    empty = ReadingBatch.from_table(index, ReadingTable.empty())
    assert len(empty.slot) == 0


def test_the_last_of_each_repeated_key_is_kept_in_table_order() -> None:
    rng = random.Random(11)
    for _ in range(200):
        readings = [Reading("ag", rng.choice("ab"), rng.choice("xy"), NOW + rng.randrange(3),
                            rng.random()) for _ in range(rng.randrange(0, 12))]
        last = {(r.device, r.metric, r.ts): k for k, r in enumerate(readings)}
        want = [r for k, r in enumerate(readings) if last[(r.device, r.metric, r.ts)] == k]
        assert ReadingTable.from_records(readings).last_of_each_key().records() == want
    unique = ReadingTable.from_records(some(5))
    assert unique.last_of_each_key() is unique  # nothing repeated: no copy
