"""Prometheus metrics of every stage, in base units with bounded label values
(topic kinds, reject reasons and severities are fixed sets; never device ids)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
INGEST_QUEUE_DEPTH = Gauge(
    "gridwatch_ingest_queue_depth", "Messages received but not yet written and acknowledged."
)
ALERT_CHANGES = Counter(
    "gridwatch_alert_changes_total", "Alert changes applied by dispatch.", ["kind", "severity"]
)
SSE_CLIENTS = Gauge("gridwatch_sse_clients", "Connected Server-Sent Events clients.")
