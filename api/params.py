"""Query parameters shared by the endpoints: times given as ISO 8601 or Unix seconds."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Query, status


def parse_time(text: str) -> float:
    """ISO 8601 (without an offset: UTC) or Unix seconds -> Unix seconds.
    Raises ValueError with a reason a caller can act on."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise ValueError(f"{text!r} is not a finite number of seconds")
        return value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither Unix seconds nor ISO 8601 (e.g. 2025-11-25T08:00:00+08:00)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def time_param(name: str, text: str | None) -> float | None:
    """`parse_time` for query parameter `name`, failing as FastAPI's own 422 does."""
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError as exc:
        detail = [{"type": "value_error", "loc": ["query", name], "msg": str(exc), "input": text}]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail) from None


def since_param(
    since: Annotated[
        str | None, Query(description="ISO 8601 (UTC when no offset) or Unix seconds.")
    ] = None,
) -> float | None:
    return time_param("since", since)


Since = Annotated[float | None, Depends(since_param)]
