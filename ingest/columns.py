"""The fast path for readings messages: one msgspec decode per message into columns,
checked against the registry with numpy, instead of a pydantic model per reading.

It only ever accepts: a message it cannot vouch for entirely (any decode error, any bad
item, anything over a limit) returns None, and the decoder's item-by-item path decides
it, so every reject reason and detail stays exactly as that path gives them. Bad
messages are rare and pay for two decodes; good ones pay for one cheap one.

Devices and metrics travel as integer codes into a `Vocabulary` and become Arrow
strings once per batch, with one `take`: building a string column from a Python
string per reading, and checking every message's metric names, were a third of the
readings decode (in-process, 500 messages of 100 readings: 38 ms against 24 ms). Being
in the vocabulary is the check: a device code exists only for the agent that owns it,
and a metric name gets a code only once it has passed the contract's pattern.

The Arrow JSON reader (`pyarrow.json`) would decode a batch faster still, but it is not
fit for what an MQTT client may send: pyarrow 26 crashes the process (SIGSEGV) on the
payload `null`, and apache/arrow#47409 is an open crash found by fuzzing its parser.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from config.registry import Registry
from gridwatch.mqtt import MAX_ITEMS
from gridwatch.reading_table import ReadingTable
from gridwatch.records import Reading

# The same rules as ingest.payloads.ReadingItem; fullmatch, since `$` in Python's re
# also matches before a trailing newline, which pydantic's regex does not allow.
_METRIC = re.compile(r"[a-z][a-z0-9_]*")
_METRIC_MAX = 64
# Metric names are free text within the pattern, so an agent could invent them without
# end: past this many, a message with a new name takes the item-by-item path (which
# stores it all the same), and the vocabulary stops growing.
MAX_METRICS = 4096
IntArray = npt.NDArray[np.intp]


class Vocabulary:
    """The codes of one street's devices (per owning agent) and of the metric names seen
    so far. Codes never change, so a code taken before a name was added stays good."""

    def __init__(self, device_agents: Mapping[str, str]) -> None:
        ids = list(device_agents)
        self.device_ids = pa.array(ids, pa.string())
        self._devices: dict[str, dict[str, int]] = {}
        for code, (device, agent) in enumerate(device_agents.items()):
            self._devices.setdefault(agent, {})[device] = code
        self._device_names = ids
        self.metric_code: dict[str, int] = {}
        self._metric_names: list[str] = []
        self._metric_array: pa.Array | None = None  # made again once a name is added
        self._grow = threading.Lock()

    @classmethod
    def of(cls, registry: Registry) -> Vocabulary:
        return cls({d.id: d.agent for d in registry.config.devices})

    def devices_of(self, agent: str) -> dict[str, int]:
        """The codes of the agent's own devices (empty for an unknown agent)."""
        return self._devices.get(agent, {})

    def learn_metrics(self, names: Iterable[str]) -> bool:
        """Give each valid new name a code; False if any is invalid or there is no room."""
        with self._grow:
            for name in names:
                if name in self.metric_code:
                    continue
                if (len(name) > _METRIC_MAX or _METRIC.fullmatch(name) is None
                        or len(self._metric_names) >= MAX_METRICS):
                    return False
                self.metric_code[name] = len(self._metric_names)
                self._metric_names.append(name)
                self._metric_array = None
            return True

    def metric_names(self) -> pa.Array:
        with self._grow:
            if self._metric_array is None:
                self._metric_array = pa.array(self._metric_names, pa.string())
            return self._metric_array

    def device_name(self, codes: IntArray) -> list[str]:
        return [self._device_names[c] for c in codes.tolist()]

    def metric_name(self, codes: IntArray) -> list[str]:
        return [self._metric_names[c] for c in codes.tolist()]


class _Item(msgspec.Struct, gc=False):
    # float fields take JSON integers and refuse booleans, strings and null, as the
    # strict pydantic models do; unknown keys are ignored on both paths. gc=False: an
    # item holds only strings and floats, so it can never be part of a cycle, and a
    # hundred thousand tracked objects a second set off the cyclic collector for nothing.
    device: str
    metric: str
    ts: float
    value: float


class _Envelope(msgspec.Struct):
    agent: str
    seq: int
    readings: list[_Item]


_DECODER = msgspec.json.Decoder(_Envelope)


