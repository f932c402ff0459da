"""The VictoriaMetrics fixture's helper: skip without the binary, but fail under CI
(GRIDWATCH_REQUIRE_VICTORIA, set by .ci/run, which installs it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from launchers.victoria import Victoria, VictoriaMissing

__all__ = ["Victoria", "running_victoria"]


@contextmanager
def running_victoria(workdir: Path) -> Iterator[Victoria]:
    try:
        server = Victoria(workdir)
    except VictoriaMissing as exc:
        if os.environ.get("GRIDWATCH_REQUIRE_VICTORIA"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    server.start()
    try:
        yield server
    finally:
        server.stop()
