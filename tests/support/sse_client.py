"""Reading the alert stream (`GET /api/v1/alerts/stream`) in API tests: each wait is
bounded, so a silent stream fails the test instead of hanging it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests.support.api_harness import auth

DEADLINE_S = 10.0


class Events:
    """`event: alert` messages off an open stream, each within the deadline."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.iter_lines()

    def next_with_id(self) -> tuple[str, dict[str, Any]]:
        """The next alert and its event id as sent (`N` or `N:A,B`: api.resume_point)."""
        fields: dict[str, str] = {}
        start = time.monotonic()
        for line in self.lines:
            if time.monotonic() - start > DEADLINE_S:
                break
            if line == "":
                if fields.get("event") == "alert":
                    return fields["id"], json.loads(fields["data"])
                fields = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(":")
                fields[key] = value.removeprefix(" ")
        raise AssertionError("no alert event within the deadline")

    def next(self) -> tuple[int, dict[str, Any]]:
        """The next alert of a stream in log order, whose id is its log sequence."""
        event_id, alert = self.next_with_id()
        return int(event_id), alert


@contextmanager
def stream(base: str, token: str, query: str = "", **headers: str) -> Iterator[Events]:
    # The read timeout bounds each wait for bytes: a silent stream fails, never hangs.
    timeout = httpx.Timeout(DEADLINE_S, read=DEADLINE_S)
    with (
        httpx.Client(base_url=base, timeout=timeout) as client,
        client.stream(
            "GET", f"/api/v1/alerts/stream{query}", headers={**auth(token), **headers}
        ) as resp,
    ):
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        yield Events(resp)
