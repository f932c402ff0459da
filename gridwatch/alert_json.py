"""The alert as JSON (contract section 4): one shape for the API, SSE and MQTT."""

from __future__ import annotations

from typing import Any

from gridwatch.records import Alert
from gridwatch.timefmt import iso


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "fingerprint": alert.fingerprint,
        "rule": alert.rule,
        "type": alert.type,
        "severity": alert.severity,
        "status": alert.status,
        "device": alert.device,
        "device_type": alert.device_type,
        "grid": alert.grid,
        "building": alert.building,
        "location": alert.location,
        "started_at": iso(alert.started_at),
        "updated_at": iso(alert.updated_at),
        "resolved_at": iso(alert.resolved_at),
        "value": alert.value,
        "summary": alert.summary,
        "acked_by": alert.acked_by,
        "acked_at": iso(alert.acked_at),
        "ack_note": alert.ack_note,
        "escalation_level": alert.escalation_level,
        "incident_id": alert.incident_id,
        "receivers": list(alert.receivers),
    }
