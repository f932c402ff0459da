"""Replay of recorded readings (CSV `device,metric,ts,value`) and, optionally, recorded
events (CSV `device,type,ts,state,id`), at the original pace or `speed` times faster.

`retime=False` keeps the recorded times (backfilling a gap from a logger's export);
`retime=True` moves the recording so that its first row is now (a demo or a drill).
Rows that do not parse, or name a device that is not this agent's, are skipped and
counted in `skipped`, each logged with its line, rather than stopping the replay.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from edge.adapters.base import DeviceHealth, Polled
from gridwatch.records import DeviceEvent, Reading

log = logging.getLogger(__name__)

READING_COLUMNS = ("device", "metric", "ts", "value")
EVENT_COLUMNS = ("device", "type", "ts", "state", "id")
STATES = ("start", "update", "end", "instant")


@dataclass(frozen=True, slots=True)
class _Row:
    ts: float
    item: Reading | DeviceEvent


class ReplayAdapter:
    name = "replay"

    def __init__(
        self,
        agent: str,
        readings_csv: Path | None,
        *,
        events_csv: Path | None = None,
        speed: float | None = 1.0,
        retime: bool = False,
        devices: set[str] | None = None,
    ) -> None:
        """`speed`: 1.0 is the recorded pace, 10.0 ten times faster, None all at once.
        `devices`: the ids this agent owns (rows for others are skipped)."""
        if speed is not None and speed <= 0:
            raise ValueError("replay speed must be positive (or None: as fast as possible)")
        self.agent = agent
        self.paths = (readings_csv, events_csv)
        self.speed = speed
        self.retime = retime
        self.devices = devices
        self.skipped = 0
        self._rows: list[_Row] = []
        self._next = 0
        self._t0 = 0.0
        self._started: float | None = None

    def start(self) -> None:
        readings_csv, events_csv = self.paths
        rows = list(self._read(readings_csv, READING_COLUMNS)) if readings_csv else []
        if events_csv:
            rows += self._read(events_csv, EVENT_COLUMNS)
        rows.sort(key=lambda r: r.ts)  # stable: a file's own order breaks ties
        self._rows = rows
        self._t0 = rows[0].ts if rows else 0.0

    def stop(self) -> None:
        pass

    @property
    def done(self) -> bool:
        return self._next >= len(self._rows)

    def poll(self, now: float) -> Polled:
        if self._started is None:
            self._started = now
        out = Polled()
        while self._next < len(self._rows):
            row = self._rows[self._next]
            offset = row.ts - self._t0
            if self.speed is not None and self._started + offset / self.speed > now:
                break
            self._next += 1
            item = row.item
            if self.retime:
                ts = round(self._started + offset / (self.speed or math.inf), 3)
                item = _with_ts(item, ts)
            if isinstance(item, Reading):
                out.readings.append(item)
            else:
                out.events.append(item)
        return out

    def health(self, now: float) -> list[DeviceHealth]:
        return []  # a recording says nothing about how the devices are now

    def _read(self, path: Path, columns: tuple[str, ...]) -> Iterator[_Row]:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = set(columns) - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{path}: missing columns {', '.join(sorted(missing))}")
            for line, rec in enumerate(reader, start=2):
                try:
                    row = self._parse(rec, columns is EVENT_COLUMNS)
                except (ValueError, TypeError) as exc:
                    self.skipped += 1
                    log.warning("%s:%d: skipped (%s)", path, line, exc)
                    continue
                if self.devices is not None and row.item.device not in self.devices:
                    self.skipped += 1
                    log.warning("%s:%d: device %r is not this agent's", path, line, row.item.device)
                    continue
                yield row

    def _parse(self, rec: dict[str, str], event: bool) -> _Row:
        ts = float(rec["ts"])
        if not math.isfinite(ts):
            raise ValueError("ts is not a finite number")
        if not event:
            value = float(rec["value"])
            if not math.isfinite(value):
                raise ValueError("value is not a finite number")
            return _Row(ts, Reading(self.agent, rec["device"], rec["metric"], ts, value))
        state = rec["state"]
        if state not in STATES or not rec["id"] or not rec["type"]:
            raise ValueError(f"bad event row (state {state!r}, id {rec['id']!r})")
        kind = cast(Literal["start", "update", "end", "instant"], state)
        return _Row(ts, DeviceEvent(self.agent, rec["id"], rec["device"], ts, rec["type"], kind))


def _with_ts(item: Reading | DeviceEvent, ts: float) -> Reading | DeviceEvent:
    return dataclasses.replace(item, ts=ts)
