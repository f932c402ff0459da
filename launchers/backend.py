"""`gridwatch serve` as a real child process, for tests and benchmarks that kill and
restart it (one replica or several on a shared op store)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from gridwatch.ports import free_port

BOOTSTRAP = "gw-test-bootstrap-secret-0123456789"


class BackendProcess:
    def __init__(
        self, data_dir: Path, mqtt_url: str, config: str | None = None,
        ops_url: str | None = None, client_id: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.mqtt_url = mqtt_url
        self.config = config
        self.ops_url = ops_url  # a shared PostgreSQL (replicas); None: embedded
        self.client_id = client_id
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"backend-{self.port}.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        env = dict(os.environ, GRIDWATCH_BOOTSTRAP_TOKEN=BOOTSTRAP)
        cmd = [sys.executable, "-m", "app.cli", "serve", "--mqtt", self.mqtt_url,
               "--data-dir", str(self.data_dir), "--port", str(self.port)]
        if self.config:
            cmd += ["--config", self.config]
        if self.ops_url:
            cmd += ["--ops", self.ops_url]
        if self.client_id:
            cmd += ["--client-id", self.client_id]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gridwatch serve exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gridwatch serve not healthy within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no flush, as a crash or an OOM kill would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, token: str = BOOTSTRAP) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {token}"},
                            timeout=10)


@contextmanager
def running_backend(data_dir: Path, mqtt_url: str, config: str | None = None
                    ) -> Iterator[BackendProcess]:
    backend = BackendProcess(data_dir, mqtt_url, config)
    backend.start()
    try:
        yield backend
    finally:
        backend.stop()
