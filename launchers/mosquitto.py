"""A real Mosquitto broker on a free loopback port, for integration tests and benchmarks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Re-exported: tests and branches in flight import it from here.
from gridwatch.ports import free_port as free_port

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)


class MosquittoMissing(RuntimeError):
    pass


def require_mosquitto() -> str:
    """The broker binary; MosquittoMissing says how to install it."""
    if MOSQUITTO is None:
        raise MosquittoMissing("mosquitto is not installed (Debian: apt-get install mosquitto)")
    return MOSQUITTO


class Broker:
    """One mosquitto process with persistence under `workdir`; can be stopped and
    started again on the same port (the persistence file carries sessions over)."""

    def __init__(self, workdir: Path, extra_conf: str = "") -> None:
        self.binary = require_mosquitto()
        self.port = free_port()
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {workdir}/\n"
            # As deploy/mosquitto/mosquitto.conf: per-session queues with room, so a
            # readings backlog neither drops readings nor touches the alarm session.
            "max_queued_messages 100000\n"
            "max_queued_bytes 0\n"
            f"log_dest file {workdir}/mosquitto.log\n"
            # Started as root (CI), mosquitto would drop to its own user, which cannot
            # write into the test's private temporary folder.
            + ("user root\n" if os.geteuid() == 0 else "")
            + extra_conf
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    log = (self.workdir / "mosquitto.log").read_text(errors="replace")
                    raise RuntimeError(f"mosquitto exited: {log[-2000:]}") from None
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port} within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@contextmanager
def running_broker(workdir: Path, extra_conf: str = "") -> Iterator[Broker]:
    broker = Broker(workdir, extra_conf)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
