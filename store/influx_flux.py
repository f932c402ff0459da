"""The API's queries in Flux, with every user value passed as a Flux parameter.

Flux, because it is InfluxDB 2.x's own language: it needs nothing but the token,
while InfluxQL on 2.x needs a DBRP mapping per bucket (it would be the choice for
InfluxDB 1.8 or 3.x, which this module could gain as a second dialect). Parameters
(`params.device`) rather than string formatting, so a device id can never change a
query. The Flux text was written against InfluxDB 2.x's documentation and runs only
in the real-InfluxDB test (GRIDWATCH_TEST_INFLUX_URL); VictoriaMetrics, used for
the write-path tests, does not speak Flux.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from store.influx_lines import EVENT, READING

SERIES = f"""
from(bucket: params.bucket)
  |> range(start: params.start, stop: params.stop)
  |> filter(fn: (r) => r._measurement == "{READING}" and r.device == params.device
                       and r._field == params.metric)
  |> keep(columns: ["_time", "_value"])
  |> group()
  |> sort(columns: ["_time"])
"""

# Windows are aligned to the Unix epoch, as the embedded store's floor(ts / step)
# buckets are; the first window's start is clamped to the range start, which the
# caller floors back to its bucket.
SERIES_STEP = f"""
from(bucket: params.bucket)
  |> range(start: params.start, stop: params.stop)
  |> filter(fn: (r) => r._measurement == "{READING}" and r.device == params.device
                       and r._field == params.metric)
  |> keep(columns: ["_time", "_value"])
  |> group()
  |> aggregateWindow(every: params.step, fn: mean, createEmpty: false, timeSrc: "_start")
"""

# Last point of each series, then the latest per device. Values are dropped first:
# readings (float) and event fields (string) cannot share a table.
LAST_SEEN = f"""
from(bucket: params.bucket)
  |> range(start: 0)
  |> filter(fn: (r) => r._measurement == "{READING}"
                       or (r._measurement == "{EVENT}" and r._field == "n"))
  |> last()
  |> keep(columns: ["device", "_time"])
  |> group(columns: ["device"])
  |> map(fn: (r) => ({{device: r.device, _value: int(v: r._time)}}))
  |> max()
"""

# A message is a distinct reading timestamp of a device (one MQTT message carries
# several metrics of a device at one instant), as in the embedded store.
MESSAGES = f"""
from(bucket: params.bucket)
  |> range(start: params.start, stop: params.stop)
  |> filter(fn: (r) => r._measurement == "{READING}")
  |> keep(columns: ["device", "_time"])
  |> group(columns: ["device"])
  |> unique(column: "_time")
  |> count(column: "_time")
"""

# Events of some types, one row per event: its fields pivoted into columns. The tags
# (agent, device, state, type) come along as columns of their own.
EVENTS_OF_TYPES = f"""
from(bucket: params.bucket)
  |> range(start: params.start, stop: params.stop)
  |> filter(fn: (r) => r._measurement == "{EVENT}" and contains(value: r.type, set: params.types))
  |> pivot(rowKey: ["_time", "agent", "device", "state", "type"], columnKey: ["_field"],
           valueColumn: "_value")
  |> group()
  |> sort(columns: ["_time"])
"""

READING_COUNT = f"""
from(bucket: params.bucket)
  |> range(start: 0)
  |> filter(fn: (r) => r._measurement == "{READING}")
  |> keep(columns: ["_value"])
  |> group()
  |> count()
"""


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def series_params(
    bucket: str, device: str, metric: str, start: float, end: float, step: float | None
) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {
        "bucket": bucket, "device": device, "metric": metric, "start": at(start), "stop": at(end)
    }
    if step is None:
        return SERIES, params
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    params["step"] = timedelta(seconds=step)
    return SERIES_STEP, params
