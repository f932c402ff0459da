"""app.server_run.run_server: what it sets up around uvicorn for the server's life."""

from __future__ import annotations

import gc
import socket
import sys
from typing import Any, cast

from app.server_run import GIL_SWITCH_INTERVAL_S, run_server


class SeeingServer:
    """Stands in for uvicorn.Server: notes the process state while it "serves"."""

    def __init__(self) -> None:
        self.frozen = 0
        self.switch = 0.0

    def run(self, sockets: list[socket.socket]) -> None:
        self.frozen = gc.get_freeze_count()
        self.switch = sys.getswitchinterval()


def test_the_server_runs_with_its_start_up_heap_frozen_and_a_short_gil_slice() -> None:
    # A full collection stops every thread, the alarm lane's too: what start built
    # (registry, stores, app) must not be walked by each one.
    before = sys.getswitchinterval()
    seen = SeeingServer()
    sock = socket.socket()
    try:
        run_server(cast(Any, seen), sock)
    finally:
        sock.close()
        gc.unfreeze()
        sys.setswitchinterval(before)
    assert seen.frozen > 0
    assert gc.get_freeze_count() == 0  # unfrozen for the stop: DuckDB reports leaks
    assert seen.switch == GIL_SWITCH_INTERVAL_S
