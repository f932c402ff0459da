"""Lenient readers for what real devices send: numbers as strings, booleans as "ON",
nulls, and times as epoch milliseconds or ISO 8601. Each returns None for "not usable"."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

TRUE = {"true", "on", "1", "yes", "detected"}
FALSE = {"false", "off", "0", "no", "clear"}


def as_number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None  # a boolean is not a measurement, whatever Python thinks
    if isinstance(v, int | float):
        x = float(v)
    elif isinstance(v, str):
        try:
            x = float(v.strip())
        except ValueError:
            return None
    else:
        return None
    return x if math.isfinite(x) else None


def as_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        return True if s in TRUE else False if s in FALSE else None
    return None


def as_time(v: Any) -> float | None:
    """Unix seconds from epoch ms (Zigbee2MQTT's `epoch`), epoch s, or ISO 8601."""
    n = as_number(v)
    if n is not None:
        return n / 1000.0 if n > 1e11 else n  # ms since 1970 pass 1e11 in 1973
    if isinstance(v, str):
        try:
            dt = datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return dt.timestamp() if dt.tzinfo else None  # a local time without offset: unsafe
    return None


def json_object(payload: bytes) -> dict[str, Any] | None:
    """The payload as a JSON object, or None (not JSON, or not an object)."""
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None
