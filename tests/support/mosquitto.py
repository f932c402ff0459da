"""The broker fixture's helpers: skip without mosquitto, but fail under CI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from launchers.mosquitto import Broker, MosquittoMissing
from launchers.mosquitto import running_broker as _running_broker

__all__ = ["Broker", "running_broker"]


@contextmanager
def running_broker(workdir: Path, extra_conf: str = "") -> Iterator[Broker]:
    try:
        with _running_broker(workdir, extra_conf) as broker:
            yield broker
    except MosquittoMissing as exc:
        if os.environ.get("GRIDWATCH_REQUIRE_MOSQUITTO"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
