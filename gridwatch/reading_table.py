"""Readings as one Arrow table: the bulk path's shape from ingest to the store and the
detectors.

At 100k+ readings a second, a Python object per reading was the largest single cost of
ingest (a frozen dataclass takes about 1.5 µs to build, and the store and the detectors
then took every one apart again). A `ReadingTable` is built once per ingest batch from
the decoder's columns, registered with DuckDB as it is, filtered to what is new with one
`take`, and turned into the detectors' integer columns by dictionary-encoding its
strings. It is still a `Sequence[Reading]`: code that wants records (tests, the InfluxDB
line writer) iterates it and gets them, built on demand.

Kept apart from `gridwatch.records` so the edge agent, which needs records but not
Arrow, does not import pyarrow.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from gridwatch.records import Reading

FloatArray = npt.NDArray[np.float64]

SCHEMA = pa.schema([
    ("device", pa.string()),
    ("metric", pa.string()),
    ("ts", pa.float64()),
    ("value", pa.float64()),
    ("agent", pa.string()),
])


class ReadingTable(Sequence[Reading]):
    """An immutable batch of readings in SCHEMA's columns (the store's column order)."""

    # `_encoded`: each string column's dictionary encoding, once asked for: the store's
    # repeat check, the health rollup and the detectors each need the device column's,
    # and a batch of 50,000 readings took about a millisecond per encoding.
    __slots__ = ("_encoded", "table")

    def __init__(self, table: pa.Table) -> None:
        if not table.schema.equals(SCHEMA):
            raise ValueError(f"a reading table needs the schema {SCHEMA}, not {table.schema}")
        self.table = table
        self._encoded: dict[str, tuple[list[str], npt.NDArray[np.intp]]] = {}

    @classmethod
    def from_columns(
        cls,
        agent: Sequence[str] | pa.Array,
        device: Sequence[str],
        metric: Sequence[str],
        ts: FloatArray | Sequence[float],
        value: FloatArray | Sequence[float],
    ) -> ReadingTable:
        return cls(pa.table(
            [pa.array(device, pa.string()), pa.array(metric, pa.string()),
             pa.array(ts, pa.float64()), pa.array(value, pa.float64()),
             agent if isinstance(agent, pa.Array) else pa.array(agent, pa.string())],
            schema=SCHEMA,
        ))

    @classmethod
    def from_records(cls, readings: Sequence[Reading]) -> ReadingTable:
        return cls.from_columns(
            [r.agent for r in readings], [r.device for r in readings],
            [r.metric for r in readings], [r.ts for r in readings],
            [r.value for r in readings],
        )

    @classmethod
    def of(cls, readings: Sequence[Reading]) -> ReadingTable:
        """The readings as a table: itself when it is one already."""
        return readings if isinstance(readings, ReadingTable) else cls.from_records(readings)

    @classmethod
    def empty(cls) -> ReadingTable:
        return cls(SCHEMA.empty_table())

    # -- columns ----------------------------------------------------------------------

    @property
    def ts(self) -> FloatArray:
        return _floats(self.table.column("ts"))

    @property
    def value(self) -> FloatArray:
        return _floats(self.table.column("value"))

    def strings(self, name: str) -> tuple[list[str], npt.NDArray[np.intp]]:
        """A string column dictionary-encoded: (its distinct values, the position of
        each row's value among them; for a chunk from `rows`, the values are its
        table's). Lookups then cost one per distinct value. The table is immutable, so
        the answer is kept; treat both as read-only."""
        got = self._encoded.get(name)
        if got is None:
            encoded = self.table.column(name).combine_chunks().dictionary_encode()
            codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.intp, copy=False)
            got = self._encoded[name] = (encoded.dictionary.to_pylist(), codes)
        return got

    def span(self) -> tuple[float, float]:
        """The smallest and largest ts; the table must not be empty."""
        ts = self.ts
        return float(ts.min()), float(ts.max())

    # -- subsets ----------------------------------------------------------------------

    def take(self, positions: npt.NDArray[np.integer[Any]]) -> ReadingTable:
        if len(positions) == len(self) and bool(
                (positions == np.arange(len(self))).all()):
            return self  # every row, in order: the common case of a batch with no replay
        return ReadingTable(self.table.take(pa.array(positions)))

    def last_of_each_key(self) -> ReadingTable:
        """One reading per (device, metric, ts), the last of any repeated in the table,
        in table order: what a store keeps of a batch that repeats a key. A sort of the
        integer codes in numpy; DuckDB's window or GROUP BY over the strings cost 4-8x
        as much per reading, and most batches repeat nothing."""
        n = len(self)
        if n < 2:
            return self
        _, device = self.strings("device")
        _, metric = self.strings("metric")
        ts = self.ts
        # By key, then position: the last row of each run of equal keys is the one kept.
        order = np.lexsort((np.arange(n), ts, metric, device))
        d, m, t = device[order], metric[order], ts[order]
        repeated = (d[1:] == d[:-1]) & (m[1:] == m[:-1]) & (t[1:] == t[:-1])
        if not bool(repeated.any()):
            return self
        keep = np.ones(n, dtype=np.bool_)
        keep[order[:-1][repeated]] = False
        return self.take(np.flatnonzero(keep))

    def of_metric(self, metric: str) -> ReadingTable:
        """Only the readings of one metric (a filter in Arrow, no record per row)."""
        return ReadingTable(self.table.filter(pc.equal(self.table.column("metric"), metric)))

    def rows(self, start: int, stop: int) -> ReadingTable:
        """Rows start..stop-1, without copying. The encodings made so far go with them
        (the detectors take a written batch in chunks): the values are then those the
        whole table holds, a superset of the chunk's, which only costs a few lookups."""
        part = ReadingTable(self.table.slice(start, max(0, stop - start)))
        for name, (values, codes) in self._encoded.items():
            part._encoded[name] = (values, codes[start:stop])
        return part

    # -- Sequence[Reading] ------------------------------------------------------------

    def records(self) -> list[Reading]:
        cols = [self.table.column(n).to_pylist() for n in ("agent", "device", "metric")]
        return list(map(Reading, *cols, self.ts.tolist(), self.value.tolist()))

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def __iter__(self) -> Iterator[Reading]:
        return iter(self.records())

    @overload
    def __getitem__(self, index: int) -> Reading: ...

    @overload
    def __getitem__(self, index: slice) -> ReadingTable: ...

    def __getitem__(self, index: int | slice) -> Reading | ReadingTable:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return self.take(np.arange(start, stop, step))
            return self.rows(start, stop)
        n = len(self)
        if not -n <= index < n:
            raise IndexError("reading table index out of range")
        return self.rows(index % n, index % n + 1).records()[0]

    def __repr__(self) -> str:
        return f"ReadingTable({len(self)} readings)"


def _floats(column: pa.ChunkedArray) -> FloatArray:
    # One chunk (the usual case) converts without a copy; the columns have no nulls.
    if column.num_chunks == 1:
        return column.chunk(0).to_numpy()  # type: ignore[no-any-return]
    return column.to_numpy()  # type: ignore[no-any-return]

