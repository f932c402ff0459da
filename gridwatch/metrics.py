"""Prometheus metrics of every stage, in base units with bounded label values
(topic kinds, reject reasons and severities are fixed sets; never device ids)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gridwatch.grid_path import area_of
from gridwatch.records import Alert

MESSAGES_IN = Counter(
    "gridwatch_ingest_messages_total", "MQTT messages received by ingest.", ["kind"]
)
MESSAGES_REJECTED = Counter(
    "gridwatch_ingest_rejected_total",
    "Messages or items sent to the dead-letter store.",
    ["reason"],
)
READINGS_WRITTEN = Counter(
    "gridwatch_readings_written_total", "New readings durably written (replays excluded)."
)
EVENTS_WRITTEN = Counter("gridwatch_events_written_total", "New device events durably written.")
STORE_WRITE_SECONDS = Histogram(
    "gridwatch_store_write_seconds",
    "Time to durably write one ingest batch.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
DEAD_LETTERS_DROPPED = Counter(
    "gridwatch_ingest_dead_letters_dropped_total",
    "Rejects counted but not stored: the sending agent was over its dead-letter budget.",
    ["reason"],
)
INGEST_QUEUE_DEPTH = Gauge(
    "gridwatch_ingest_queue_depth",
    "Messages received but not yet written and acknowledged, per ingest lane.",
    ["lane"],  # alarms | readings
)
INGEST_QUEUE_AGE = Gauge(
    "gridwatch_ingest_queue_age_seconds",
    "How long the oldest message of the lane's last batch waited after it was received.",
    ["lane"],
)
ALERT_CHANGES = Counter(
    "gridwatch_alert_changes_total", "Alert changes applied by dispatch.", ["kind", "severity"]
)
SSE_CLIENTS = Gauge("gridwatch_sse_clients", "Connected Server-Sent Events clients.")
INFLUX_RETRIES = Counter(
    "gridwatch_influx_write_retries_total", "InfluxDB write requests retried after a failure."
)
INFLUX_SPOOLED = Counter(
    "gridwatch_influx_spooled_batches_total",
    "Batches kept on disk because InfluxDB could not take them after retries.",
)
INFLUX_SPOOL_DEPTH = Gauge(
    "gridwatch_influx_spool_batches", "Batches waiting on disk to be written to InfluxDB."
)
INFLUX_REJECTED_LINES = Counter(
    "gridwatch_influx_rejected_lines_total",
    "Lines InfluxDB refused as malformed, sent to the dead-letter store.",
)
DETECTOR_SECONDS = Histogram(
    "gridwatch_detector_evaluation_seconds",
    "Time the detectors take for one batch of readings or events, or one tick.",
    ["input"],  # readings | events | tick
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
ALERTS_PUBLISHED = Counter(
    "gridwatch_alerts_published_total",
    "Alert changes handed to MQTT for the consoles.",
    ["result"],  # queued | failed
)
RECEIPTS_PUBLISHED = Counter(
    "gridwatch_receipts_published_total",
    "Receipts published to agents after their messages were stored.",
)
STORAGE_FAILURES = Counter(
    "gridwatch_storage_write_failures_total",
    "Ingest writes that failed for a storage reason (disk full, locked, I/O error); the "
    "messages stay unacknowledged and are retried.",
    ["lane", "reason"],  # lane: alarms | telemetry; reason: full | locked | io
)
STORAGE_READY = Gauge(
    "gridwatch_storage_ready",
    "1 while ingest's writes succeed, 0 during a storage outage (see /healthz).",
)


class _FiringAlertsByArea(Collector):
    """Firing alerts per residential area (grid path cut to street/district/area, so
    the label is bounded by the registry) and severity, read from the op store at
    scrape time: a gauge kept up to date by hand would drift across restarts."""

    source: Callable[[], Iterable[Alert]] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "gridwatch_alerts_firing", "Firing alerts per area and severity.",
            labels=["area", "severity"],
        )
        firing = self.source() if self.source is not None else ()
        counts = Tally((area_of(a.grid), a.severity) for a in firing)
        for (area, severity), n in sorted(counts.items()):
            family.add_metric([area, severity], n)
        yield family


_FIRING = _FiringAlertsByArea()
REGISTRY.register(_FIRING)


def track_firing_alerts(source: Callable[[], Iterable[Alert]]) -> None:
    """Where `gridwatch_alerts_firing` reads the firing alerts (the backend's op store)."""
    _FIRING.source = source
