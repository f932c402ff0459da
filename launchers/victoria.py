"""A real VictoriaMetrics on a free loopback port: a server that takes InfluxDB line
protocol on /api/v2/write, for the write-path tests and `gridwatch bench influx`.

It keeps every sample it is sent, duplicates included (no
deduplication flag), so an export shows a reading written twice as two samples.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx

from gridwatch.ports import free_port

VICTORIA = Path("/usr/bin/victoria-metrics")


class VictoriaMissing(RuntimeError):
    pass


class Victoria:
    """One server; `stop` then `start` again keeps its port and its data."""

    def __init__(self, workdir: Path) -> None:
        if not VICTORIA.exists():
            raise VictoriaMissing(
                f"{VICTORIA} is not installed (Debian: apt-get install victoria-metrics)"
            )
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def store_url(self, org: str = "street", bucket: str = "gridwatch") -> str:
        return f"influx+http://127.0.0.1:{self.port}/{org}/{bucket}"

    def start(self, timeout: float = 20.0) -> None:
        log = (self.workdir / "victoria.log").open("ab")
        self.proc = subprocess.Popen(
            [str(VICTORIA), f"-httpListenAddr=127.0.0.1:{self.port}",
             f"-storageDataPath={self.workdir / 'data'}", "-retentionPeriod=100y"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"victoria-metrics exited early: {self.log()}")
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"victoria-metrics not healthy within {timeout} s: {self.log()}")

    def stop(self) -> None:
        """SIGINT: VictoriaMetrics flushes what it holds in memory, then exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def log(self) -> str:
        return (self.workdir / "victoria.log").read_text(errors="replace")[-3000:]

    def export(self, match: str) -> list[dict[str, object]]:
        """Every raw sample of the series matching `match`, after making recent writes
        searchable (they are otherwise buffered for about a second)."""
        httpx.get(f"{self.base}/internal/force_flush", timeout=10).raise_for_status()
        resp = httpx.post(f"{self.base}/api/v1/export", data={"match[]": match}, timeout=30)
        resp.raise_for_status()
        return [json.loads(line) for line in resp.text.splitlines() if line.strip()]