@dataclass(frozen=True, slots=True)
class ReadingColumns:
    """One message's readings, column by column (all of one agent); devices and metrics
    as codes into `vocabulary`."""

    agent: str
    seq: int
    device: IntArray
    metric: IntArray
    ts: npt.NDArray[np.float64]
    value: npt.NDArray[np.float64]
    vocabulary: Vocabulary

    def records(self) -> list[Reading]:
        return list(
            map(Reading, repeat(self.agent), self.vocabulary.device_name(self.device),
                self.vocabulary.metric_name(self.metric), self.ts.tolist(),
                self.value.tolist())
        )


def gather(parts: Iterable[ReadingColumns | Sequence[Reading]]) -> ReadingTable:
    """One batch's readings as one table, in message order (the store keeps the last of
    a (device, metric, ts) repeated in a batch, so the order is part of the meaning).
    A message's columns go in as they are; records (the item-by-item path's, a health
    message's) are taken apart here."""
    parts = [p for p in parts if isinstance(p, ReadingColumns) or p]
    if not parts:
        return ReadingTable.empty()
    coded = [p for p in parts if isinstance(p, ReadingColumns)]
    if len(coded) == len(parts) and all(p.vocabulary is coded[0].vocabulary for p in coded):
        return _gather_codes(coded[0].vocabulary, coded)
    return _gather_strings(parts)


def _gather_codes(vocabulary: Vocabulary, parts: list[ReadingColumns]) -> ReadingTable:
    """The usual batch: every message decoded to codes of one vocabulary."""
    # The agent column as codes into the batch's few agents: a message is all of one
    # agent, and Arrow turns codes into strings far faster than it converts a Python
    # string per reading.
    agents: dict[str, int] = {}
    agent = [np.full(len(p.ts), agents.setdefault(p.agent, len(agents))) for p in parts]
    return ReadingTable.from_columns(
        pa.array(list(agents), pa.string()).take(np.concatenate(agent)),
        vocabulary.device_ids.take(np.concatenate([p.device for p in parts])),
        vocabulary.metric_names().take(np.concatenate([p.metric for p in parts])),
        np.concatenate([p.ts for p in parts]), np.concatenate([p.value for p in parts]))


def _gather_strings(parts: list[ReadingColumns | Sequence[Reading]]) -> ReadingTable:
    """A batch that mixes in records: everything as Python strings."""
    agent: list[str] = []
    device: list[str] = []
    metric: list[str] = []
    ts: list[npt.NDArray[np.float64]] = []
    value: list[npt.NDArray[np.float64]] = []
    for part in parts:
        if isinstance(part, ReadingColumns):
            agent.extend(repeat(part.agent, len(part.ts)))
            device.extend(part.vocabulary.device_name(part.device))
            metric.extend(part.vocabulary.metric_name(part.metric))
            ts.append(part.ts)
            value.append(part.value)
        else:
            agent.extend(r.agent for r in part)
            device.extend(r.device for r in part)
            metric.extend(r.metric for r in part)
            ts.append(np.array([r.ts for r in part], dtype=np.float64))
            value.append(np.array([r.value for r in part], dtype=np.float64))
    return ReadingTable.from_columns(agent, device, metric, np.concatenate(ts),
                                     np.concatenate(value))


def decode_columns(
    payload: bytes, agent: str, vocabulary: Vocabulary, now: float, max_age: float,
    max_future: float,
) -> ReadingColumns | None:
    """The message's readings when the whole message is good, else None."""
    try:
        env = _DECODER.decode(payload)
    except msgspec.MsgspecError:
        return None
    items = env.readings
    if env.agent != agent or env.seq < 0 or len(items) > MAX_ITEMS:
        return None
    owned = vocabulary.devices_of(agent)
    try:
        device = [owned[i.device] for i in items]
    except KeyError:
        return None  # a device unknown, or another agent's
    known = vocabulary.metric_code
    try:
        metric = [known[i.metric] for i in items]
    except KeyError:
        if not vocabulary.learn_metrics({i.metric for i in items}):
            return None  # a name against the pattern, or no room for a new one
        metric = [known[i.metric] for i in items]
    # From lists: numpy converts a list of floats faster than it pulls a generator.
    ts = np.array([i.ts for i in items], dtype=np.float64)
    value = np.array([i.value for i in items], dtype=np.float64)
    # NaN fails every comparison, so the range check also refuses a non-finite ts.
    ok = (ts >= now - max_age) & (ts <= now + max_future) & np.isfinite(value)
    if not bool(ok.all()):
        return None
    return ReadingColumns(agent, env.seq, np.array(device, dtype=np.intp),
                          np.array(metric, dtype=np.intp), ts, value, vocabulary)
