"""Query parameters shared by the endpoints: times given as ISO 8601 or Unix seconds,
refused with FastAPI's own 422 shape so that a client sees one kind of error."""

from __future__ import annotations

import math
import re
from typing import Annotated

from fastapi import Depends, HTTPException, Query, status

from gridwatch.timefmt import parse_time

# An unencoded "+08:00" in a URL arrives as " 08:00"; take it back rather than refuse
# what someone typed into the address bar.
_SPACED_OFFSET = re.compile(r"^(\S+[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$")


def time_param(name: str, text: str | None) -> float | None:
    """`parse_time` for query parameter `name`, failing as FastAPI's own 422 does."""
    if text is None:
        return None
    try:
        value = parse_time(_SPACED_OFFSET.sub(r"\1+\2", text.strip()))
        if not math.isfinite(value):
            raise ValueError(f"{text!r} is not a finite time")
    except (ValueError, OverflowError) as exc:
        detail = [{"type": "value_error", "loc": ["query", name], "msg": str(exc), "input": text}]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail) from None
    return value


def since_param(
    since: Annotated[
        str | None, Query(description="ISO 8601 (UTC when no offset) or Unix seconds.")
    ] = None,
) -> float | None:
    return time_param("since", since)


Since = Annotated[float | None, Depends(since_param)]
