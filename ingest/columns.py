"""The fast path for readings messages: one msgspec decode per message into columns,
checked against the registry with numpy, instead of a pydantic model per reading.

It only ever accepts: a message it cannot vouch for entirely (any decode error, any bad
item, anything over a limit) returns None, and the decoder's item-by-item path decides
it, so every reject reason and detail stays exactly as that path gives them. Bad
messages are rare and pay for two decodes; good ones pay for one cheap one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
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
    """One message's readings, column by column (all of one agent)."""

    agent: str
    seq: int
    device: list[str]
    metric: list[str]
    ts: npt.NDArray[np.float64]
    value: npt.NDArray[np.float64]

    def records(self) -> list[Reading]:
        return list(
            map(Reading, repeat(self.agent), self.device, self.metric,
                self.ts.tolist(), self.value.tolist())
        )


def gather(parts: Iterable[ReadingColumns | Sequence[Reading]]) -> ReadingTable:
    """One batch's readings as one table, in message order (the store keeps the last of
    a (device, metric, ts) repeated in a batch, so the order is part of the meaning).
    A message's columns go in as they are; records (the item-by-item path's, a health
    message's) are taken apart here."""
    # The agent column as codes into the batch's few agents: a message is all of one
    # agent, and Arrow turns codes into strings far faster than it converts a Python
    # string per reading.
    agents: dict[str, int] = {}
    agent: list[npt.NDArray[np.intp]] = []
    device: list[str] = []
    metric: list[str] = []
    ts: list[npt.NDArray[np.float64]] = []
    value: list[npt.NDArray[np.float64]] = []
    for part in parts:
        if isinstance(part, ReadingColumns):
            agent.append(np.full(len(part.device), agents.setdefault(part.agent, len(agents))))
            device.extend(part.device)
            metric.extend(part.metric)
            ts.append(part.ts)
            value.append(part.value)
        elif part:
            agent.append(np.array([agents.setdefault(r.agent, len(agents)) for r in part],
                                  dtype=np.intp))
            device.extend(r.device for r in part)
            metric.extend(r.metric for r in part)
            ts.append(np.array([r.ts for r in part], dtype=np.float64))
            value.append(np.array([r.value for r in part], dtype=np.float64))
    if not device:
        return ReadingTable.empty()
    agent_column = pa.array(list(agents), pa.string()).take(np.concatenate(agent))
    return ReadingTable.from_columns(agent_column, device, metric, np.concatenate(ts),
                                     np.concatenate(value))


def decode_columns(
    payload: bytes, agent: str, registry: Registry, now: float, max_age: float,
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
    device = [i.device for i in items]
    if not registry.device_ids_of_agent(agent).issuperset(device):
        return None  # a device unknown, or another agent's
    metric = [i.metric for i in items]
    for name in set(metric):
        if len(name) > _METRIC_MAX or _METRIC.fullmatch(name) is None:
            return None
    # From lists: numpy converts a list of floats faster than it pulls a generator.
    ts = np.array([i.ts for i in items], dtype=np.float64)
    value = np.array([i.value for i in items], dtype=np.float64)
    # NaN fails every comparison, so the range check also refuses a non-finite ts.
    ok = (ts >= now - max_age) & (ts <= now + max_future) & np.isfinite(value)
    if not bool(ok.all()):
        return None
    return ReadingColumns(agent, env.seq, device, metric, ts, value)
